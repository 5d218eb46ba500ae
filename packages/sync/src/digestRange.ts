import { type ChunkRange, createDigester, type DigestAlgorithm } from "@chunksync/core";
import { type ObjectStore, PreconditionFailedError, StorageUnavailableError } from "@chunksync/storage";
import { ObjectChangedError } from "./errors.js";

/** Which side a store is, for error reports and byte counters. */
export type Side = "source" | "destination";

/**
 * Reads one pinned range and hashes it as the bytes arrive. A short body (a connection
 * cut mid-range) is a retryable failure, never a digest of the bytes that happened to come.
 */
export async function digestRange(
  store: ObjectStore,
  side: Side,
  key: string,
  etag: string,
  range: ChunkRange,
  algorithm: DigestAlgorithm,
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<Buffer> {
  const body = await pinnedRead(store, side, key, etag, range, signal);
  const digester = createDigester(algorithm);
  let received = 0;
  for await (const piece of body as AsyncIterable<Uint8Array>) {
    digester.update(piece);
    received += piece.length;
    onBytes(piece.length);
  }
  if (received !== range.length) {
    throw new StorageUnavailableError(
      { operation: "read", bucket: store.bucket, key },
      `body ended after ${received} of ${range.length} bytes of chunk ${range.index}`,
    );
  }
  return digester.digest();
}

/** A ranged read pinned to `etag`; a lost pin means the object changed under the run. */
export async function pinnedRead(
  store: ObjectStore,
  side: Side,
  key: string,
  etag: string,
  range: { offset: number; length: number },
  signal?: AbortSignal,
) {
  try {
    return await store.read(key, range, etag, signal);
  } catch (error) {
    if (error instanceof PreconditionFailedError) throw new ObjectChangedError(side, key, error);
    throw error;
  }
}
