import { createCipheriv, createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { ByteRange, ObjectHead, ObjectSummary } from "@chunksync/storage";
import { MemoryObjectStore, PreconditionFailedError } from "@chunksync/storage";

/** Bytes one body piece carries: about what an HTTP body hands over at a time. */
const PIECE = 64 * 1024;
const ZEROS = Buffer.alloc(PIECE + 16);

/**
 * A run of an object's bytes taken from a keystream: bytes `[at, at + length)` of the object
 * are bytes `[from, from + length)` of the AES-128-CTR keystream under `stream`.
 */
export interface Run {
  at: number;
  length: number;
  stream: Buffer;
  from: number;
}

/** The AES-128-CTR keystream under `key` at byte `offset`, `length` bytes (at most {@link PIECE}). */
function keystream(key: Buffer, offset: number, length: number): Buffer {
  const skip = offset % 16;
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(Math.floor(offset / 16)), 8);
  return createCipheriv("aes-128-ctr", key, iv)
    .update(ZEROS.subarray(0, skip + length))
    .subarray(skip);
}

/**
 * An object generated from keystreams, so any range of it is made on demand and no object is
 * ever held: the old object is one run, a new one the old runs with edits spliced in.
 */
export class ProceduralObject {
  readonly size: number;

  /** @param runs - ascending, adjacent, covering `[0, size)` */
  constructor(readonly runs: readonly Run[]) {
    const last = runs.at(-1);
    this.size = last ? last.at + last.length : 0;
  }

  /** The bytes of `range`, piece by piece (each at most 64 KiB). */
  *pieces(range: ByteRange): Generator<Buffer> {
    const end = range.offset + range.length;
    let at = range.offset;
    let r = this.#runAt(at);
    while (at < end) {
      const run = this.runs[r]!;
      const length = Math.min(PIECE, end - at, run.at + run.length - at);
      yield keystream(run.stream, run.from + (at - run.at), length);
      at += length;
      if (at === run.at + run.length) r++;
    }
  }

  /** SHA-256 of `range`, streamed. */
  sha256(range: ByteRange = { offset: 0, length: this.size }): Buffer {
    const hash = createHash("sha256");
    for (const piece of this.pieces(range)) hash.update(piece);
    return hash.digest();
  }

  /** Index of the run holding byte `at` (binary search: a paged object has a run per page). */
  #runAt(at: number): number {
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.runs[mid]!.at <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/**
 * A store holding procedural objects by key: heads and pinned, ranged reads as S3 serves them,
 * bodies made as they are read (with backpressure), so an object of any size costs no memory.
 */
export class ProceduralStore extends MemoryObjectStore {
  readonly #objects = new Map<string, { etag: string; object: ProceduralObject }>();

  constructor(bucket: string) {
    super({ bucket });
  }

  hold(key: string, etag: string, object: ProceduralObject): void {
    this.#objects.set(key, { etag, object });
  }

  override async *list(prefix: string): AsyncIterable<ObjectSummary> {
    for (const [key, { etag, object }] of [...this.#objects].sort(([a], [b]) => (a < b ? -1 : 1)))
      if (key.startsWith(prefix)) yield { key, size: object.size, etag, storageClass: "STANDARD" };
  }

  override async head(key: string): Promise<ObjectHead | undefined> {
    const o = this.#objects.get(key);
    return o && { key, size: o.object.size, etag: o.etag, archived: false, metadata: {} };
  }

  override async read(key: string, range: ByteRange, etag: string): Promise<Readable> {
    const o = this.#objects.get(key);
    if (o === undefined || o.etag !== etag)
      throw new PreconditionFailedError({ operation: "read", bucket: this.bucket, key }, "changed (412)");
    return Readable.from(o.object.pieces(range), { objectMode: false, highWaterMark: PIECE });
  }

  override async readFirst(key: string, length: number) {
    const head = await this.head(key);
    if (head === undefined) return undefined;
    return {
      head,
      body: await this.read(key, { offset: 0, length: Math.min(length, head.size) }, head.etag),
    };
  }
}
