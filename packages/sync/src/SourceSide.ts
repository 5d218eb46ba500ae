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
  type ChunkRange,
  chunkRange,
  chunkRanges,
  createChallenge,
  type DigestAlgorithm,
  type HeldBatch,
  type HeldChallenge,
  type HeldPair,
  holdBatch,
  holdChallenge,
  type ObjectIdentity,
  type OldRange,
  oldRangesToCut,
  planChunks,
  type Ranges,
  type Variant,
} from "@chunksync/core";
import { type BodySink, counting, type ObjectHead, type ObjectReader, pour } from "@chunksync/storage";
import { blockReader, readBlocks } from "./blockReads.js";
import { type DigestSource, digestsEach, RangedReadDigests, type RangeTap } from "./DigestSource.js";
import { collectRead, digestFirst, readRange } from "./digestRange.js";
import { type KeepRoom, KeptChunks } from "./KeptChunks.js";
import type { Limiter } from "./Limiter.js";
import { ReadAhead } from "./ReadAhead.js";
import { retryFor, withRetry } from "./retry.js";

export interface SourceSideOptions {
  store: ObjectReader;
  secret: Buffer;
  algorithm: DigestAlgorithm;
  variant: Variant;
  limiter: Limiter;
  /** Called with every byte count read from the source store. */
  onRead?: (bytes: number) => void;
  /** Called with every byte count taken from kept bytes (see `keep`) in place of a read. */
  onKept?: (bytes: number) => void;
  signal?: AbortSignal;
  /** Where chunk digests come from; by default a ranged read of each chunk of `store`. */
  digests?: DigestSource;
  /**
   * Room for the bytes of chunks that likely changed, kept from the read that digested them
   * (see `probe`); none by default. The run shares its one room with its destination side.
   */
  keep?: KeepRoom;
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
  /** Digests of chunks being read ahead by `probe`, until the challenge takes them or `forget`. */
  readonly #ahead = new ReadAhead();
  /**
   * The chunks of each key in progress whose read found them changed from the key's last indexed
   * version (`prior`), by index, until `forget`: those a challenge likely finds changed.
   */
  readonly #likelyChanged = new Map<string, Set<number>>();
  readonly #digests: DigestSource;
  /** Ranged reads of this side's own store, where those give its digests: they can keep what they read. */
  readonly #ranged: RangedReadDigests | undefined;
  readonly #kept: KeptChunks | undefined;

  constructor(readonly options: SourceSideOptions) {
    const { store, limiter, onRead, signal } = options;
    this.#ranged =
      options.digests === undefined
        ? new RangedReadDigests({
            store,
            side: "source",
            limiter,
            ...(onRead ? { onRead } : {}),
            ...(signal ? { signal } : {}),
          })
        : undefined;
    this.#digests = options.digests ?? this.#ranged!;
    this.#kept = options.keep ? new KeptChunks(options.keep, options.onKept) : undefined;
  }

  /** Digests (if not cached) the chunks in `indices` and challenges the destination for them. */
  async challenge(
    source: ObjectIdentity,
    destination: ObjectIdentity,
    plan: ChunkPlan,
    indices: number[],
  ): Promise<{ request: ChallengeRequest; expectation: ChallengeExpectation }> {
    const { secret, variant, algorithm } = this.options;
    await this.digest(source, plan, indices);
    const digests = this.#cache(source);
    return createChallenge({ secret, variant, algorithm, source, destination, plan, indices, digests });
  }

  /**
   * A challenge of `indices` answered in this process (see {@link HeldChallenge}), where this side
   * holds the digest of every chunk in them (from its index, or read before): a fresh nonce and
   * the values it expects, made without a read or a turn of the event loop. Only these values
   * leave this side; `encode` runs only (undefined under `decode`: the caller sends messages).
   *
   * @throws ValidationError where a digest of `indices` is not held
   */
  challengeHeld(
    source: ObjectIdentity,
    destination: ObjectIdentity,
    plan: ChunkPlan,
    indices: readonly number[],
  ): { challenge: HeldChallenge; expected: Buffer[] } | undefined {
    const { secret, variant, algorithm } = this.options;
    if (variant !== "encode") return undefined;
    const digests = this.#cache(source);
    return holdChallenge({ secret, algorithm, source, destination, plan, indices, digests });
  }

  /**
   * A batch of pairs answered in this process (see {@link HeldBatch}), where this side holds the
   * digest of every chunk of each pair (from its index): a fresh nonce and the one value it
   * expects. `encode` runs only (undefined under `decode`).
   *
   * @throws ValidationError where a digest is not held
   */
  challengeHeldBatch(pairs: readonly HeldPair[]): { batch: HeldBatch; expected: Buffer } | undefined {
    const { secret, variant, algorithm } = this.options;
    if (variant !== "encode") return undefined;
    return holdBatch({ secret, algorithm, pairs, digests: (i) => this.#cache(pairs[i]!.source) });
  }

  /** Digests the chunks in `indices` of `source`'s version that this side does not hold yet, and keeps them. */
  async digest(source: ObjectIdentity, plan: ChunkPlan, indices: readonly number[]): Promise<void> {
    const { algorithm } = this.options;
    const cache = this.#cache(source);
    const wanted = indices.filter((index) => !cache.has(index));
    for (const { range, digest } of await this.#ahead.take(source.key, source.etag, algorithm, wanted))
      cache.set(range.index, digest);
    const missing = wanted.filter((index) => !cache.has(index));
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
   * and keeps them only as that request's tags. Bytes it must read are kept where there is room,
   * for the fine round and the write: where the object's digests came from the index (no read
   * before), each changed chunk was otherwise read three times, to cut, to cut finer and to send.
   */
  async cutBlocks(source: ObjectIdentity, request: BlockRequest, ranges: Ranges): Promise<BlockList> {
    const reader = blockReader(this.options, "source", this.#kept);
    const { secret } = this.options;
    const { tagBytes } = new BlockTagger(secret, request);
    return readBlocks(reader, source.key, source.etag, ranges, request.params, tagBytes, BLOCK_TAG_BYTES);
  }

  /**
   * Heads `key` and digests its first chunk in one request. The digest is kept as chunk 0
   * of the version read when that version's plan starts with exactly the bytes read.
   * `listed`, the version the listing named, is the one a challenge of every chunk will read
   * next: its other chunks are read at once, pinned to it, beside the first, not after it (the
   * challenge takes their digests where the first read finds that version; otherwise they are
   * dropped and the version found is read). `prior`, the chunk digests of the key's last
   * indexed version, tells which chunks likely changed: where there is room, their bytes are
   * kept from this read for the block exchange and the write (see `cutBlocks`, `readRange`).
   */
  async probe(
    key: string,
    chunkSize: number,
    listed?: Pick<ObjectHead, "etag" | "size">,
    prior?: readonly Buffer[],
  ): Promise<ObjectHead | undefined> {
    const { store, algorithm, limiter, signal } = this.options;
    // An object listed smaller than a chunk is read as listed: its one chunk is then whole in
    // the bytes read, and can be kept. One that grew since is read again where it needs more.
    const length = listed !== undefined && listed.size > 0 ? Math.min(chunkSize, listed.size) : chunkSize;
    const first = limiter.run(
      () =>
        withRetry(async () => {
          let kept: Buffer | undefined;
          const tap =
            prior &&
            (await this.#keeping(prior, 0, length, (bytes) => {
              kept = bytes;
            }));
          const onPiece = (piece: Uint8Array) => {
            this.options.onRead?.(piece.length);
            tap?.piece(piece);
          };
          const got = await digestFirst(store, key, length, algorithm, onPiece, signal, tap?.into).catch(
            (error: unknown) => {
              tap?.end(undefined);
              throw error;
            },
          );
          tap?.end(got?.digest);
          if (prior && got !== undefined && firstChunkRead(got, chunkSize))
            this.#readFound(key, prior, 0, got.digest);
          // Only a whole chunk is kept: the first chunk of the version found.
          if (got !== undefined && kept !== undefined && firstChunkRead(got, chunkSize))
            this.#kept?.keep(key, got.head.etag, 0, kept);
          return got;
        }, retryFor(signal)),
      true,
    );
    // Queued after the first read: its head comes first.
    if (listed !== undefined) this.#readAhead(key, listed, chunkSize, prior);
    const got = await first;
    if (got === undefined) return undefined;
    if (firstChunkRead(got, chunkSize)) this.#cache({ key, etag: got.head.etag }).set(0, got.digest);
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
    const got = await limiter.run(
      () =>
        withRetry(async () => {
          const first = await store.readFirst(key, chunkSize, signal);
          if (first === undefined) return undefined;
          const length = Math.min(chunkSize, first.head.size);
          const read = await collectRead(store.bucket, key, first.body, length, algorithm);
          this.options.onRead?.(length);
          return { head: first.head, ...read };
        }, retryFor(signal)),
      true,
    );
    if (got === undefined) return undefined;
    const plan = planChunks(got.head.size, chunkSize);
    if (plan.count > 0 && got.chunk) this.#cache({ key, etag: got.head.etag }).set(0, got.chunk);
    if (plan.count === 1) this.#held.set(key, { etag: got.head.etag, read: got });
    return got.head;
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

  /**
   * Reads a range of `source`'s version into `sink` for upload (a chunk, a source piece of an
   * assembled part, half a streamed object's buffer): from the bytes kept of it (see `probe`),
   * or a pinned read that lands in `sink.into`.
   */
  async readRange(
    source: Pick<ObjectIdentity, "key" | "etag">,
    range: { offset: number; length: number },
    sink: BodySink,
  ): Promise<void> {
    const kept = this.#kept?.bytes(source.key, source.etag, range);
    if (kept !== undefined) {
      await pour(kept, sink);
      return;
    }
    const { store, signal, onRead } = this.options;
    const counted = onRead ? counting(sink, onRead) : sink;
    await readRange(store, "source", source.key, source.etag, range, counted, "the part", signal);
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
   * read pinned to that version, its digest kept for the challenge, and its bytes where they
   * likely changed from `prior` and there is room.
   */
  #readAhead(
    key: string,
    listed: Pick<ObjectHead, "etag" | "size">,
    chunkSize: number,
    prior: readonly Buffer[] | undefined,
  ): void {
    const ranges = chunkRanges(planChunks(listed.size, chunkSize)).slice(1);
    if (ranges.length === 0) return;
    const { algorithm } = this.options;
    const object = { key, etag: listed.etag };
    const keep = (range: ChunkRange) => (bytes: Buffer) =>
      this.#kept?.keep(key, listed.etag, range.offset, bytes);
    const digests =
      prior && this.#ranged
        ? this.#ranged.each(object, ranges, algorithm, {
            opens: true,
            tap: (range) => this.#keeping(prior, range.index, range.length, keep(range)),
          })
        : digestsEach(this.#digests, object, ranges, algorithm, { opens: true });
    this.#ahead.start(key, listed.etag, algorithm, ranges, digests);
    if (prior)
      for (const [i, range] of ranges.entries())
        digests[i]!.then(
          (digest) => this.#readFound(key, prior, range.index, digest),
          () => {},
        );
  }

  /** Notes chunk `index` of `key` likely changed where its digest read now is not `prior`'s. */
  #readFound(key: string, prior: readonly Buffer[], index: number, digest: Buffer): void {
    if (prior[index]?.equals(digest)) return;
    const found = this.#likelyChanged.get(key) ?? new Set<number>();
    this.#likelyChanged.set(key, found);
    found.add(index);
  }

  /**
   * Whether the read of chunk `index` of `key` in progress found it changed from the key's last
   * indexed version: a hint, by index alone, for the destination's side to keep its old bytes
   * of that chunk as it reads them (see `DestinationSide.probe`); false where not read yet.
   */
  likelyChanged(key: string, index: number): boolean {
    return this.#likelyChanged.get(key)?.has(index) ?? false;
  }

  /**
   * Drops the cached digests of `key` once its sync is settled; a read ahead that nothing took
   * (the attempt failed before its challenge) settles first, so no read outlives its object.
   */
  forget(key: string): Promise<void> | undefined {
    this.#cached.delete(key);
    this.#held.delete(key);
    this.#likelyChanged.delete(key);
    const kept = this.#kept;
    const settling = this.#ahead.forget(key);
    if (settling === undefined) {
      kept?.forget(key);
      return undefined;
    }
    // Its kept chunks are dropped once the read ahead settled, and what its last reads found.
    return settling.then(() => {
      kept?.forget(key);
      this.#likelyChanged.delete(key);
    });
  }

  /**
   * A tap that lands chunk `index` in a buffer in room reserved for its `length` bytes as it is
   * digested, and hands the buffer to `keep` where its digest differs from `prior`'s (the
   * key's last indexed version): such a chunk is likely one the challenge finds changed, which
   * the block exchange cuts and the write sends, both then from memory. Where the reads in
   * flight beside it hold the room, it waits for them (see `KeepRoom.reserveInFlight`);
   * undefined where there is no room: the chunk is read again where needed. Only a whole chunk
   * is kept.
   */
  async #keeping(
    prior: readonly Buffer[],
    index: number,
    length: number,
    keep: (bytes: Buffer) => void,
  ): Promise<RangeTap | undefined> {
    const tap = await this.#kept?.tapInFlight(length, this.options.signal);
    return (
      tap && {
        into: tap.into,
        piece: tap.piece,
        end: (digest) => {
          const changed = digest !== undefined && !(prior[index]?.equals(digest) ?? false);
          tap.end(changed ? keep : undefined);
        },
      }
    );
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

/** Whether a first read of `got.length` bytes read the whole first chunk of the version it found. */
function firstChunkRead(got: { head: Pick<ObjectHead, "size">; length: number }, chunkSize: number): boolean {
  const plan = planChunks(got.head.size, chunkSize);
  return plan.count > 0 && chunkRange(plan, 0).length === got.length;
}
