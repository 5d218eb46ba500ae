import { rm } from "node:fs/promises";
import {
  ObjectNotFoundError,
  type ObjectStore,
  PreconditionFailedError,
  type StoreOperation,
} from "@chunksync/storage";
import {
  DirectoryIndexLocation,
  RunAbortedError,
  runSync,
  type SideIndexOptions,
  type SyncOptions,
} from "@chunksync/sync";
import { syncWithWorkflow } from "@chunksync/workflow";
import fc from "fast-check";
import { expect } from "vitest";
import { seededBytes } from "./data.js";
import { collectResults } from "./results.js";
import { bytesOf } from "./stores.js";
import { syncOptionsFor } from "./syncOptions.js";

/**
 * Random histories of edits, other writers (between runs and, on stores that can stage them, in
 * the middle of one), passing time, checks and syncs of either engine over one pair of buckets
 * and their digest indexes, each run checked against the buckets themselves:
 * - a check says "identical" exactly where both hold the same bytes and attributes, and never
 *   proposes to restate only the attributes, or nothing, of an object whose bytes differ;
 * - after a sync the destination holds every source object's bytes and attributes, and keeps
 *   the others unless `--delete` was given; only a key another writer changed while it ran may
 *   fail, and only as changed under the run; a check right after such a sync is as exact.
 * Time moves by nothing, by less than a second or by more between steps, and in the middle of a
 * run, so that entries read or written within their version's second (which a same-second
 * rewrite could undo unseen) are met as often as standing ones.
 */

const MiB = 1024 * 1024;
/** The chunk size of every history's runs and indexes: S3's smallest part. */
export const HISTORY_CHUNK = 5 * MiB;
const KEYS = ["a", "b"] as const;
type Key = (typeof KEYS)[number];
type Engine = "direct" | "workflow";

/** Sizes around the chunk grid: empty, small, a chunk's edges, several chunks. */
const SIZES = [
  0,
  1,
  4097,
  HISTORY_CHUNK - 1,
  HISTORY_CHUNK,
  HISTORY_CHUNK + 1,
  2 * HISTORY_CHUNK + 3,
  12 * MiB,
];

type Edit =
  | { kind: "new"; size: number; seed: number }
  | { kind: "flip"; at: number }
  | { kind: "insert"; at: number; length: number; seed: number }
  | { kind: "cut"; at: number; length: number }
  | { kind: "append"; length: number; seed: number }
  | { kind: "same" }
  | { kind: "meta"; value: number }
  | { kind: "tags"; value: number }
  | { kind: "delete" };

/**
 * Another writer's edit on `side`, just before the next sync's next call of `operation`, or
 * (`after`) just after the answer of its `nth` call of `operation` on the edited key, before the
 * run sees it (the second: between the reads of an object's first two chunks, say); then `pause`
 * ms pass before the run goes on (a run slow to take its next step, so what it does next falls in
 * a later second).
 */
type MidRun = {
  kind: "during";
  side: "source" | "destination";
  operation: StoreOperation;
  key: Key;
  edit: Edit;
  when: "before" | "after";
  nth: number;
  pause: number;
};
/** The next sync stopped (Ctrl-C) just before its next call of `operation` on `side`. */
type Stop = { kind: "stop"; side: "source" | "destination"; operation: StoreOperation };
/**
 * `ms` pass just before the next sync's next call of `operation` on `side`: a run whose reads,
 * HEADs and writes fall on either side of a second boundary, as a long run's do.
 */
type Tick = { kind: "tick"; side: "source" | "destination"; operation: StoreOperation; ms: number };

export type Step =
  | { kind: "source"; key: Key; edit: Edit }
  | { kind: "other"; key: Key; edit: Edit }
  | MidRun
  | Stop
  | Tick
  | { kind: "pass"; ms: number }
  /** The run moves to a machine without either side's index (or one is lost). */
  | { kind: "forget"; side: "source" | "destination" }
  /** The newest version of `key` (or its delete marker) deleted: the one before is current again. */
  | { kind: "undo"; side: "source" | "destination"; key: Key }
  | {
      kind: "sync";
      engine: Engine;
      delete: boolean;
      blocks: boolean;
      variant: "encode" | "decode";
      copyTags: boolean;
      verify: "changed" | "full";
      /** False: `--no-index`, neither side's index read or written. */
      indexed: boolean;
      /** Another sync of the pair at the same time, by this engine, with the same options. */
      alongside?: Engine | undefined;
    }
  /** `full`: `check --full`, each side's entries rebuilt from what it reads, not consulted. */
  | { kind: "check"; copyTags: boolean; full: boolean };

const key = fc.constantFrom(...KEYS);
/** Offsets and lengths as fractions of the object, so that any size takes them. */
const fraction = fc.double({ min: 0, max: 1, noNaN: true });
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant("new" as const), size: fc.constantFrom(...SIZES), seed: fc.nat() }),
  fc.record({ kind: fc.constant("flip" as const), at: fraction }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fraction,
    length: fc.constantFrom(1, 1400, 70_000),
    seed: fc.nat(),
  }),
  fc.record({ kind: fc.constant("cut" as const), at: fraction, length: fc.constantFrom(1, 4096, MiB) }),
  fc.record({ kind: fc.constant("append" as const), length: fc.constantFrom(1, MiB), seed: fc.nat() }),
  // Writes that keep the ETag (the same bytes, other attributes) are what a listing cannot tell.
  { weight: 2, arbitrary: fc.constant({ kind: "same" as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("meta" as const), value: fc.nat(3) }) },
  fc.record({ kind: fc.constant("tags" as const), value: fc.nat(3) }),
  fc.constant({ kind: "delete" as const }),
);
const side = fc.constantFrom<"source" | "destination">("source", "destination");
const operation = fc.constantFrom<StoreOperation>(
  "list",
  "head",
  "read",
  "readFirst",
  "put",
  "createUpload",
  "uploadPart",
  "copyPart",
  "complete",
);
/** Other writers' edits in the middle of a run; `after` answers too, on stores that can stage them there. */
const midRun = (after: boolean): fc.Arbitrary<MidRun> =>
  fc.record({
    kind: fc.constant("during" as const),
    side,
    operation,
    key,
    edit,
    when: after ? fc.constantFrom<"before" | "after">("before", "after") : fc.constant("before" as const),
    nth: after ? fc.constantFrom(1, 1, 2) : fc.constant(1),
    pause: after ? fc.constantFrom(0, 0, 1000) : fc.constant(0),
  });
const stop: fc.Arbitrary<Stop> = fc.record({ kind: fc.constant("stop" as const), side, operation });
const tick: fc.Arbitrary<Tick> = fc.record({
  kind: fc.constant("tick" as const),
  side,
  operation,
  ms: fc.constantFrom(400, 1000),
});

/**
 * Histories of `length` steps; with `midRun`, other writers that act while a sync runs (with
 * `after`, also just after a request's answer); with `undo`, newest versions deleted (buckets
 * that keep versions).
 */
export function histories(options: {
  midRun: boolean;
  after?: boolean;
  undo?: boolean;
  length: { min: number; max: number };
}) {
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant("source" as const), key, edit }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("other" as const), key, edit }) },
    // Mostly within a second: entries of their version's own second are where a rewrite hides.
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant("pass" as const),
        ms: fc.constantFrom(0, 0, 400, 400, 1000, 2500),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("sync" as const),
        engine: fc.constantFrom<Engine>("direct", "workflow"),
        delete: fc.boolean(),
        blocks: fc.boolean(),
        variant: fc.constantFrom<"encode" | "decode">("encode", "decode"),
        copyTags: fc.boolean(),
        verify: fc.constantFrom<"changed" | "full">("changed", "changed", "changed", "full"),
        indexed: fc.constantFrom(true, true, true, true, false),
        alongside: fc.constantFrom<Engine | undefined>(
          undefined,
          undefined,
          undefined,
          undefined,
          "direct",
          "workflow",
        ),
      }),
    },
    // `check` and `plan` are the direct engine's: the workflow's steps write, so it has no dry run.
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant("check" as const),
        copyTags: fc.boolean(),
        full: fc.constantFrom(false, false, false, true),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("forget" as const),
        side: fc.constantFrom<"source" | "destination">("source", "destination"),
      }),
    },
    { weight: options.midRun ? 2 : 0, arbitrary: midRun(options.after ?? false) },
    { weight: options.midRun ? 1 : 0, arbitrary: stop },
    { weight: options.midRun ? 1 : 0, arbitrary: tick },
    {
      weight: options.undo ? 2 : 0,
      arbitrary: fc.record({
        kind: fc.constant("undo" as const),
        side: fc.constantFrom<"source" | "destination">("source", "destination"),
        key,
      }),
    },
  );
  return fc.array(step, { minLength: options.length.min, maxLength: options.length.max });
}

/** What `edit` makes of an object's bytes and metadata (undefined: it is deleted). */
function edited(
  old: { data: Buffer; metadata: Record<string, string> } | undefined,
  edit: Edit,
): { data: Buffer; metadata: Record<string, string> } | undefined {
  const data = old?.data ?? Buffer.alloc(0);
  const metadata = old?.metadata ?? {};
  const at = (f: number) => Math.min(data.length, Math.floor(f * data.length));
  switch (edit.kind) {
    case "new":
      return { data: seededBytes(`new ${edit.seed}`, edit.size), metadata: {} };
    case "flip": {
      if (data.length === 0) return { data: Buffer.from([1]), metadata };
      const copy = Buffer.from(data);
      const i = Math.min(data.length - 1, at(edit.at));
      copy[i] = copy[i]! ^ 0x5a;
      return { data: copy, metadata };
    }
    case "insert": {
      const i = at(edit.at);
      const added = seededBytes(`insert ${edit.seed}`, edit.length);
      return { data: Buffer.concat([data.subarray(0, i), added, data.subarray(i)]), metadata };
    }
    case "cut": {
      const i = at(edit.at);
      return { data: Buffer.concat([data.subarray(0, i), data.subarray(i + edit.length)]), metadata };
    }
    case "append":
      return { data: Buffer.concat([data, seededBytes(`append ${edit.seed}`, edit.length)]), metadata };
    case "same":
    case "tags":
      return { data, metadata };
    case "meta":
      return { data, metadata: { ...metadata, m: String(edit.value) } };
    case "delete":
      return undefined;
  }
}

async function current(store: ObjectStore, k: string) {
  const head = await store.head(k);
  return head && { data: await bytesOf(store, k), metadata: head.metadata, tags: await store.tagging(k) };
}

/**
 * Edits `k` as `edit` says. A tag set put on the current version keeps its bytes, ETag and
 * LastModified; a write drops it. An object a run deletes or replaces while this reads it is
 * left as the run left it.
 */
async function apply(store: ObjectStore, k: string, edit: Edit): Promise<void> {
  let now: Awaited<ReturnType<typeof current>>;
  try {
    now = await current(store, k);
    if (edit.kind === "tags") {
      const head = await store.head(k);
      if (head) await store.putTagging(store.ref(k, head.etag, head.versionId), `t=${edit.value}`);
      return;
    }
  } catch (error) {
    if (error instanceof ObjectNotFoundError || error instanceof PreconditionFailedError) return;
    throw error;
  }
  const next = edited(now, edit);
  if (next === undefined) await store.delete(k);
  else await store.put(k, next.data, next.data.length, { metadata: next.metadata }, undefined);
}

const sameMetadata = (a: Record<string, string>, b: Record<string, string>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/** What a run may report of a key another writer changed while it ran. */
const RACED = ["SOURCE_CHANGED", "DESTINATION_CHANGED"];
/** What a run stopped part way may report of a key it had not settled. */
const STOPPED = [...RACED, "RUN_ABORTED"];

/** The buckets, indexes and clock a history runs in. */
export interface HistoryWorld {
  /** Each side's store, as the history's own edits and judgement reach it. */
  source: ObjectStore;
  destination: ObjectStore;
  /** The stores the runs use, where they are others (through a proxy that stages writers). */
  runStores?: { source: ObjectStore; destination: ObjectStore };
  secret: Buffer;
  index: { source: SideIndexOptions; destination: SideIndexOptions };
  /** Lets `ms` pass on both servers' clocks. */
  pass(ms: number): void | Promise<void>;
  /** Loses `side`'s index, as a run on another machine has none. */
  forget(side: "source" | "destination"): Promise<void>;
  /** Deletes the newest version of `key` on `side` (stores that keep old versions). */
  undo?(side: "source" | "destination", key: string): Promise<void>;
  /**
   * Stages `action` just before the next call of `operation` on `side` (stores that can), or,
   * given `after`, just after the answer of its `nth` call of `operation` on that `key`, before
   * the run sees it (stores that can stage that too).
   */
  during?(
    side: "source" | "destination",
    operation: StoreOperation,
    action: () => Promise<void>,
    after?: { key: string; nth: number },
  ): void;
  /** Drops what `during` staged and no run met. */
  heal?(): void;
  /**
   * Where the pair's keys live on each side (the indexes' scopes say the same); an object
   * outside them on either side, put there first, is never reported and never written.
   */
  prefixes?: { source: string; destination: string };
  /** Both buckets in one account: source bytes are copied server-side (`--server-side-copy`). */
  serverSideCopy?: boolean;
}

/** The object each prefixed history keeps outside both prefixes. */
const OUTSIDE = "outside";

/** Runs `steps` in `world`, checking every check and sync against the buckets (see above). */
export async function runHistory(world: HistoryWorld, steps: readonly Step[]): Promise<void> {
  const { source, destination, secret, index } = world;
  const prefixes = world.prefixes ?? { source: "", destination: "" };
  const srcKey = (k: string) => prefixes.source + k;
  const dstKey = (k: string) => prefixes.destination + k;
  const outside = world.prefixes && seededBytes("outside", 4097);
  if (outside)
    for (const store of [source, destination])
      await store.put(OUTSIDE, outside, outside.length, { metadata: {} }, undefined);
  /** Nothing outside the prefixes was reported or written. */
  const untouched = async (at: string, results: readonly { destinationKey: string }[]) => {
    if (!outside) return;
    expect(
      results.map((r) => r.destinationKey).filter((k) => !k.startsWith(prefixes.destination)),
      at,
    ).toEqual([]);
    expect((await current(destination, OUTSIDE))?.data.equals(outside), `${at}: ${OUTSIDE}`).toBe(true);
  };
  const run = (engineName: Engine, more: Partial<SyncOptions>, indexed = true, consult = true) =>
    collectResults(
      engineName === "direct" ? runSync : syncWithWorkflow,
      syncOptionsFor(world.runStores?.source ?? source, world.runStores?.destination ?? destination, secret, {
        chunkSize: HISTORY_CHUNK,
        concurrency: 3,
        sourcePrefix: prefixes.source,
        destinationPrefix: prefixes.destination,
        serverSideCopy: world.serverSideCopy ?? false,
        ...(indexed
          ? {
              index: {
                source: { ...index.source, consult },
                destination: { ...index.destination, consult },
              },
            }
          : {}),
        ...more,
      }),
    );
  /** A check (a dry run, from both indexes unless `full`) says of each key what the buckets hold. */
  const check = async (at: string, copyTags: boolean, full = false) => {
    const report = await run("direct", { dryRun: true, copyTags }, true, !full);
    await untouched(at, report.results);
    for (const k of KEYS) {
      const [src, dst] = [await current(source, srcKey(k)), await current(destination, dstKey(k))];
      const result = report.results.find((r) => r.destinationKey === dstKey(k));
      if (src === undefined) {
        expect(result?.state, `${at}: ${k}`).toBe(dst === undefined ? undefined : "extra");
        continue;
      }
      if (dst === undefined) {
        expect(result?.state, `${at}: ${k}`).toBe("missing");
        continue;
      }
      const sameBytes = src.data.equals(dst.data);
      const alike =
        sameBytes && sameMetadata(src.metadata, dst.metadata) && (!copyTags || src.tags === dst.tags);
      expect(result?.state, `${at}: ${k}`).toBe(alike ? "identical" : "changed");
      // Bytes that differ are never left as they are, or given new attributes only.
      if (!sameBytes) expect(["copy", "compose"], `${at}: ${k}`).toContain(result?.action);
    }
  };
  /** Other writers' edits for the next sync to meet, each just before a call of its operation or after its answer. */
  const staged: MidRun[] = [];
  /** Where the next sync is stopped. */
  const stops: Stop[] = [];
  /** Where time passes in the middle of the next sync. */
  const ticks: Tick[] = [];
  for (const [n, s] of steps.entries()) {
    const at = `step ${n} (${JSON.stringify(s)})`;
    if (s.kind === "source") await apply(source, srcKey(s.key), s.edit);
    else if (s.kind === "other") await apply(destination, dstKey(s.key), s.edit);
    else if (s.kind === "during") staged.push(s);
    else if (s.kind === "stop") stops.push(s);
    else if (s.kind === "tick") ticks.push(s);
    else if (s.kind === "pass") await world.pass(s.ms);
    else if (s.kind === "forget") await world.forget(s.side);
    else if (s.kind === "undo") await world.undo?.(s.side, (s.side === "source" ? srcKey : dstKey)(s.key));
    else if (s.kind === "check") await check(at, s.copyTags, s.full);
    else {
      const before = new Map<Key, Awaited<ReturnType<typeof current>>>();
      for (const k of KEYS) before.set(k, await current(destination, dstKey(k)));
      // Keys another writer staged in the middle of the run touches.
      const raced = new Set<string>(staged.map((d) => dstKey(d.key)));
      for (const d of staged.splice(0)) {
        const [side, key] = d.side === "source" ? [source, srcKey(d.key)] : [destination, dstKey(d.key)];
        world.during?.(
          d.side,
          d.operation,
          async () => {
            await apply(side, key, d.edit).catch((error: unknown) => {
              throw new Error(`the other writer of ${JSON.stringify(d)} failed`, { cause: error });
            });
            if (d.pause > 0) await world.pass(d.pause);
          },
          d.when === "after" ? { key, nth: d.nth } : undefined,
        );
      }
      const stopper = new AbortController();
      for (const d of stops.splice(0)) world.during?.(d.side, d.operation, async () => stopper.abort());
      for (const d of ticks.splice(0)) world.during?.(d.side, d.operation, async () => world.pass(d.ms));
      const { kind: _, engine: name, indexed, alongside, ...more } = s;
      // Two runs at once are each other's other writer, on every key, and share the indexes.
      const outcomes = await Promise.allSettled(
        [name, ...(alongside ? [alongside] : [])].map((engine) =>
          run(engine, { ...more, signal: stopper.signal }, indexed),
        ),
      );
      // A writer the run did not meet is gone with it: a check is a run of its own.
      world.heal?.();
      const stopped = stopper.signal.aborted;
      const failed = new Set<string>();
      for (const outcome of outcomes) {
        if (outcome.status === "rejected") {
          // Only a stopped run ends without its report, and it says so.
          if (!stopped || !(outcome.reason instanceof RunAbortedError)) throw outcome.reason;
          continue;
        }
        await untouched(at, outcome.value.results);
        for (const r of outcome.value.results.filter((r) => r.state === "failed")) {
          const why = `${at}: ${r.destinationKey} ${r.error?.message}`;
          expect(stopped || alongside !== undefined || raced.has(r.destinationKey), why).toBe(true);
          expect(stopped ? STOPPED : RACED, why).toContain(r.error?.code);
          failed.add(r.destinationKey);
        }
      }
      if (stopped) {
        // Stopped part way: every object old or new, never a mix, and no upload left behind.
        for (const k of KEYS) {
          if (raced.has(dstKey(k))) continue;
          const [src, dst] = [await current(source, srcKey(k)), await current(destination, dstKey(k))];
          const old = before.get(k);
          const asBefore =
            dst === undefined ? old === undefined : old !== undefined && dst.data.equals(old.data);
          const asSource =
            src === undefined ? dst === undefined && s.delete : dst?.data.equals(src.data) === true;
          expect(asBefore || asSource, `${at}, stopped: ${k} is neither its old bytes nor the source's`).toBe(
            true,
          );
        }
        const left: string[] = [];
        for await (const upload of destination.listUploads(prefixes.destination)) left.push(upload.key);
        expect(left, `${at}, stopped: uploads left`).toEqual([]);
        await check(`${at}, the check after it was stopped`, s.copyTags);
        continue;
      }
      for (const k of KEYS) {
        // What another writer touched, or a run failed, the check below judges.
        if (raced.has(dstKey(k)) || failed.has(dstKey(k))) continue;
        const [src, dst] = [await current(source, srcKey(k)), await current(destination, dstKey(k))];
        if (src === undefined) {
          // A key only the destination holds is deleted with --delete, else kept as it was.
          if (s.delete) expect(dst, `${at}: ${k}`).toBeUndefined();
          else
            expect(dst?.data.equals(before.get(k)?.data ?? Buffer.alloc(0)) ?? true, `${at}: ${k}`).toBe(
              true,
            );
          continue;
        }
        expect(dst?.data.equals(src.data), `${at}: ${k} bytes`).toBe(true);
        expect(sameMetadata(src.metadata, dst!.metadata), `${at}: ${k} metadata`).toBe(true);
        if (s.copyTags) expect(dst!.tags, `${at}: ${k} tags`).toBe(src.tags);
      }
      // Whatever another writer did meanwhile, what the run kept in the indexes tells no lie.
      if (raced.size > 0 || alongside) await check(`${at}, the check after it`, s.copyTags);
    }
  }
}

/** Removes a directory index whole, as a machine that never ran the pair has none. */
export async function forgetIndex(side: SideIndexOptions): Promise<void> {
  if (!(side.location instanceof DirectoryIndexLocation))
    throw new Error("histories keep their indexes in directories");
  await rm(side.location.directory, { recursive: true, force: true });
}

/** A history's fast-check settings: a fixed seed unless `CHUNKSYNC_HISTORY_SEED=random`. */
export function historySettings(defaultRuns: number): { numRuns: number; seed?: number } {
  const runs = Number(process.env.CHUNKSYNC_HISTORY_RUNS ?? defaultRuns);
  const seeded = process.env.CHUNKSYNC_HISTORY_SEED ?? "20261207";
  return seeded === "random" ? { numRuns: runs } : { numRuns: runs, seed: Number(seeded) };
}
