import { allChunks, type ChunkPlan, chunkRange, validatePlan } from "../chunkPlan.js";
import { DIGEST_ALGORITHMS, type DigestAlgorithm } from "../digest.js";
import { ValidationError } from "../errors.js";
import { fittingIdentity, keepCheckedRequest, parseChallengeRequest } from "../messages.js";
import { toBase64url } from "./base64url.js";
import { checkDigest } from "./checkDigest.js";
import { contextFor } from "./contextFor.js";
import { drawBytes, drawNonce, type RandomSource, secureRandomBytes } from "./drawNonce.js";
import { encodeAnswer } from "./encodeAnswer.js";
import { checkSecret } from "./pairingSecret.js";
import { deriveChunkKey, deriveChunkNonce, IV_BYTES, sealChunkNonce } from "./sealChunkNonce.js";
import {
  type ChallengeExpectation,
  type ChallengeRequest,
  DIRECTIONS,
  type Direction,
  type ObjectIdentity,
  VARIANTS,
  type Variant,
} from "./types.js";

/** Request ids are 128 random bits: unguessable and never reused. */
const REQUEST_ID_BYTES = 16;

/** Input of {@link createChallenge}. */
export interface CreateChallengeParams {
  /** The pairing secret shared by the two data planes. */
  secret: Buffer;
  variant: Variant;
  algorithm: DigestAlgorithm;
  /** Defaults to `source-to-destination`. */
  direction?: Direction;
  source: ObjectIdentity;
  destination: ObjectIdentity;
  /** The source object's plan. */
  plan: ChunkPlan;
  /** Chunks to challenge, any order; defaults to every chunk of the plan. */
  indices?: number[];
  /** The source's digest of each challenged chunk (more entries are ignored). */
  digests: ReadonlyMap<number, Buffer>;
  /** Randomness for the request id, nonce and IVs; the CSPRNG unless a test injects one. */
  random?: RandomSource;
}

function challengedIndices(plan: ChunkPlan, indices: number[] | undefined): number[] {
  if (indices === undefined) return allChunks(plan);
  // Most callers ask for indices in order already (every chunk, or the changed ones).
  if (ascendingWithin(indices, plan.count)) return indices.slice();
  const unique = [...new Set(indices)].sort((a, b) => a - b);
  for (const index of unique) {
    if (!Number.isInteger(index) || index < 0 || index >= plan.count) {
      throw new ValidationError("indices", `chunk indices from 0 to ${plan.count - 1}`);
    }
  }
  return unique;
}

/** Whether `indices` are chunk indices below `count`, strictly ascending. */
export function ascendingWithin(indices: readonly number[], count: number): boolean {
  let previous = -1;
  for (const index of indices) {
    if (!Number.isInteger(index) || index <= previous || index >= count) return false;
    previous = index;
  }
  return true;
}

/**
 * Source side, step one: builds the request to send to the destination and
 * the expectation to keep until its response comes back.
 *
 * - `encode`: draws a 256-bit nonce (sent in the request) and expects, per chunk,
 *   `HMAC-SHA256(K, context || nonce || digest)`.
 * - `decode`: draws a 256-bit nonce that never leaves this side, derives a chunk
 *   nonce per chunk, seals it under a key derived from this side's digest and
 *   sends only the sealed values; it expects the chunk nonces back.
 *
 * Neither output holds a digest. The expectation lets anyone who reads it pass
 * the challenge, so keep it on the source side.
 *
 * @throws ValidationError for a short secret, an invalid plan, an index outside the plan or a missing or mis-sized digest
 */
export function createChallenge(params: CreateChallengeParams): {
  request: ChallengeRequest;
  expectation: ChallengeExpectation;
} {
  const secret = checkSecret(params.secret);
  if (!VARIANTS.includes(params.variant))
    throw new ValidationError("variant", `one of ${VARIANTS.join(", ")}`);
  if (!DIGEST_ALGORITHMS.includes(params.algorithm)) {
    throw new ValidationError("algorithm", `one of ${DIGEST_ALGORITHMS.join(", ")}`);
  }
  const random = params.random ?? secureRandomBytes;
  const plan = validatePlan(params.plan);
  const indices = challengedIndices(plan, params.indices);
  const base = {
    direction: params.direction ?? "source-to-destination",
    algorithm: params.algorithm,
    source: params.source,
    destination: params.destination,
  } as const;
  const id = toBase64url(drawBytes(REQUEST_ID_BYTES, random));
  const nonce = drawNonce(random);

  const values: ChallengeExpectation["values"] = [];
  const sealed: NonNullable<ChallengeRequest["sealed"]> = [];
  for (const index of indices) {
    const ctx = contextFor(base, chunkRange(plan, index));
    const digest = checkDigest(params.digests.get(index), params.algorithm, `digests[${index}]`);
    if (params.variant === "encode") {
      values.push({ index, value: toBase64url(encodeAnswer(secret, ctx, nonce, digest)) });
    } else {
      const chunkNonce = deriveChunkNonce(nonce, ctx);
      const iv = drawBytes(IV_BYTES, random);
      const ct = sealChunkNonce(deriveChunkKey(secret, ctx, digest), chunkNonce, iv);
      sealed.push({ index, iv: toBase64url(iv), ct: toBase64url(ct) });
      values.push({ index, value: toBase64url(chunkNonce) });
    }
  }

  const request: ChallengeRequest = {
    v: 1,
    id,
    variant: params.variant,
    ...base,
    plan: { size: plan.size, chunkSize: plan.chunkSize, count: plan.count },
    indices,
    ...(params.variant === "encode" ? { nonce: toBase64url(nonce) } : { sealed }),
  };
  return {
    request: checkedRequest(request),
    expectation: { v: 1, requestId: id, variant: params.variant, values },
  };
}

/**
 * The same checks the destination will apply, so a request it would refuse (a 2 KiB key, an
 * unknown direction) fails here, naming the field, instead of on the other side. Everything
 * but the direction and the two identities was checked above or drawn here in its form, so
 * only those are looked at; anything they would fail goes to the schema, which names it.
 * The request is kept frozen as checked, so the destination side of this process need not
 * check it again.
 */
function checkedRequest(request: ChallengeRequest): ChallengeRequest {
  const source = fittingIdentity(request.source);
  const destination = fittingIdentity(request.destination);
  if (source && destination && DIRECTIONS.includes(request.direction))
    return keepCheckedRequest({ ...request, source, destination });
  return keepCheckedRequest(parseChallengeRequest(request));
}
