import { createCipheriv, createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { ByteRange, ObjectHead, ObjectSummary } from "@chunksync/storage";
import { MemoryObjectStore, PreconditionFailedError } from "@chunksync/storage";

/** Bytes one body piece carries: about what an HTTP body hands over at a time. */
const PIECE = 64 * 1024;
const ZEROS = Buffer.alloc(PIECE + 16);

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
 * ever held: the old object is one run, a new one the old runs with edits spliced in. A run
 * takes bytes `[from, from + length)` of the AES-128-CTR keystream under one of `streams`.
 * Runs are kept as arrays, not an object each: a paged object of 100 GiB has 300,000 runs,
 * and the process measured should not carry the fixture.
 */
export class ProceduralObject {
  size = 0;
  #count = 0;
  #at = new Float64Array(16);
  #from = new Float64Array(16);
  #stream = new Uint8Array(16);

  constructor(readonly streams: readonly Buffer[]) {}

  /** Appends `length` bytes of the keystream `streams[stream]` from its byte `from`. */
  add(length: number, stream: number, from: number): this {
    if (length <= 0) return this;
    if (this.#count === this.#at.length) {
      const n = 2 * this.#count;
      this.#at = grown(this.#at, new Float64Array(n));
      this.#from = grown(this.#from, new Float64Array(n));
      this.#stream = grown(this.#stream, new Uint8Array(n));
    }
    this.#at[this.#count] = this.size;
    this.#from[this.#count] = from;
    this.#stream[this.#count++] = stream;
    this.size += length;
    return this;
  }

  /** Bytes taken from `streams[stream]`. */
  bytesOf(stream: number): number {
    let n = 0;
    for (let r = 0; r < this.#count; r++) if (this.#stream[r] === stream) n += this.#end(r) - this.#at[r]!;
    return n;
  }

  /** The bytes of `range`, piece by piece (each at most 64 KiB). */
  *pieces(range: ByteRange): Generator<Buffer> {
    const end = range.offset + range.length;
    let at = range.offset;
    let r = this.#runAt(at);
    while (at < end) {
      const length = Math.min(PIECE, end - at, this.#end(r) - at);
      yield keystream(this.streams[this.#stream[r]!]!, this.#from[r]! + (at - this.#at[r]!), length);
      at += length;
      if (at === this.#end(r)) r++;
    }
  }

  /** SHA-256 of `range`, streamed. */
  sha256(range: ByteRange = { offset: 0, length: this.size }): Buffer {
    const hash = createHash("sha256");
    for (const piece of this.pieces(range)) hash.update(piece);
    return hash.digest();
  }

  #end(r: number): number {
    return r + 1 < this.#count ? this.#at[r + 1]! : this.size;
  }

  /** Index of the run holding byte `at` (binary search: a paged object has a run per page). */
  #runAt(at: number): number {
    let lo = 0;
    let hi = this.#count - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#at[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/** `to` holding `from`'s elements first. */
function grown<T extends Float64Array | Uint8Array>(from: T, to: T): T {
  to.set(from);
  return to;
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
