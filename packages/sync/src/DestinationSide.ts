import {
  allChunks,
  answerBlocks,
  answerChallenge,
  answerHeldBatch,
  answerHeldChallenge,
  BLOCK_TAG_BYTES,
  type BlockResponse,
  BlockTagger,
  type ChallengeRequest,
  type ChallengeResponse,
  type ChunkRange,
  chunkRanges,
  chunksToAnswer,
  type DigestAlgorithm,
  type HeldBatch,
  type HeldChallenge,
  type HeldDigests,
  parseBlockRequest,
  planChunks,
  rangesToCut,
  ValidationError,
  wholeTagging,
} from "@chunksync/core";
import { type ByteRange, type ObjectHead, type ObjectReader, sameEtag } from "@chunksync/storage";
import { blockReader, readBlocksAndWhole } from "./blockReads.js";
import { type DigestSource, digestsEach, type RangeTap, sideDigests } from "./DigestSource.js";
import { digestFirst } from "./digestRange.js";
import { ObjectChangedError } from "./errors.js";
import { type KeepRoom, KeptChunks } from "./KeptChunks.js";
import type { Limiter } from "./Limiter.js";
import { ReadAhead } from "./ReadAhead.js";
import { retryFor, withRetry } from "./retry.js";

export interface DestinationSideOptions {
  store: ObjectReader;
  secret: Buffer;
  limiter: Limiter;
  /** Called with every byte count read from the destination store. */
  onRead?: (bytes: number) => void;
  /** Called with every byte count taken from kept bytes (see `keep`) in place of a read. */
  onKept?: (bytes: number) => void;
  signal?: AbortSignal;
  /** Where chunk digests come from; by default a ranged read of each chunk of `store`. */
  digests?: DigestSource;
  /**
   * Room for the old bytes a block answer reads, kept for the next round and the assembled
   * parts' old pieces of the same version (see {@link DestinationSide.oldBytes}); none by
   * default. The run shares its one room with its source side.
   */
  keep?: KeepRoom;
  /**
   * Whether `probe` reads ahead the chunks after the first where it is given the listed
   * version: where the challenge follows in the same process (the direct engine), so that this
   * side's reads go beside the source's instead of after them. Off by default: a workflow step
   * that heads the object ends before the challenge.
   */
  readsAhead?: boolean;
}

/**
 * The destination's data plane: answers a challenge from its own bytes. Its digests
 * live only inside `answer` and leave it only as keyed, context-bound values.
 */
export class DestinationSide {
  /**
   * Digests this side holds of the current version of each key in progress, until `forget`:
   * the first chunk read ahead by `probe`, those taken from its index, those it read to answer,
   * and those of the chunks it wrote (uploaded with a Content-MD5 the server checked, or copied
   * from its own old version).
   */
  readonly #known = new Map<string, KnownDigests>();

  readonly #digests: DigestSource;
  /** Old bytes block answers read, by key and version, until `forget`. */
  readonly #kept: KeptChunks | undefined;
  /** Digests of chunks being read ahead by `probe`, until `answer` takes them or `forget`. */
  readonly #ahead = new ReadAhead();

  constructor(readonly options: DestinationSideOptions) {
    this.#digests = sideDigests(options, "destination");
    this.#kept = options.keep ? new KeptChunks(options.keep, options.onKept) : undefined;
  }

  /**
   * Heads `key` and digests its first `length` bytes in one request, ahead of the challenge
   * (one process holds both sides); `answer` uses that digest for a challenge on the same
   * version, range and algorithm. Where this side reads ahead (see
   * {@link DestinationSideOptions.readsAhead}), `listed`, the version the listing named, is the
   * one a challenge of every chunk will ask about next: its other chunks are read at once,
   * pinned to it, beside the first (`answer` takes their digests where it is asked about that
   * version; otherwise they are dropped). A chunk read ahead that `likelyChanged` names once it
   * has been read (the source's read found it changed: see `SourceSide.likelyChanged`) is kept
   * in memory where there was room for its read, for the block round and the assembled part
   * that would otherwise read its old bytes again; the others give their room back as they end.
   */
  async probe(
    key: string,
    length: number,
    algorithm: DigestAlgorithm,
    listed?: Pick<ObjectHead, "etag" | "size">,
    likelyChanged?: (index: number) => boolean,
  ): Promise<ObjectHead | undefined> {
    const { store, limiter, signal } = this.options;
    const first = limiter.run(
      () =>
        withRetry(
          () => digestFirst(store, key, length, algorithm, (p) => this.options.onRead?.(p.length), signal),
          retryFor(signal),
        ),
      true,
    );
    // Queued after the first read: its head comes first.
    if (listed !== undefined && this.options.readsAhead) {
      const ranges = chunkRanges(planChunks(listed.size, length)).slice(1);
      if (ranges.length > 0) {
        const kept = this.#kept;
        const etag = listed.etag;
        const tap =
          kept && likelyChanged
            ? async (range: ChunkRange): Promise<RangeTap | undefined> => {
                const read = await kept.keeping(key, etag, range, signal);
                return (
                  read && {
                    into: read.into,
                    piece: read.piece,
                    end: (digest) => read.end(digest !== undefined && likelyChanged(range.index)),
                  }
                );
              }
            : undefined;
        const digests = digestsEach(this.#digests, { key, etag }, ranges, algorithm, {
          opens: true,
          ...(tap ? { tap } : {}),
        });
        this.#ahead.start(key, listed.etag, algorithm, ranges, digests);
      }
    }
    const got = await first;
    if (got === undefined) return undefined;
    this.#version(key, got.head.etag, algorithm).set(rangeKey(0, got.length), got.digest);
    return got.head;
  }

  /** Takes the digests of the chunks `ranges` of `key` at `etag` from this side's index: none is read. */
  know(
    key: string,
    etag: string,
    algorithm: DigestAlgorithm,
    ranges: readonly ChunkRange[],
    digests: readonly Buffer[],
  ): void {
    const known = this.#version(key, etag, algorithm);
    for (const [i, range] of ranges.entries()) known.set(rangeKey(range.offset, range.length), digests[i]!);
  }

  /**
   * Records the version `etag` of `key` this side just wrote, with the digests of its ranges it
   * holds without reading: `uploaded` ones were computed in the pass that computed the
   * Content-MD5 the storing server checked the bytes against, so they are the digests of what
   * the server stored; `copied` ranges were copied server-side from the version `from` at the
   * same offsets, whose digests this side took earlier.
   */
  written(
    key: string,
    etag: string,
    algorithm: DigestAlgorithm,
    uploaded: ReadonlyArray<{ offset: number; length: number; digest: Buffer }>,
    copied: { from: string; ranges: readonly ByteRange[] } = { from: "", ranges: [] },
  ): void {
    const old = this.#known.get(key);
    const kept =
      old && sameEtag(old.etag, copied.from) && old.algorithm === algorithm ? old.ranges : undefined;
    const ranges = new Map(uploaded.map((d) => [rangeKey(d.offset, d.length), d.digest]));
    for (const range of copied.ranges) {
      const digest = kept?.get(rangeKey(range.offset, range.length));
      if (digest !== undefined) ranges.set(rangeKey(range.offset, range.length), digest);
    }
    this.#known.set(key, { etag, algorithm, ranges });
  }

  /** The digests of all of `ranges` of `key` at `etag`, where this side holds every one. */
  digestsOf(
    key: string,
    etag: string,
    algorithm: DigestAlgorithm,
    ranges: readonly ChunkRange[],
  ): Buffer[] | undefined {
    if (ranges.length === 0) return [];
    const known = this.#known.get(key);
    if (known === undefined || !sameEtag(known.etag, etag) || known.algorithm !== algorithm) return undefined;
    const digests: Buffer[] = [];
    for (const range of ranges) {
      const digest = known.ranges.get(rangeKey(range.offset, range.length));
      if (digest === undefined) return undefined;
      digests.push(digest);
    }
    return digests;
  }

  /**
   * Reads the digests of the chunks of `head` (its own plan of `chunkSize`) this side lacks,
   * where it holds some already and the rest is no larger than those: a version read only in
   * part (the chunks an object of another size on the source could be compared in) then gets a
   * whole index entry, and the next run reads none of it, where it would read that part again
   * every run (a `check` or `plan` writes nothing to replace it). A version of which only a
   * small head was read (a source cut short) is left: the rest would cost more than it saves.
   */
  async completeDigests(head: ObjectHead, algorithm: DigestAlgorithm, chunkSize: number): Promise<void> {
    const known = this.#known.get(head.key);
    if (known === undefined || !sameEtag(known.etag, head.etag) || known.algorithm !== algorithm) return;
    const ranges = chunkRanges(planChunks(head.size, chunkSize));
    const missing = ranges.filter((r) => !known.ranges.has(rangeKey(r.offset, r.length)));
    const lacking = missing.reduce((sum, r) => sum + r.length, 0);
    if (missing.length === 0 || lacking > head.size - lacking) return;
    const read = await this.#digests.digests({ key: head.key, etag: head.etag }, missing, algorithm);
    for (const [i, range] of missing.entries())
      known.ranges.set(rangeKey(range.offset, range.length), read[i]!);
  }

  /**
   * Drops what this side holds of `key` once its sync is settled; a read ahead that nothing took
   * settles first (see {@link ReadAhead.forget}).
   */
  forget(key: string): Promise<void> | undefined {
    this.#known.delete(key);
    this.#kept?.forget(key);
    return this.#ahead.forget(key);
  }

  /**
   * The bytes of `range` of `key`'s version `etag` where a block answer of this run read and
   * kept all of them (see `keep`), as views in order; undefined otherwise, and for any other
   * version: those bytes are read again.
   */
  oldBytes(
    key: string,
    etag: string,
    range: { offset: number; length: number },
  ): readonly Buffer[] | undefined {
    return this.#kept?.bytes(key, etag, range);
  }

  /**
   * Answers `request` from this side's object. `current` is what this side knows of that
   * object from a moment ago (its own HEAD or write, in one process); without it the side
   * HEADs itself.
   * Either way every read is pinned to the challenged ETag.
   */
  async answer(
    request: ChallengeRequest,
    current?: Pick<ObjectHead, "key" | "etag" | "size">,
  ): Promise<ChallengeResponse> {
    const { key, etag } = request.destination;
    const head = await this.#named(request.destination, current);
    const known = this.#version(key, etag, request.algorithm);
    for (const { range, digest } of await this.#ahead.take(key, etag, request.algorithm, request.indices))
      known.set(rangeKey(range.offset, range.length), digest);
    const { digests, ranges } = this.#held(request, head);
    const read =
      ranges.length === 0 ? [] : await this.#digests.digests({ key, etag }, ranges, request.algorithm);
    for (const [i, range] of ranges.entries()) {
      digests.set(range.index, read[i]!);
      known.set(rangeKey(range.offset, range.length), read[i]!);
    }
    return answerChallenge({
      secret: this.options.secret,
      request,
      destination: { etag, size: head.size },
      digests,
    });
  }

  /**
   * Answers a challenge made in this process (see {@link HeldChallenge}) where `current` is the
   * version it names and this side holds the digest of every chunk it asks about (from its
   * index): its keyed answers only, with no request and no turn of the event loop. Undefined
   * where a digest would have to be read, or `current` is of another key.
   *
   * @throws as {@link answer} for another bucket or another version of the key
   */
  answerHeld(
    challenge: HeldChallenge,
    current: Pick<ObjectHead, "key" | "etag" | "size">,
  ): (Buffer | undefined)[] | undefined {
    if (current.key !== challenge.destination.key) return undefined;
    const head = this.#check(challenge.destination, current);
    const { digests, ranges } = this.#held(challenge, head);
    if (ranges.length > 0) return undefined;
    return answerHeldChallenge(this.options.secret, challenge, head.size, digests);
  }

  /**
   * This side's value for a batch made in this process (see {@link HeldBatch}), where `current[i]`
   * is the version pair `i` names, of its plan's size, and this side holds the digest of each of
   * its chunks (from its index). Undefined where that does not hold for some pair: the caller
   * challenges each pair alone.
   *
   * @throws as {@link answer} for another bucket or another version of a key
   */
  answerHeldBatch(
    batch: HeldBatch,
    current: readonly Pick<ObjectHead, "key" | "etag" | "size">[],
  ): Buffer | undefined {
    const held: HeldDigests[] = [];
    for (const [i, pair] of batch.pairs.entries()) {
      const now = current[i];
      if (now === undefined || now.key !== pair.destination.key || now.size !== pair.plan.size)
        return undefined;
      const head = this.#check(pair.destination, now);
      const request = { ...pair, algorithm: batch.algorithm, indices: allChunks(pair.plan) };
      const { digests, ranges } = this.#held(request, head);
      if (ranges.length > 0) return undefined;
      held.push(digests);
    }
    return answerHeldBatch(this.options.secret, batch, (i) => held[i]!);
  }

  /** The digests this side holds of the chunks `request` asks about, and the ranges it lacks. */
  #held(
    request: Pick<ChallengeRequest | HeldChallenge, "destination" | "algorithm" | "plan" | "indices">,
    head: Pick<ObjectHead, "size">,
  ): { digests: Map<number, Buffer>; ranges: ChunkRange[] } {
    const digests = new Map<number, Buffer>();
    const known = this.#version(request.destination.key, request.destination.etag, request.algorithm);
    const ranges = chunksToAnswer(request, head.size).filter((range) => {
      const digest = known.get(rangeKey(range.offset, range.length));
      if (digest !== undefined) digests.set(range.index, digest);
      return digest === undefined;
    });
    return { digests, ranges };
  }

  /**
   * Answers a block request from this side's old object: cuts the asked ranges into blocks and
   * digests the asked whole ranges, every read pinned to the named version, and sends only
   * their tags. `current` as for `answer`.
   */
  async answerBlocks(
    received: unknown,
    current?: Pick<ObjectHead, "key" | "etag" | "size">,
  ): Promise<BlockResponse> {
    const { secret } = this.options;
    const request = parseBlockRequest(received);
    const { key, etag } = request.destination;
    const head = await this.#named(request.destination, current);
    // A round reads what an earlier one kept from memory: a fine round cuts parts of the old
    // chunks the first round cut.
    const reader = blockReader(this.options, "destination", this.#kept);
    const within = (r: { offset: number; length: number }) => r.offset + r.length <= head.size;
    // Tagged as they are cut: no raw digest is kept. A fine round that also asks about the
    // first round's guesses tags them with that round's parameters; a byte both name is read
    // once for both (the guesses often are the very old ranges the fine round cuts).
    const { tagBytes } = new BlockTagger(secret, request);
    const wholeTagger = request.wholeParams ? new BlockTagger(secret, wholeTagging(request)) : undefined;
    const read = await readBlocksAndWhole(
      reader,
      key,
      etag,
      { ranges: rangesToCut(request, head.size), params: request.params, digest: tagBytes },
      { ranges: request.whole.filter(within), digest: (wholeTagger ?? { tagBytes }).tagBytes },
      BLOCK_TAG_BYTES,
    );
    return answerBlocks(request, { etag, size: head.size }, read.blocks, read.whole);
  }

  /**
   * The head of the version a request names, which must be this side's bucket and still the
   * current version: `current` where it is that key (what this side knows from a moment ago),
   * else a HEAD.
   *
   * @throws ValidationError for another bucket; ObjectChangedError when that version is gone
   */
  async #named(
    named: { bucket: string; key: string; etag: string },
    current: Pick<ObjectHead, "key" | "etag" | "size"> | undefined,
  ): Promise<Pick<ObjectHead, "key" | "etag" | "size">> {
    const { store, signal } = this.options;
    // Another bucket's key is not headed here: #check refuses it.
    const head =
      current?.key === named.key || named.bucket !== store.bucket
        ? current
        : await store.head(named.key, signal);
    return this.#check(named, head);
  }

  /** `head` where it is the version `named`, of this side's bucket (see {@link #named}). */
  #check(
    named: { bucket: string; key: string; etag: string },
    head: Pick<ObjectHead, "key" | "etag" | "size"> | undefined,
  ): Pick<ObjectHead, "key" | "etag" | "size"> {
    const { store } = this.options;
    if (named.bucket !== store.bucket) {
      throw new ValidationError("destination.bucket", `the bucket this side serves (${store.bucket})`);
    }
    if (head === undefined || !sameEtag(head.etag, named.etag))
      throw new ObjectChangedError("destination", named.key);
    return head;
  }

  /** The digests held of version `etag` of `key`; those of any other version are dropped. */
  #version(key: string, etag: string, algorithm: DigestAlgorithm): Map<string, Buffer> {
    let known = this.#known.get(key);
    if (known === undefined || !sameEtag(known.etag, etag) || known.algorithm !== algorithm) {
      known = { etag, algorithm, ranges: new Map() };
      this.#known.set(key, known);
    }
    return known.ranges;
  }
}

/** Digests of ranges of one version of an object, by {@link rangeKey}. */
interface KnownDigests {
  etag: string;
  algorithm: DigestAlgorithm;
  ranges: Map<string, Buffer>;
}

function rangeKey(offset: number, length: number): string {
  return `${offset}:${length}`;
}
