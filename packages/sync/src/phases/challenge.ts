import {
  type ChallengeExpectation,
  type ChallengeRequest,
  type ChallengeResponse,
  type ChunkPlan,
  changedHeldChunks,
  heldBatchEqual,
  type ObjectIdentity,
  verifyResponse,
} from "@chunksync/core";
import type { ObjectHead } from "@chunksync/storage";
import type { DestinationSide } from "../DestinationSide.js";
import { VerificationFailedError } from "../errors.js";
import type { SourceSide } from "../SourceSide.js";

/** One challenge round: what the source asked and expects, and what the destination answered. */
export interface ChallengeExchange {
  request: ChallengeRequest;
  expectation: ChallengeExpectation;
  response: ChallengeResponse;
}

/** The chunks of an exchange whose answers were not equal (different, missing or unanswered). */
export function changedChunks(exchange: ChallengeExchange): number[] {
  return verifyResponse(exchange)
    .chunks.filter((c) => c.status !== "equal")
    .map((c) => c.index);
}

/**
 * The verify phase's verdict on one exchange over the object just written: any chunk not
 * equal fails the object.
 *
 * @throws VerificationFailedError naming the written key and the chunks that differ
 */
export function checkWritten(exchange: ChallengeExchange): void {
  const bad = changedChunks(exchange);
  if (bad.length > 0) throw new VerificationFailedError(exchange.request.destination.key, bad);
}

/**
 * Challenges the destination for `indices` where both sides live in one process: the
 * source digests and asks, the destination answers from its own bytes. `current` is the
 * destination's head from a moment ago (its HEAD, or the write just made).
 */
export async function exchange(
  sourceSide: SourceSide,
  destinationSide: DestinationSide,
  source: ObjectIdentity,
  destination: Pick<ObjectHead, "key" | "etag" | "size">,
  plan: ChunkPlan,
  indices: number[],
): Promise<ChallengeExchange> {
  const id = challenged(destinationSide, destination);
  const { request, expectation } = await sourceSide.challenge(source, id, plan, indices);
  const response = await destinationSide.answer(request, destination);
  return { request, expectation, response };
}

/**
 * The chunks {@link exchange} would find changed, where both sides hold the digests of every
 * challenged chunk (their indexes answered for the versions `source` and `destination` name):
 * the source draws a fresh nonce and keeps the keyed values it expects, the destination answers
 * from its own digests, the source compares; no message is built and no event-loop turn taken
 * (see `HeldChallenge`). Undefined where the destination would have to read, or the run's
 * variant is `decode`: then {@link exchange}.
 */
export function changedHeld(
  sourceSide: SourceSide,
  destinationSide: DestinationSide,
  source: ObjectIdentity,
  destination: Pick<ObjectHead, "key" | "etag" | "size">,
  plan: ChunkPlan,
  indices: number[],
): number[] | undefined {
  const held = sourceSide.challengeHeld(source, challenged(destinationSide, destination), plan, indices);
  const answers = held && destinationSide.answerHeld(held.challenge, destination);
  return answers && changedHeldChunks(held.challenge, held.expected, answers);
}

/**
 * Whether every chunk of every pair is equal, by one batch (see `HeldBatch`) where both sides
 * hold the digests of each pair's chunks and each destination object is its plan's size: true
 * where the values are equal, false where they differ (some chunk of some pair differs: each
 * pair is then challenged alone, see {@link changedHeld}), undefined where a side cannot answer
 * from what it holds or the run's variant is `decode`.
 */
export function unchangedHeldBatch(
  sourceSide: SourceSide,
  destinationSide: DestinationSide,
  pairs: readonly {
    source: ObjectIdentity;
    destination: Pick<ObjectHead, "key" | "etag" | "size">;
    plan: ChunkPlan;
  }[],
): boolean | undefined {
  const held = sourceSide.challengeHeldBatch(
    pairs.map(({ source, destination, plan }) => ({
      source,
      destination: challenged(destinationSide, destination),
      plan,
    })),
  );
  if (held === undefined) return undefined;
  const answer = destinationSide.answerHeldBatch(
    held.batch,
    pairs.map((pair) => pair.destination),
  );
  return answer && heldBatchEqual(held.expected, answer);
}

/** The destination version a challenge names: `destination` in the bucket its side serves. */
function challenged(side: DestinationSide, destination: Pick<ObjectHead, "key" | "etag">): ObjectIdentity {
  return { bucket: side.options.store.bucket, key: destination.key, etag: destination.etag };
}
