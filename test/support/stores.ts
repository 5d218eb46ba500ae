import { randomBytes } from "node:crypto";
import { type ObjectStore, S3Connection, S3ObjectStore } from "@chunksync/storage";
import { RunStats, runSync, type SyncOptions } from "@chunksync/sync";
import { type CollectedReport, collectResults } from "./results.js";
import { localS3 } from "./s3.js";

/** The engine's own store for one of the two users, as the CLI builds it. */
export async function storeFor(user: "source" | "destination", bucket: string): Promise<S3ObjectStore> {
  const s3 = localS3();
  const connection = await S3Connection.open({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: s3.users[user],
  });
  return new S3ObjectStore({ connection, bucket });
}

/**
 * runSync with the CLI's defaults, 5 MiB chunks (the smallest) to keep test data small; the
 * results it hands over are collected next to its report.
 */
export function syncWith(
  source: ObjectStore,
  destination: ObjectStore,
  overrides: Partial<SyncOptions> = {},
): Promise<CollectedReport> {
  return collectResults(runSync, {
    source,
    sourcePrefix: "",
    destination,
    destinationPrefix: "",
    secret: randomBytes(32),
    algorithm: "sha256",
    variant: "encode",
    chunkSize: 5 * 1024 * 1024,
    verify: "changed",
    concurrency: 4,
    serverSideCopy: false,
    copyTags: false,
    filters: [],
    delete: false,
    dryRun: false,
    stats: new RunStats(),
    ...overrides,
  });
}
