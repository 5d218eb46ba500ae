import {
  answerChallenge,
  type ChallengeRequest,
  type ChallengeResponse,
  chunksToAnswer,
  ValidationError,
} from "@chunksync/core";
import { type ObjectHead, type ObjectStore, sameEtag } from "@chunksync/storage";
import { digestRange } from "./digestRange.js";
import { ObjectChangedError } from "./errors.js";
import { type Limiter, settleAll } from "./Limiter.js";
import { DEFAULT_RETRY, withRetry } from "./retry.js";

export interface DestinationSideOptions {
  store: ObjectStore;
  secret: Buffer;
  limiter: Limiter;
  /** Called with every byte count read from the destination store. */
  onRead?: (bytes: number) => void;
  signal?: AbortSignal;
}

/**
 * The destination's data plane: answers a challenge from its own bytes. Its digests
 * live only inside `answer` and leave it only as keyed, context-bound values.
 */
export class DestinationSide {
  constructor(readonly options: DestinationSideOptions) {}

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
    const { store, secret, limiter, signal } = this.options;
    const { bucket, key, etag } = request.destination;
    if (bucket !== store.bucket) {
      throw new ValidationError("destination.bucket", `the bucket this side serves (${store.bucket})`);
    }
    const head = current?.key === key ? current : await store.head(key, signal);
    if (head === undefined || !sameEtag(head.etag, etag)) throw new ObjectChangedError("destination", key);
    const digests = new Map<number, Buffer>();
    await settleAll(
      chunksToAnswer(request, head.size).map((range) =>
        limiter.run(async () => {
          const digest = await withRetry(
            () =>
              digestRange(
                store,
                "destination",
                key,
                etag,
                range,
                request.algorithm,
                (n) => this.options.onRead?.(n),
                signal,
              ),
            { ...DEFAULT_RETRY, ...(signal ? { signal } : {}) },
          );
          digests.set(range.index, digest);
        }),
      ),
    );
    return answerChallenge({ secret, request, destination: { etag, size: head.size }, digests });
  }
}
