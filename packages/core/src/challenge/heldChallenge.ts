import { type ChunkPlan, chunkRange } from "../chunkPlan.js";
import type { DigestAlgorithm } from "../digest.js";
import { ValidationError } from "../errors.js";
import { fitsInside } from "./chunksToAnswer.js";
import { constantTimeEqual } from "./constantTimeEqual.js";
import { contextFor } from "./contextFor.js";
import { ascendingWithin } from "./createChallenge.js";
import { drawNonce, type RandomSource } from "./drawNonce.js";
import { encodeAnswer } from "./encodeAnswer.js";
import type { Direction, ObjectIdentity } from "./types.js";

/** The digest of each chunk a side holds, by chunk index (a Map, or an entry's digests looked up). */
export interface HeldDigests {
  get(index: number): Buffer | undefined;
}

/**
 * An `encode` challenge whose two sides answer in one process, each from the digests it holds
 * (the direct engine, where both indexes answered for a pair): per chunk the same value
 * {@link createChallenge} expects and {@link answerChallenge} returns,
 * `HMAC-SHA256(K, context || nonce || digest)` under a fresh nonce, without what carries them
 * between processes (request ids, base64url, the schema checks of a message from elsewhere).
 * It holds no digest; the values the source expects stay with the source.
 */
export interface HeldChallenge {
  readonly direction: Direction;
  readonly algorithm: DigestAlgorithm;
  readonly source: ObjectIdentity;
  readonly destination: ObjectIdentity;
  readonly plan: ChunkPlan;
  /** Challenged chunk indices, ascending. */
  readonly indices: readonly number[];
  /** 32 bytes from the CSPRNG, drawn for this challenge only. */
  readonly nonce: Buffer;
}

/**
 * Source side: a fresh challenge of `indices` (ascending chunk indices of `plan`) and the
 * value it expects for each, from this side's `digests`.
 *
 * @throws ValidationError for an index outside the plan, a missing or mis-sized digest, a short secret
 */
export function holdChallenge(params: {
  secret: Buffer;
  algorithm: DigestAlgorithm;
  source: ObjectIdentity;
  destination: ObjectIdentity;
  plan: ChunkPlan;
  indices: readonly number[];
  digests: HeldDigests;
  random?: RandomSource;
}): { challenge: HeldChallenge; expected: Buffer[] } {
  const { secret, algorithm, source, destination, plan, indices, digests } = params;
  if (!ascendingWithin(indices, plan.count))
    throw new ValidationError("indices", `ascending chunk indices from 0 to ${plan.count - 1}`);
  const challenge: HeldChallenge = {
    direction: "source-to-destination",
    algorithm,
    source,
    destination,
    plan,
    indices,
    nonce: drawNonce(params.random),
  };
  const expected = indices.map((index) => {
    const ctx = contextFor(challenge, chunkRange(plan, index));
    // A missing or mis-sized digest is refused there.
    return encodeAnswer(secret, ctx, challenge.nonce, digests.get(index) as Uint8Array);
  });
  return { challenge, expected };
}

/**
 * Destination side: its answer to each challenged chunk, from its own `digests` of the object
 * of `size` bytes it holds; undefined for a chunk that lies past its end (`missing`).
 *
 * @throws ValidationError for a missing or mis-sized digest of a chunk inside the object
 */
export function answerHeldChallenge(
  secret: Buffer,
  challenge: HeldChallenge,
  size: number,
  digests: HeldDigests,
): (Buffer | undefined)[] {
  return challenge.indices.map((index) => {
    const range = chunkRange(challenge.plan, index);
    if (!fitsInside(range, size)) return undefined;
    const ctx = contextFor(challenge, range);
    return encodeAnswer(secret, ctx, challenge.nonce, digests.get(index) as Uint8Array);
  });
}

/**
 * Source side: the challenged chunks whose answers are not the expected values (compared in
 * constant time), a chunk past the destination's end among them, as {@link verifyResponse}
 * finds them changed.
 */
export function changedHeldChunks(
  challenge: HeldChallenge,
  expected: readonly Buffer[],
  answers: readonly (Buffer | undefined)[],
): number[] {
  const changed: number[] = [];
  challenge.indices.forEach((index, i) => {
    const answer = answers[i];
    const want = expected[i];
    if (answer === undefined || want === undefined || !constantTimeEqual(answer, want)) changed.push(index);
  });
  return changed;
}
