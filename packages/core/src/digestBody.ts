import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import type { ChunkRange } from "./chunkPlan.js";
import { createDigester, type DigestAlgorithm, type Digester } from "./digest.js";
import { ChunksyncError } from "./errors.js";

/** What a writer knows of a body it has passed on, without reading it back from where it went. */
export interface BodyDigests {
  /** Bytes that passed. */
  length: number;
  /** MD5 of the bytes (16 bytes), unless the writer said it sends none; its base64 is S3's Content-MD5. */
  md5?: Buffer;
  /** Digest of the bytes with the run's chunk algorithm, when one was asked for. */
  chunk?: Buffer;
}

/** A body was not the length it was announced to be, or its digests were read before it ended. */
export class BodyDigestError extends ChunksyncError {
  constructor(code: "BODY_LENGTH_MISMATCH" | "BODY_NOT_ENDED", message: string) {
    super(code, message);
  }
}

/**
 * The MD5 and, optionally, the chunk digest, fed together so that each byte is read once. The
 * MD5 is left out where the caller sends the body with its chunk digest as its checksum (see
 * BodyDigest.sha256 in the storage port): then each byte is hashed once, not twice.
 */
class BodyHasher {
  readonly #md5: Digester | undefined;
  readonly #chunk: Digester | undefined;
  length = 0;

  constructor(algorithm: DigestAlgorithm | undefined, md5 = true) {
    // MD5 as the chunk algorithm is the same digest: computed once.
    this.#chunk = algorithm === undefined || algorithm === "md5" ? undefined : createDigester(algorithm);
    this.#md5 = md5 || this.#chunk === undefined ? createDigester("md5") : undefined;
  }

  update(piece: Uint8Array): void {
    this.#md5?.update(piece);
    this.#chunk?.update(piece);
    this.length += piece.length;
  }

  digests(algorithm: DigestAlgorithm | undefined): BodyDigests {
    const md5 = this.#md5?.digest();
    const chunk = algorithm === undefined ? undefined : (this.#chunk?.digest() ?? md5);
    return { length: this.length, ...(md5 ? { md5 } : {}), ...(chunk ? { chunk } : {}) };
  }
}

/**
 * Passes `body` on unchanged while hashing it: the destination side streams a body into a
 * write and afterwards holds its own digest of what it wrote, without reading it back.
 * `digests()` may be called once, after the returned body has been read to its end.
 */
export function digestWhilePassing(
  body: AsyncIterable<Uint8Array>,
  algorithm?: DigestAlgorithm,
): { body: AsyncIterable<Uint8Array>; digests(): BodyDigests } {
  const hasher = new BodyHasher(algorithm);
  let ended = false;
  async function* passing(): AsyncGenerator<Uint8Array> {
    for await (const piece of body) {
      hasher.update(piece);
      yield piece;
    }
    ended = true;
  }
  return {
    body: passing(),
    digests() {
      if (!ended) throw new BodyDigestError("BODY_NOT_ENDED", "the body was not read to its end");
      return hasher.digests(algorithm);
    },
  };
}

/**
 * The digest of each of consecutive chunks (`ranges`, in order) of a body handed over piece by
 * piece, as the pieces come: a writer streaming a body keeps its own digest of every chunk it
 * sent, without holding the body or reading it twice. Fails when the body is longer or shorter
 * than its chunks.
 */
export class ChunkDigests {
  /** The digest of each chunk whose last byte has passed, in order. */
  readonly digests: Buffer[] = [];
  readonly #ranges: readonly ChunkRange[];
  readonly #algorithm: DigestAlgorithm;
  #digester: Digester | undefined;
  /** Bytes of the current chunk that have passed. */
  #inChunk = 0;

  constructor(ranges: readonly ChunkRange[], algorithm: DigestAlgorithm) {
    this.#ranges = ranges;
    this.#algorithm = algorithm;
    this.#digester = ranges.length > 0 ? createDigester(algorithm) : undefined;
  }

  /** @throws BodyDigestError where the piece runs past the last chunk */
  update(piece: Uint8Array): void {
    for (let at = 0; at < piece.length; ) {
      const range = this.#ranges[this.digests.length];
      if (range === undefined || this.#digester === undefined)
        throw new BodyDigestError("BODY_LENGTH_MISMATCH", "the body is longer than its chunks");
      const take = Math.min(range.length - this.#inChunk, piece.length - at);
      this.#digester.update(piece.subarray(at, at + take));
      at += take;
      this.#inChunk += take;
      if (this.#inChunk === range.length) {
        this.digests.push(this.#digester.digest());
        this.#inChunk = 0;
        const more = this.digests.length < this.#ranges.length;
        this.#digester = more ? createDigester(this.#algorithm) : undefined;
      }
    }
  }

  /** @throws BodyDigestError where the body ended before its last chunk did */
  end(): void {
    const missing = this.#ranges.length - this.digests.length;
    if (missing > 0)
      throw new BodyDigestError("BODY_LENGTH_MISMATCH", `the body ended ${missing} chunk(s) short`);
  }
}

/**
 * The digests of a buffer filled range by range in any order (an assembled part's pieces read at
 * once): bytes are hashed as soon as every byte before them is in, so the hashing runs while the
 * later pieces still arrive instead of after the last one.
 */
export class InOrderDigests {
  readonly #hasher: BodyHasher;
  /** Ranges filled beyond what was hashed, as [start, end), each extended as its piece grows. */
  readonly #pending: [number, number][] = [];

  constructor(
    readonly data: Uint8Array,
    readonly algorithm?: DigestAlgorithm,
    md5 = true,
  ) {
    this.#hasher = new BodyHasher(algorithm, md5);
  }

  /** Bytes `start` to `end` (excluded) of the buffer are in. */
  filled(start: number, end: number): void {
    const grown = this.#pending.find((r) => r[1] === start);
    if (grown) grown[1] = end;
    else this.#pending.push([start, end]);
    for (let i = this.#pending.findIndex(this.#next); i >= 0; i = this.#pending.findIndex(this.#next)) {
      const [from, to] = this.#pending[i]!;
      this.#pending.splice(i, 1);
      this.#hasher.update(this.data.subarray(from, to));
    }
  }

  readonly #next = (r: [number, number]) => r[0] === this.#hasher.length;

  /** @throws BodyDigestError unless every byte of the buffer was filled */
  digests(): BodyDigests {
    if (this.#hasher.length !== this.data.length)
      throw new BodyDigestError(
        "BODY_NOT_ENDED",
        `${this.#hasher.length} of ${this.data.length} bytes in order`,
      );
    return this.#hasher.digests(this.algorithm);
  }
}

/**
 * Reads a body of exactly `length` bytes into one Buffer, hashing it in the same pass: a
 * Content-MD5 must be sent before the body, so a part is read whole first (a chunk at a time
 * per worker, never a whole object). Fails when the body is longer or shorter than `length`.
 * The bytes go into `into` where given (at least `length` bytes, reused by the caller), else
 * into a new Buffer. `md5` false: no MD5 beside the chunk digest (see BodyHasher).
 */
export function collectDigested(
  body: AsyncIterable<Uint8Array>,
  length: number,
  algorithm?: DigestAlgorithm,
  into?: Buffer,
  md5 = true,
): Promise<BodyDigests & { data: Buffer }> {
  return collectLanded(
    length,
    (data, landed) =>
      forEachPiece(body, (piece) => {
        if (landed.length + piece.length > length)
          throw new BodyDigestError(
            "BODY_LENGTH_MISMATCH",
            `the body is longer than the ${length} bytes announced`,
          );
        data.set(piece, landed.length);
        landed.update(piece);
      }),
    algorithm,
    into,
    md5,
  );
}

/**
 * As {@link collectDigested}, for a body that `fill` lands in the buffer itself (a read from
 * the socket straight into it): `fill` hands each run of bytes to `landed` as it lands, in order.
 */
export async function collectLanded(
  length: number,
  fill: (data: Buffer, landed: { readonly length: number; update(piece: Uint8Array): void }) => Promise<void>,
  algorithm?: DigestAlgorithm,
  into?: Buffer,
  md5 = true,
): Promise<BodyDigests & { data: Buffer }> {
  if (into !== undefined && into.length < length)
    throw new ChunksyncError("BUFFER_TOO_SMALL", `a buffer of ${into.length} bytes cannot hold ${length}`);
  const data = into?.subarray(0, length) ?? Buffer.allocUnsafe(length);
  const hasher = new BodyHasher(algorithm, md5);
  await fill(data, hasher);
  if (hasher.length !== length)
    throw new BodyDigestError(
      "BODY_LENGTH_MISMATCH",
      `the body ended after ${hasher.length} of the ${length} bytes announced`,
    );
  return { data, ...hasher.digests(algorithm) };
}

/**
 * Hands every piece of `body` to `each` as it arrives; settles once the body has ended, or
 * rejects with its error or with what `each` threw (the body is then destroyed). A Node stream
 * is read through its 'data' events: reading 64 ranged GETs of 8 MiB from the local server
 * through its async iterator took 1.5-1.7 s of CPU, through its events 0.9-1.0 s (a promise and
 * a generator step for each piece of 64 KiB or less).
 */
export async function forEachPiece(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  each: (piece: Uint8Array) => void,
): Promise<void> {
  if (!(body instanceof Readable)) {
    for await (const piece of body) each(piece);
    return;
  }
  body.on("data", (piece: Uint8Array) => {
    try {
      each(piece);
    } catch (error) {
      body.destroy(error as Error);
    }
  });
  await finished(body);
}
