import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  DeleteObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
} from "@aws-sdk/client-s3";
import { pairingTag } from "@chunksync/core";
import type { StoreOperation } from "@chunksync/storage";
import { DirectoryIndexLocation, type SideIndexOptions } from "@chunksync/sync";
import fc from "fast-check";
import { afterAll, describe, it } from "vitest";
import { FaultProxy, type FaultRule, type SeenRequest } from "../support/faultProxy.js";
import { storeVia } from "../support/faultWorld.js";
import {
  forgetIndex,
  HISTORY_CHUNK,
  type HistoryWorld,
  histories,
  historySettings,
  runHistory,
} from "../support/histories.js";
import { localS3, s3Client, TestBuckets } from "../support/s3.js";
import { storeFor } from "../support/stores.js";

/**
 * Random histories (see `test/support/histories.ts`) against the local S3 server: its own
 * LastModified seconds, ETags, versions and conditions, where the in-memory stores only model
 * them. Time passes for real, so a history's runs meet entries of their version's own second
 * as the server stamps them. The runs reach the server through a proxy, which stages another
 * writer's edit just before a chosen kind of request, or just after the server answered it and
 * before the answer is relayed (the edit itself goes to the server directly). Fewer histories
 * than on memory stores; `CHUNKSYNC_HISTORY_RUNS` and `CHUNKSYNC_HISTORY_SEED=random` run more
 * and new ones.
 */

const secret = Buffer.alloc(32, 11);
const clients = { source: s3Client("source"), destination: s3Client("destination") };
const buckets = new TestBuckets();
let proxy: FaultProxy | undefined;
/** Rules staged so far, to name each one apart (see `during`). */
let stagedRules = 0;

afterAll(async () => {
  await proxy?.stop();
  await buckets.drop();
  clients.source.destroy();
  clients.destination.destroy();
});

/** The requests by which a store's operation reaches the server (both reads are ranged GETs). */
const REQUESTS: Partial<Record<StoreOperation, (r: SeenRequest) => boolean>> = {
  list: (r) => r.method === "GET" && /(^|&)(list-type=2|versions)(&|=|$)/.test(r.query),
  head: (r) => r.method === "HEAD",
  read: (r) => r.method === "GET" && r.headers.range !== undefined,
  readFirst: (r) => r.method === "GET" && r.headers.range !== undefined,
  put: (r) => r.method === "PUT" && r.query === "" && r.headers["x-amz-copy-source"] === undefined,
  createUpload: (r) => r.method === "POST" && /(^|&)uploads(=|&|$)/.test(r.query),
  uploadPart: (r) =>
    r.method === "PUT" && r.query.includes("partNumber=") && r.headers["x-amz-copy-source"] === undefined,
  copyPart: (r) =>
    r.method === "PUT" && r.query.includes("partNumber=") && r.headers["x-amz-copy-source"] !== undefined,
  complete: (r) => r.method === "POST" && r.query.includes("uploadId="),
};

async function serverWorld(versioned: boolean): Promise<HistoryWorld> {
  proxy ??= await FaultProxy.start({ upstream: localS3().endpoint });
  const via = proxy;
  const rules: FaultRule[] = [];
  const made = {
    source: await buckets.make(clients.source, "src-history"),
    destination: await buckets.make(clients.destination, "dst-history"),
  };
  if (versioned)
    for (const side of ["source", "destination"] as const)
      await clients[side].send(
        new PutBucketVersioningCommand({
          Bucket: made[side],
          VersioningConfiguration: { Status: "Enabled" },
        }),
      );
  const dir = mkdtempSync(join(tmpdir(), "history-index-"));
  const index = (side: "source" | "destination"): SideIndexOptions => ({
    location: new DirectoryIndexLocation(join(dir, side)),
    scope: {
      storage: "local-s3",
      bucket: made[side],
      prefix: "",
      chunkSize: HISTORY_CHUNK,
      algorithm: "sha256",
      pairing: pairingTag(secret),
    },
    consult: true,
  });
  const indexes = { source: index("source"), destination: index("destination") };
  via.setRules(rules);
  return {
    source: await storeFor("source", made.source),
    destination: await storeFor("destination", made.destination),
    runStores: {
      source: await storeVia("source", made.source, via.url),
      destination: await storeVia("destination", made.destination, via.url),
    },
    during: (side, operation, action, after) => {
      const request = REQUESTS[operation];
      if (request === undefined) return;
      const bucket = `/${made[side]}`;
      rules.push({
        // A name of its own: the proxy counts what fired by name for as long as it runs, so a
        // rule named as one that fired in an earlier run (or history) would never fire.
        name: `${side} ${operation} #${++stagedRules}`,
        // After: the server answered a request of that key, and the run sees the answer once the
        // writer is done.
        action: after === undefined ? "hook" : "hold",
        times: 1,
        // After the nth answer of a request of that key.
        everyNth: after?.nth ?? 1,
        when: (r) =>
          (after === undefined
            ? r.path === bucket || r.path.startsWith(`${bucket}/`)
            : r.path === `${bucket}/${after.key}`) && request(r),
        hook: action,
      });
    },
    heal: () => {
      rules.length = 0;
    },
    secret,
    index: indexes,
    pass: (ms: number) => sleep(ms),
    forget: (side: "source" | "destination") => forgetIndex(indexes[side]),
    undo: async (side: "source" | "destination", key: string) => {
      const client = clients[side];
      const listed = await client.send(new ListObjectVersionsCommand({ Bucket: made[side], Prefix: key }));
      const newest = [...(listed.Versions ?? []), ...(listed.DeleteMarkers ?? [])].find(
        (v) => v.Key === key && v.IsLatest,
      );
      if (newest?.VersionId)
        await client.send(
          new DeleteObjectCommand({ Bucket: made[side], Key: key, VersionId: newest.VersionId }),
        );
    },
  };
}

describe("random histories of edits, other writers and runs under either engine, on the local S3 server", () => {
  for (const versioned of [false, true])
    it(`${versioned ? "buckets that keep versions" : "buckets without versions"}: every check and sync agrees with the buckets`, async () => {
      await fc.assert(
        fc.asyncProperty(
          histories({ midRun: true, after: true, undo: versioned, length: { min: 6, max: 16 } }),
          async (steps) => runHistory(await serverWorld(versioned), steps),
        ),
        historySettings(4),
      );
    }, 600_000);
});
