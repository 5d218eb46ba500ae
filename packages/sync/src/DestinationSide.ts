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
  /** First-chunk digests read ahead by `probe`, by key, until `answer` or `forget` takes them. */
  readonly #first = new Map<
    string,
    { etag: string; length: number; algorithm: DigestAlgorithm; digest: Buffer }
  >();

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
    this.#first.set(key, { etag: got.head.etag, length: got.length, algorithm, digest: got.digest });
    return got.head;
  }

  /** Drops what `probe` read of `key` once its sync is settled. */
  forget(key: string): void {
    this.#first.delete(key);
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
    const first = this.#first.get(key);
    this.#first.delete(key);
    const ranges = chunksToAnswer(request, head.size).filter((range) => {
      const early =
        first !== undefined &&
        range.offset === 0 &&
        range.length === first.length &&
        first.etag === etag &&
        first.algorithm === request.algorithm;
      if (early) digests.set(range.index, first.digest);
      return !early;
    });
    const read = await this.#digests.digests({ key, etag }, ranges, request.algorithm);
    for (const [i, range] of ranges.entries()) digests.set(range.index, read[i]!);
    return answerChallenge({ secret, request, destination: { etag, size: head.size }, digests });
  }
}
