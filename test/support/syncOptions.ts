import type { ObjectStore } from "@chunksync/storage";
import type { SyncOptions } from "@chunksync/sync";

/**
 * An engine's options as the benches and tests run it on stores of their own: the CLI's defaults
 * (8 MiB chunks, concurrency 8, `--verify changed`) between the roots of `source` and
 * `destination`, with `more` over them.
 */
export function syncOptionsFor(
  source: ObjectStore,
  destination: ObjectStore,
  secret: Buffer,
  more: Partial<SyncOptions> = {},
): SyncOptions {
  return {
    source,
    sourcePrefix: "",
    destination,
    destinationPrefix: "",
    secret,
    algorithm: "sha256",
    variant: "encode",
    chunkSize: 8 * 1024 * 1024,
    verify: "changed",
    concurrency: 8,
    serverSideCopy: false,
    copyTags: false,
    filters: [],
    delete: false,
    dryRun: false,
    ...more,
  };
}
