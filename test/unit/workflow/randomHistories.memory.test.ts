import { type ConditionalWrites, MemoryBuckets, MemoryObjectStore } from "@chunksync/storage";
import fc from "fast-check";
import { describe, it } from "vitest";
import { afterAnswers } from "../../support/afterAnswers.js";
import {
  forgetIndex,
  type HistoryWorld,
  histories,
  historySettings,
  runHistory,
} from "../../support/histories.js";
import { memoryIndexes, movableClock } from "../../support/indexes.js";

/**
 * Random histories (see `test/support/histories.ts`) on in-memory stores, whose clock the
 * history moves and which stage other writers in the middle of a run, before a request or just
 * after its answer. The histories are the same each run of the suite (a fixed seed);
 * `CHUNKSYNC_HISTORY_RUNS=500 CHUNKSYNC_HISTORY_SEED=random` explores new ones, and a failure
 * prints the seed and path that replay it.
 */

const secret = Buffer.alloc(32, 7);

/**
 * What Ceph RGW 16 enforces: If-None-Match on a put, nothing else (no If-Match on a put, a
 * completion or a copy, and a copy takes whatever version is current).
 */
const RGW_CONDITIONS: ConditionalWrites = {
  put: { ifNoneMatch: true, ifMatch: false },
  complete: { ifNoneMatch: false, ifMatch: false },
  copy: { ifNoneMatch: false, ifMatch: false },
  copySourceIfMatch: false,
};

/** The pair's prefixes where a history runs under them (keys elsewhere stay out of it). */
const PREFIXES = { source: "from/", destination: "to/deep/" };

function memoryWorld(
  versioned: boolean,
  server: "aws" | "rgw",
  layout: { prefixed: boolean; oneAccount: boolean },
): HistoryWorld {
  const time = movableClock();
  const account = layout.oneAccount ? new MemoryBuckets() : undefined;
  const spaces = { src: account ?? new MemoryBuckets(), dst: account ?? new MemoryBuckets() };
  const store = (bucket: "src" | "dst") =>
    new MemoryObjectStore({
      bucket,
      now: time.now,
      buckets: spaces[bucket],
      versioned,
      ...(bucket === "dst" && server === "rgw" ? { conditionalWrites: RGW_CONDITIONS } : {}),
    });
  // The runs go through stores of their own, where other writers are staged: the history's edits
  // and judgement reach the same buckets through others, so an edit's own requests never set off
  // what is staged for the run's.
  const staging = { source: afterAnswers(store("src")), destination: afterAnswers(store("dst")) };
  const runStores = { source: staging.source.store, destination: staging.destination.store };
  const source = store("src");
  const destination = store("dst");
  const { source: sourceIndex, destination: destinationIndex } = memoryIndexes(secret);
  const scoped = (side: typeof sourceIndex, prefix: string) =>
    layout.prefixed ? { ...side, scope: { ...side.scope, prefix } } : side;
  const index = {
    source: scoped(sourceIndex, PREFIXES.source),
    destination: scoped(destinationIndex, PREFIXES.destination),
  };
  return {
    source,
    destination,
    runStores,
    secret,
    index,
    pass: time.pass,
    forget: (side: "source" | "destination") => forgetIndex(index[side]),
    during: (side, operation, action, after) =>
      after === undefined
        ? runStores[side].beforeNext(operation, action)
        : staging[side].afterNext(operation, after.key, action, after.nth),
    heal: () => {
      staging.source.heal();
      staging.destination.heal();
    },
    ...(layout.prefixed ? { prefixes: PREFIXES } : {}),
    serverSideCopy: layout.oneAccount,
  };
}

describe("random histories of edits, other writers and runs under either engine, on in-memory stores", () => {
  for (const server of ["aws", "rgw"] as const)
    for (const versioned of [false, true])
      it(`a server that enforces ${server === "aws" ? "every condition (as AWS S3)" : "If-None-Match alone (as Ceph RGW 16)"}, ${versioned ? "buckets that keep versions" : "buckets without versions"}: every check and sync agrees with the buckets`, async () => {
        await fc.assert(
          fc.asyncProperty(
            histories({ midRun: true, after: true, length: { min: 6, max: 24 } }),
            fc.record({ prefixed: fc.boolean(), oneAccount: fc.boolean() }),
            (steps, layout) => runHistory(memoryWorld(versioned, server, layout), steps),
          ),
          historySettings(150),
        );
      }, 300_000);
});
