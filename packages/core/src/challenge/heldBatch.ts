import { type ChunkPlan, chunkRange } from "../chunkPlan.js";
import type { DigestAlgorithm } from "../digest.js";
import { ValidationError } from "../errors.js";
import { checkDigest } from "./checkDigest.js";
import { constantTimeEqual } from "./constantTimeEqual.js";
import { contextFor } from "./contextFor.js";
import { drawNonce, type RandomSource } from "./drawNonce.js";
import { macUnder } from "./encodeAnswer.js";
import { ContextWriter, writeContext } from "./encodeContext.js";
import type { HeldDigests } from "./heldChallenge.js";
import { checkSecret } from "./pairingSecret.js";
import type { Direction, ObjectIdentity } from "./types.js";

/** One pair of a {@link HeldBatch}: every chunk of `plan` is challenged. */
export interface HeldPair {
  readonly source: ObjectIdentity;
  readonly destination: ObjectIdentity;
  readonly plan: ChunkPlan;
}

/**
 * Many pairs challenged at once in one process (the direct engine's pairs that both indexes
 * answer for, as a listing hands them over): one fresh nonce, and one keyed value per side,
 *   HMAC-SHA256(K, label || pair count || nonce || for each pair, for each chunk: context || digest)
 * where each chunk's context is the one its own challenge binds (see `encodeContext`). Equal
 * values mean every chunk of every pair is equal; where they differ, each pair is challenged
 * alone (see `holdChallenge`), which finds the chunks. The label keeps a batch's value from
 * ever standing for one chunk's answer; the contexts are self-delimiting and each digest's
 * length is fixed by the algorithm they name, so no two batches encode alike.
 */
export interface HeldBatch {
  readonly direction: Direction;
  readonly algorithm: DigestAlgorithm;
  readonly pairs: readonly HeldPair[];
  /** 32 bytes from the CSPRNG, drawn for this batch only. */
  readonly nonce: Buffer;
}

const BATCH_DOMAIN = "chunksync/held-batch";
/** Where each batch's message is written: values are made one at a time, synchronously. */
const message = new ContextWriter();

/** The keyed value over `batch` from one side's digests of each pair's chunks. */
function batchValue(secret: Uint8Array, batch: HeldBatch, digests: (pair: number) => HeldDigests): Buffer {
  const key = checkSecret(secret);
  message.reset();
  message.string(BATCH_DOMAIN, "domain");
  message.u64(batch.pairs.length, "pairs");
  message.raw(batch.nonce);
  const { direction, algorithm } = batch;
  batch.pairs.forEach((pair, i) => {
    const held = digests(i);
    const request = { direction, algorithm, source: pair.source, destination: pair.destination };
    for (let index = 0; index < pair.plan.count; index++) {
      writeContext(message, contextFor(request, chunkRange(pair.plan, index)));
      message.raw(checkDigest(held.get(index), batch.algorithm, "digest"));
    }
  });
  return macUnder(key).mac(message.bytes());
}

/**
 * Source side: a fresh batch of `pairs` and the value it expects, from this side's digests.
 *
 * @throws ValidationError for no pair, a missing or mis-sized digest, a short secret
 */
export function holdBatch(params: {
  secret: Buffer;
  algorithm: DigestAlgorithm;
  pairs: readonly HeldPair[];
  digests: (pair: number) => HeldDigests;
  random?: RandomSource;
}): { batch: HeldBatch; expected: Buffer } {
  const { secret, algorithm, pairs, digests } = params;
  if (pairs.length === 0) throw new ValidationError("pairs", "at least one pair");
  const batch: HeldBatch = {
    direction: "source-to-destination",
    algorithm,
    pairs,
    nonce: drawNonce(params.random),
  };
  return { batch, expected: batchValue(secret, batch, digests) };
}

/**
 * Destination side: its value for `batch`, from its own digests of each pair's chunks (each
 * destination object the size of its pair's plan: the caller leaves other pairs out).
 *
 * @throws ValidationError for a missing or mis-sized digest
 */
export function answerHeldBatch(
  secret: Buffer,
  batch: HeldBatch,
  digests: (pair: number) => HeldDigests,
): Buffer {
  return batchValue(secret, batch, digests);
}

/** Source side: whether the destination's value is the one expected (compared in constant time). */
export function heldBatchEqual(expected: Buffer, answer: Buffer | undefined): boolean {
  return answer !== undefined && constantTimeEqual(answer, expected);
}
