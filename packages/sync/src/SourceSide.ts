import { pipeline, Readable, Transform } from "node:stream";
import {
  BLOCK_TAG_BYTES,
  type BlockList,
  type BlockRequest,
  type BlockRounds,
  BlockTagger,
  type BodyDigests,
  blockParams,
  blockRequest,
  type ChallengeExpectation,
  type ChallengeRequest,
  type ChunkPlan,
  chunkRange,
  createChallenge,
  type DigestAlgorithm,
  type ObjectIdentity,
  type OldRange,
  oldRangesToCut,
  planChunks,
  type Ranges,
  sameEtag,
  type Variant,
} from "@chunksync/core";
import type { ObjectHead, ObjectReader } from "@chunksync/storage";
import { readBlocks } from "./blockReads.js";
import { type DigestSource, sideDigests } from "./DigestSource.js";
import { collectRead, digestFirst, pinnedRead } from "./digestRange.js";
import type { Limiter } from "./Limiter.js";
import { retryFor, withRetry } from "./retry.js";

export interface SourceSideOptions {
  store: ObjectReader;
  secret: Buffer;
  algorithm: DigestAlgorithm;
  variant: Variant;
  limiter: Limiter;
  /** Called with every byte count read from the source store. */
  onRead?: (bytes: number) => void;
  signal?: AbortSignal;
  /** Where chunk digests come from; by default a ranged read of each chunk of `store`. */
  digests?: DigestSource;
}

/**
 * The source's data plane: digests its own chunks, issues challenges, and streams
 * changed chunks out. Raw digests stay in this object's private cache; only
 * challenges and expectations (keyed, context-bound values) leave it.
 */
export class SourceSide {
  /** Chunk digests of the version of each key being synced (a key has one version at a time). */
  readonly #cached = new Map<string, { etag: string; chunks: Map<number, Buffer> }>();
  /** Whole small objects read by `read`, with their digests, by key, until their upload takes them or `forget`. */
  readonly #held = new Map<string, { etag: string; read: BodyDigests & { data: Buffer } }>();
  /** Digests of chunks being read ahead by `probe`, by key, until the challenge takes them or `forget`. */
  readonly #ahead = new Map<string, { etag: string; indices: number[]; digests: Promise<Buffer[]> }>();
  readonly #digests: DigestSource;

  constructor(readonly options: SourceSideOptions) {
    this.#digests = sideDigests(options, "source");
  }

  /** Digests (if not cached) the chunks in `indices` and challenges the destination for them. */
  async challenge(
    source: ObjectIdentity,
    destination: ObjectIdentity,
    plan: ChunkPlan,
    indices: number[],
  ): Promise<{ request: ChallengeRequest; expectation: ChallengeExpectation }> {
    const { algorithm } = this.options;
    await this.digest(source, plan, indices);
    return createChallenge({
      secret: this.options.secret,
      variant: this.options.variant,
      algorithm,
      source,
      destination,
      plan,
      indices,
      digests: this.#cache(source),
    });
  }

  /** Digests the chunks in `indices` of `source`'s version that this side does not hold yet, and keeps them. */
  async digest(source: ObjectIdentity, plan: ChunkPlan, indices: readonly number[]): Promise<void> {
    const { algorithm } = this.options;
    const cache = this.#cache(source);
    const ahead = this.#ahead.get(source.key);
    if (ahead !== undefined && sameEtag(ahead.etag, source.etag)) {
      this.#ahead.delete(source.key);
      // A read ahead that failed is read again below: the pinned read tells what went wrong.
      const digests = await ahead.digests.catch(() => undefined);
      for (const [i, index] of ahead.indices.entries()) if (digests) cache.set(index, digests[i]!);
    }
    const missing = indices.filter((index) => !cache.has(index));
    // From the index (or a digest kept from a write) every chunk is known: nothing to read.
    const digests =
      missing.length === 0
        ? []
        : await this.#digests.digests(
            source,
            missing.map((index) => chunkRange(plan, index)),
            algorithm,
          );
    for (const [i, index] of missing.entries()) cache.set(index, digests[i]!);
  }

  /**
   * Starts the block exchange of a changed object: reads the `changed` chunks once more, cutting
   * them into blocks, and asks the destination for its blocks of the old object's chunks that
   * could hold their bytes. Undefined where {@link planBlocks} declines. The blocks are kept only
   * as this request's tags.
   */
  async startBlocks(
    source: ObjectIdentity,
    destination: ObjectIdentity & { size: number },
    plan: ChunkPlan,
    changed: readonly number[],
  ): Promise<BlockRounds | undefined> {
    const start = this.planBlocks(source, destination, plan, changed);
    return (
      start && { request: start.request, blocks: await this.cutBlocks(source, start.request, start.ranges) }
    );
  }

  /**
   * The first request of a changed object's block exchange and the ranges of the new object
   * the source cuts for it, before anything is read: the destination can answer while the
   * source cuts. Undefined where there is nothing to match against, or under the `decode`
   * variant, whose sealed values cannot be matched by set: that object stays at chunk level.
   */
  planBlocks(
    source: ObjectIdentity,
    destination: ObjectIdentity & { size: number },
    plan: ChunkPlan,
    changed: readonly number[],
  ): { request: BlockRequest; ranges: OldRange[] } | undefined {
    const cut = oldRangesToCut(plan, changed, destination.size);
    if (this.options.variant !== "encode" || cut.length === 0 || changed.length === 0) return undefined;
    const { size, ...id } = destination;
    const request = blockRequest({
      source,
      destination: id,
      params: blockParams(Math.max(plan.size, size)),
      cut,
    });
    return { request, ranges: changed.map((i) => chunkRange(plan, i)) };
  }

  /**
   * Cuts `ranges` of `source`'s version into blocks with `request`'s parameters (a fine round)
   * and keeps them only as that request's tags.
   */
  async cutBlocks(source: ObjectIdentity, request: BlockRequest, ranges: Ranges): Promise<BlockList> {
    const { store, secret, limiter, onRead, signal } = this.options;
    const reader = { store, side: "source" as const, limiter, onRead, signal };
    const { tagBytes } = new BlockTagger(secret, request);
    return readBlocks(reader, source.key, source.etag, ranges, request.params, tagBytes, BLOCK_TAG_BYTES);
  }

  /**
   * Heads `key` and digests its first chunk in one request. The digest is kept as chunk 0
   * of the version read when that version's plan starts with exactly the bytes read.
   * `listed`, the version the listing named, is the one a challenge of every chunk will read
   * next: its other chunks are read at once, pinned to it, beside the first, not after it (the
   * challenge takes their digests where the first read finds that version; otherwise they are
   * dropped and the version found is read).
   */
  async probe(
    key: string,
    chunkSize: number,
    listed?: Pick<ObjectHead, "etag" | "size">,
  ): Promise<ObjectHead | undefined> {
    const { store, algorithm, limiter, signal } = this.options;
    const first = limiter.run(() =>
      withRetry(
        () => digestFirst(store, key, chunkSize, algorithm, (n) => this.options.onRead?.(n), signal),
        retryFor(signal),
      ),
    );
    // Queued after the first read: its head comes first.
    if (listed !== undefined) this.#readAhead(key, listed, chunkSize);
    const got = await first;
    if (got === undefined) return undefined;
    const plan = planChunks(got.head.size, chunkSize);
    if (plan.count > 0 && chunkRange(plan, 0).length === got.length) {
      this.#cache({ key, etag: got.head.etag }).set(0, got.digest);
    }
    return got.head;
  }

  /**
   * Heads `key` and reads it whole in one request, for an object the listing says is at most
   * `chunkSize` bytes and the destination lacks: its one chunk is digested and kept, and its
   * upload is sent from those bytes and digests (see {@link takeHeld}) instead of a second read
   * and hash. A larger version found in place
   * is only headed and digested as `probe` does.
   */
  async read(key: string, chunkSize: number): Promise<ObjectHead | undefined> {
    const { store, algorithm, limiter, signal } = this.options;
    const got = await limiter.run(() =>
      withRetry(async () => {
        const first = await store.readFirst(key, chunkSize, signal);
        if (first === undefined) return undefined;
        const length = Math.min(chunkSize, first.head.size);
        const read = await collectRead(store.bucket, key, first.body, length, algorithm);
        this.options.onRead?.(length);
        return { head: first.head, ...read };
      }, retryFor(signal)),
    );
    if (got === undefined) return undefined;
    const plan = planChunks(got.head.size, chunkSize);
    if (plan.count > 0 && got.chunk) this.#cache({ key, etag: got.head.etag }).set(0, got.chunk);
    if (plan.count === 1) this.#held.set(key, { etag: got.head.etag, read: got });
    return got.head;
  }

  /**
   * Opens chunk `index` for upload. The writer reads it whole and hashes it in the same pass
   * as its Content-MD5, and hands the digest back through `keepDigest`, so a later
   * verification of this chunk costs no second read of the source.
   */
  async openChunk(source: ObjectIdentity, plan: ChunkPlan, index: number): Promise<Readable> {
    // A zero-byte object is written as one empty part and has no chunk to read.
    if (plan.count === 0) return Readable.from([]);
    return this.openRange(source, chunkRange(plan, index));
  }

  /**
   * The bytes of `source`'s one chunk that `read` kept, with their MD5 and chunk digest, for its
   * upload; taken once: a retry reads the source again.
   */
  takeHeld(source: Pick<ObjectIdentity, "key" | "etag">): (BodyDigests & { data: Buffer }) | undefined {
    const held = this.#held.get(source.key);
    this.#held.delete(source.key);
    return held?.etag === source.etag ? held.read : undefined;
  }

  /** Opens a range of `source`'s version for upload (a chunk, or a source piece of an assembled part). */
  async openRange(
    source: Pick<ObjectIdentity, "key" | "etag">,
    range: { offset: number; length: number },
  ): Promise<Readable> {
    const body = await pinnedRead(
      this.options.store,
      "source",
      source.key,
      source.etag,
      range,
      this.options.signal,
    );
    const onRead = this.options.onRead;
    const tap = new Transform({
      transform(piece: Buffer, _encoding, done) {
        onRead?.(piece.length);
        done(null, piece);
      },
    });
    // pipeline() destroys the source read when the upload gives up, and vice versa.
    return pipeline(body, tap, () => {});
  }

  /** Keeps the digest of chunk `index` of `source` that the writer computed over the whole chunk it read. */
  keepDigest(source: Pick<ObjectIdentity, "key" | "etag">, index: number, digest: Buffer): void {
    this.#cache(source).set(index, digest);
  }

  /** Takes the digests of every chunk of `source`'s version from this side's index: none is read. */
  know(source: Pick<ObjectIdentity, "key" | "etag">, digests: readonly Buffer[]): void {
    const cache = this.#cache(source);
    for (const [index, digest] of digests.entries()) cache.set(index, digest);
  }

  /** The digests of all `count` chunks of `source`'s version, where this side holds every one. */
  digestsOf(source: Pick<ObjectIdentity, "key" | "etag">, count: number): Buffer[] | undefined {
    // An empty object has no chunk: nothing to hold.
    if (count === 0) return [];
    const cache = this.#cached.get(source.key);
    if (cache?.etag !== source.etag) return undefined;
    const digests: Buffer[] = [];
    for (let index = 0; index < count; index++) {
      const digest = cache.chunks.get(index);
      if (digest === undefined) return undefined;
      digests.push(digest);
    }
    return digests;
  }

  /** The digests this side holds of the chunks `indices` of `source`'s version, by chunk index. */
  held(source: Pick<ObjectIdentity, "key" | "etag">, indices: readonly number[]): Map<number, Buffer> {
    const cache = this.#cached.get(source.key);
    const held = new Map<number, Buffer>();
    if (cache?.etag !== source.etag) return held;
    for (const index of indices) {
      const digest = cache.chunks.get(index);
      if (digest !== undefined) held.set(index, digest);
    }
    return held;
  }

  /**
   * Starts reading the chunks after the first of `key`'s `listed` version (see `probe`): each
   * read pinned to that version, its digest kept for the challenge.
   */
  #readAhead(key: string, listed: Pick<ObjectHead, "etag" | "size">, chunkSize: number): void {
    const plan = planChunks(listed.size, chunkSize);
    const indices = Array.from({ length: Math.max(0, plan.count - 1) }, (_, i) => i + 1);
    if (indices.length === 0) return;
    const ranges = indices.map((index) => chunkRange(plan, index));
    const digests = this.#digests.digests({ key, etag: listed.etag }, ranges, this.options.algorithm);
    // Awaited by the challenge or by `forget`; until then a failure is not an unhandled one.
    digests.catch(() => {});
    this.#ahead.set(key, { etag: listed.etag, indices, digests });
  }

  /**
   * Drops the cached digests of `key` once its sync is settled; a read ahead that nothing took
   * (the attempt failed before its challenge) settles first, so no read outlives its object.
   */
  async forget(key: string): Promise<void> {
    this.#cached.delete(key);
    this.#held.delete(key);
    const ahead = this.#ahead.get(key);
    this.#ahead.delete(key);
    await ahead?.digests.catch(() => {});
  }

  /** The digests of `source`'s version; those of any other version of the key are dropped. */
  #cache(source: Pick<ObjectIdentity, "key" | "etag">): Map<number, Buffer> {
    let cache = this.#cached.get(source.key);
    if (cache?.etag !== source.etag) {
      cache = { etag: source.etag, chunks: new Map() };
      this.#cached.set(source.key, cache);
    }
    return cache.chunks;
  }
}
