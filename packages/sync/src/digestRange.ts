import type { Readable } from "node:stream";
import {
  BodyDigestError,
  type ChunkRange,
  ChunksyncError,
  collectDigested,
  createDigester,
  type DigestAlgorithm,
} from "@chunksync/core";
import {
  type BodySink,
  type ObjectHead,
  type ObjectReader,
  pour,
  StorageUnavailableError,
} from "@chunksync/storage";
import { changedUnderRun } from "./errors.js";
import { isTransient } from "./retry.js";

/** Which side a store is, for error reports and byte counters. */
export type Side = "source" | "destination";

/**
 * Reads one pinned range and hashes it as the bytes arrive, each piece passed to `onPiece`
 * once hashed. A short body (a connection cut mid-range) is a retryable failure, never a
 * digest of the bytes that happened to come.
 */
export async function digestRange(
  store: ObjectReader,
  side: Side,
  key: string,
  etag: string,
  range: ChunkRange,
  algorithm: DigestAlgorithm,
  onPiece: (piece: Uint8Array) => void,
  signal?: AbortSignal,
  into?: Buffer,
): Promise<Buffer> {
  const hashed = hashing(algorithm, onPiece);
  await readRange(
    store,
    side,
    key,
    etag,
    range,
    { into, piece: hashed.piece },
    `chunk ${range.index}`,
    signal,
  );
  return hashed.digest();
}

/** A digest of the pieces handed to `piece`, each then passed on to `onPiece`. */
function hashing(algorithm: DigestAlgorithm, onPiece: (piece: Uint8Array) => void) {
  const digester = createDigester(algorithm);
  return {
    piece: (bytes: Uint8Array) => {
      digester.update(bytes);
      onPiece(bytes);
    },
    digest: () => digester.digest(),
  };
}

/** A read of `length` bytes of `key` that ended after `landed`: retryable, naming `what` was being read. */
function endedShort(bucket: string, key: string, landed: number, length: number, what: string) {
  return new StorageUnavailableError(
    { operation: "read", bucket, key },
    `body ended after ${landed} of ${length} bytes of ${what}`,
  );
}

/**
 * Reads one pinned range into `sink` (see `ObjectReader.readInto`: its pieces are views valid
 * only while `piece` runs, unless they land in `sink.into`). A lost pin means the object
 * changed under the run; a body that breaks or ends short is a retryable failure naming
 * `what` was being read, never a result of the bytes that happened to come.
 */
export async function readRange(
  store: ObjectReader,
  side: Side,
  key: string,
  etag: string,
  range: { offset: number; length: number },
  sink: BodySink,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  let landed: number;
  try {
    landed = await store.readInto(key, range, etag, sink, signal);
  } catch (error) {
    const changed = changedUnderRun(side, key, error);
    throw changed === error ? brokenRead(store.bucket, key, error) : changed;
  }
  if (landed !== range.length) throw endedShort(store.bucket, key, landed, range.length, what);
}

/**
 * Reads the head of the current version of `key` and the digest of its first `length`
 * bytes (fewer when it is shorter) in one request, landing them in `into` where given (see
 * {@link readRange}). Undefined when `key` does not exist.
 */
export async function digestFirst(
  store: ObjectReader,
  key: string,
  length: number,
  algorithm: DigestAlgorithm,
  onPiece: (piece: Uint8Array) => void,
  signal?: AbortSignal,
  into?: Buffer,
): Promise<{ head: ObjectHead; length: number; digest: Buffer } | undefined> {
  const hashed = hashing(algorithm, onPiece);
  let got: Awaited<ReturnType<ObjectReader["readFirstInto"]>>;
  try {
    got = await store.readFirstInto(key, length, { into, piece: hashed.piece }, signal);
  } catch (error) {
    throw brokenRead(store.bucket, key, error);
  }
  if (got === undefined) return undefined;
  const expected = Math.min(length, got.head.size);
  if (got.landed !== expected) throw endedShort(store.bucket, key, got.landed, expected, "chunk 0");
  return { head: got.head, length: expected, digest: hashed.digest() };
}

/**
 * Pours `body` (exactly `length` bytes of `key`) into `sink` as it arrives (see `pour`). A
 * body that breaks, ends short or overflows `sink.into` is a retryable failure naming `what`
 * was being read, never a result of the bytes that happened to come.
 */
export async function feedBody(
  bucket: string,
  key: string,
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  length: number,
  what: string,
  sink: BodySink,
): Promise<void> {
  let landed: number;
  try {
    landed = await pour(body, sink);
  } catch (error) {
    throw brokenRead(bucket, key, error);
  }
  if (landed !== length) throw endedShort(bucket, key, landed, length, what);
}

/**
 * Reads `body` (exactly `length` bytes of `key`) into one Buffer with its MD5 and chunk
 * digest (see collectDigested). A body that breaks or ends short is a retryable failure
 * naming the object, never a part sent from the bytes that happened to come.
 */
export async function collectRead(
  bucket: string,
  key: string,
  body: Readable,
  length: number,
  algorithm?: DigestAlgorithm,
  into?: Buffer,
  md5 = true,
): ReturnType<typeof collectDigested> {
  try {
    return await collectDigested(body, length, algorithm, into, md5);
  } catch (error) {
    body.destroy();
    throw failedRead(bucket, key, error);
  }
}

/**
 * A body that was not the length announced, or broke mid-way, as a retryable typed error
 * naming the object (see {@link brokenRead}).
 */
export function failedRead(bucket: string, key: string, error: unknown): unknown {
  if (error instanceof BodyDigestError) {
    return new StorageUnavailableError({ operation: "read", bucket, key }, error.message, error);
  }
  return brokenRead(bucket, key, error);
}

/**
 * A read body that failed mid-way, as a typed error naming the object: the raw stream
 * error ("aborted", code ECONNRESET) says neither what was read nor from where.
 */
export function brokenRead(bucket: string, key: string, error: unknown): unknown {
  if (error instanceof ChunksyncError || !isTransient(error)) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new StorageUnavailableError(
    { operation: "read", bucket, key },
    `the connection broke mid-body (${detail})`,
    error,
  );
}
