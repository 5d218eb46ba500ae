import {
  answerChallenge,
  type ChallengeRequest,
  type ChallengeResponse,
  chunksToAnswer,
  type DigestAlgorithm,
  ValidationError,
} from "@chunksync/core";
import { type ObjectHead, type ObjectReader, sameEtag } from "@chunksync/storage";
import { type DigestSource, sideDigests } from "./DigestSource.js";
import { digestFirst } from "./digestRange.js";
import { ObjectChangedError } from "./errors.js";
import type { Limiter } from "./Limiter.js";
import { retryFor, withRetry } from "./retry.js";

export interface DestinationSideOptions {
  store: ObjectReader;
  secret: Buffer;
  limiter: Limiter;
  /** Called with every byte count read from the destination store. */
  onRead?: (bytes: number) => void;
  signal?: AbortSignal;
  /** Where chunk digests come from; by default a ranged read of each chunk of `store`. */
  digests?: DigestSource;
}

/**
 * The destination's data plane: answers a challenge from its own bytes. Its digests
 * live only inside `answer` and leave it only as keyed, context-bound values.
 */
export class DestinationSide {
  /**
   * Digests this side already holds, by key, until `answer` or `forget` takes them: the first
   * chunk read ahead by `probe`, and the chunks it uploaded with a Content-MD5 the server checked.
   */
  readonly #known = new Map<string, KnownDigests>();

  readonly #digests: DigestSource;

  constructor(readonly options: DestinationSideOptions) {
    this.#digests = sideDigests(options, "destination");
  }

  /**
   * Heads `key` and digests its first `length` bytes in one request, ahead of the challenge
   * (one process holds both sides); `answer` uses that digest for a challenge on the same
   * version, range and algorithm.
   */
  async probe(key: string, length: number, algorithm: DigestAlgorithm): Promise<ObjectHead | undefined> {
    const { store, limiter, signal } = this.options;
    const got = await limiter.run(() =>
      withRetry(
        () => digestFirst(store, key, length, algorithm, (n) => this.options.onRead?.(n), signal),
        retryFor(signal),
      ),
    );
    if (got === undefined) return undefined;
    const ranges = new Map([[rangeKey(0, got.length), got.digest]]);
    this.#known.set(key, { etag: got.head.etag, algorithm, ranges });
    return got.head;
  }

  /**
   * Keeps the digests of ranges of `key` at version `etag` that this side uploaded: each was
   * computed in the pass that computed the Content-MD5 the storing server checked the bytes
   * against, so it is the digest of what the server stored and `answer` uses it without a read.
   */
  uploaded(
    key: string,
    etag: string,
    algorithm: DigestAlgorithm,
    digests: ReadonlyArray<{ offset: number; length: number; digest: Buffer }>,
  ): void {
    const ranges = new Map(digests.map((d) => [rangeKey(d.offset, d.length), d.digest]));
    this.#known.set(key, { etag, algorithm, ranges });
  }

  /** Drops what this side holds of `key` once its sync is settled. */
  forget(key: string): void {
    this.#known.delete(key);
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
    const { store, secret, signal } = this.options;
    const { bucket, key, etag } = request.destination;
    if (bucket !== store.bucket) {
      throw new ValidationError("destination.bucket", `the bucket this side serves (${store.bucket})`);
    }
    const head = current?.key === key ? current : await store.head(key, signal);
    if (head === undefined || !sameEtag(head.etag, etag)) throw new ObjectChangedError("destination", key);
    const digests = new Map<number, Buffer>();
    const known = this.#known.get(key);
    this.#known.delete(key);
    const held = known?.etag === etag && known.algorithm === request.algorithm ? known.ranges : undefined;
    const ranges = chunksToAnswer(request, head.size).filter((range) => {
      const digest = held?.get(rangeKey(range.offset, range.length));
      if (digest !== undefined) digests.set(range.index, digest);
      return digest === undefined;
    });
    const read = await this.#digests.digests({ key, etag }, ranges, request.algorithm);
    for (const [i, range] of ranges.entries()) digests.set(range.index, read[i]!);
    return answerChallenge({ secret, request, destination: { etag, size: head.size }, digests });
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
