import {
  allChunks,
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

/** At most this many challenges for one object's chunks in order (see {@link changedInOrder}). */
const ORDERED_WINDOWS = 64;

/**
 * The chunks of `plan` an {@link exchange} of every chunk finds changed, asked a window of
 * chunks at a time: every window's exchange starts at once, and each waits only for its own
 * chunks' reads (see `ReadAhead`), so that as the object's chunks are read in order, its first
 * are decided while the last are still read. After each window, in order, `decided` hears how
 * many chunks from the start are decided and which of them changed (sorted). The same reads and
 * verdict as one exchange; at most {@link ORDERED_WINDOWS} challenges. Every window settles
 * before the first failure is rethrown.
 */
export async function changedInOrder(
  sourceSide: SourceSide,
  destinationSide: DestinationSide,
  source: ObjectIdentity,
  destination: Pick<ObjectHead, "key" | "etag" | "size">,
  plan: ChunkPlan,
  decided: (count: number, changed: readonly number[]) => void,
): Promise<number[]> {
  const width = Math.max(1, Math.ceil(plan.count / ORDERED_WINDOWS));
  const all = allChunks(plan);
  const windows: number[][] = [];
  for (let first = 0; first < plan.count; first += width) windows.push(all.slice(first, first + width));
  const exchanges = windows.map((indices) => {
    const pending = exchange(sourceSide, destinationSide, source, destination, plan, indices);
    // Awaited in order below; a later window's failure is not an unhandled one meanwhile.
    pending.catch(() => {});
    return pending;
  });
  const changed: number[] = [];
  try {
    for (const [i, pending] of exchanges.entries()) {
      changed.push(...changedChunks(await pending));
      decided(windows[i]!.at(-1)! + 1, changed);
    }
  } catch (error) {
    await Promise.allSettled(exchanges);
    throw error;
  }
  return changed;
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
