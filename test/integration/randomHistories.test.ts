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
import { DirectoryIndexLocation, type SideIndexOptions } from "@chunksync/sync";
import fc from "fast-check";
import { afterAll, describe, it } from "vitest";
import { forgetIndex, HISTORY_CHUNK, histories, historySettings, runHistory } from "../support/histories.js";
import { s3Client, TestBuckets } from "../support/s3.js";
import { storeFor } from "../support/stores.js";

/**
 * Random histories (see `test/support/histories.ts`) against the local S3 server: its own
 * LastModified seconds, ETags, versions and conditions, where the in-memory stores only model
 * them. Time passes for real, so a history's runs meet entries of their version's own second
 * as the server stamps them. Fewer histories than on memory stores, and no writer in the
 * middle of a run (the server cannot stage one); `CHUNKSYNC_HISTORY_RUNS` and
 * `CHUNKSYNC_HISTORY_SEED=random` run more and new ones.
 */

const secret = Buffer.alloc(32, 11);
const clients = { source: s3Client("source"), destination: s3Client("destination") };
const buckets = new TestBuckets();

afterAll(async () => {
  await buckets.drop();
  clients.source.destroy();
  clients.destination.destroy();
});

async function serverWorld(versioned: boolean) {
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
  return {
    source: await storeFor("source", made.source),
    destination: await storeFor("destination", made.destination),
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
          histories({ midRun: false, undo: versioned, length: { min: 6, max: 16 } }),
          async (steps) => runHistory(await serverWorld(versioned), steps),
        ),
        historySettings(4),
      );
    }, 600_000);
});
