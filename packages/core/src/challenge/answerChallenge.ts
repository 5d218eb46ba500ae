import { chunkRange } from "../chunkPlan.js";
import { ValidationError } from "../errors.js";
import { fittingEtag, parseChallengeRequest, parseChallengeResponse } from "../messages.js";
import { fromBase64url, toBase64url } from "./base64url.js";
import { checkDigest } from "./checkDigest.js";
import { fitsInside } from "./chunksToAnswer.js";
import { contextFor } from "./contextFor.js";
import { NONCE_BYTES } from "./drawNonce.js";
import { encodeAnswer } from "./encodeAnswer.js";
import { checkSecret } from "./pairingSecret.js";
import { deriveChunkKey, IV_BYTES, openChunkNonce } from "./sealChunkNonce.js";
import type { ChallengeRequest, ChallengeResponse } from "./types.js";

/** Input of {@link answerChallenge}. */
export interface AnswerChallengeParams {
  /** The pairing secret shared by the two data planes. */
  secret: Buffer;
  /** The request as received; it is checked here, so raw input is safe. */
  request: ChallengeRequest;
  /** The destination object the digests were computed on (its ETag as read, and its size). */
  destination: { etag: string; size: number };
  /** The destination's digest of every range {@link chunksToAnswer} returned. */
  digests: ReadonlyMap<number, Buffer>;
}

/**
 * Destination side, step two: answers every challenged chunk from the
 * destination's own digests, or `missing` for chunks past its end. A chunk
 * whose data differs still gets an answer (unrelated bytes), so the answer
 * reveals nothing to the destination and only the source can tell.
 *
 * @throws InvalidMessageError for a malformed request
 * @throws ValidationError for a short secret, an invalid destination, or a missing or mis-sized digest
 */
export function answerChallenge(params: AnswerChallengeParams): ChallengeResponse {
  const secret = checkSecret(params.secret);
  const request = parseChallengeRequest(params.request);
  const { etag, size } = params.destination;
  if (typeof etag !== "string" || etag.length === 0) throw new ValidationError("destination.etag", "an ETag");
  if (!Number.isSafeInteger(size) || size < 0)
    throw new ValidationError("destination.size", "a size in bytes");

  const nonce = request.variant === "encode" ? fromBase64url(request.nonce, NONCE_BYTES) : undefined;
  const sealed = request.sealed && new Map(request.sealed.map((entry) => [entry.index, entry]));

  const answers: ChallengeResponse["answers"] = request.indices.map((index) => {
    const range = chunkRange(request.plan, index);
    // Only a chunk wholly inside the destination is answered (see chunksToAnswer).
    if (!fitsInside(range, size)) return { index, missing: true };
    const digest = checkDigest(params.digests.get(index), request.algorithm, `digests[${index}]`);
    const ctx = contextFor(request, range);
    // The parsed request guarantees a well-formed nonce (encode) or one sealed entry per index (decode).
    if (request.variant === "encode")
      return { index, value: toBase64url(encodeAnswer(secret, ctx, nonce!, digest)) };
    const entry = sealed!.get(index)!;
    const iv = fromBase64url(entry.iv, IV_BYTES)!;
    const ct = fromBase64url(entry.ct, NONCE_BYTES)!;
    return { index, value: toBase64url(openChunkNonce(deriveChunkKey(secret, ctx, digest), iv, ct)) };
  });

  // A response the source would refuse (a 300-byte ETag) fails here. All but the ETag is made
  // here from the checked request (its id, its indices in order, 32-byte values), and the size
  // was checked above; an ETag outside the limits goes to the schema, which names it.
  const response: ChallengeResponse = { v: 1, requestId: request.id, destination: { etag, size }, answers };
  return fittingEtag(etag) ? response : parseChallengeResponse(response);
}
