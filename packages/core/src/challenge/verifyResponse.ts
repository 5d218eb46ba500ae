import { chunkRange } from "../chunkPlan.js";
import { ValidationError } from "../errors.js";
import { fromBase64url } from "./base64url.js";
import { constantTimeEqual } from "./constantTimeEqual.js";
import { NONCE_BYTES } from "./drawNonce.js";
import type {
  ChallengeExpectation,
  ChallengeRequest,
  ChallengeResponse,
  ChunkVerdict,
  CompareResult,
} from "./types.js";

/** Input of {@link verifyResponse}. */
export interface VerifyResponseParams {
  /** The request this side sent. */
  request: ChallengeRequest;
  /** The expectation stored when the request was made. */
  expectation: ChallengeExpectation;
  /** The destination's response, as received (it may be anything). */
  response: ChallengeResponse;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The expected values by index, after checking that the expectation belongs to the request. */
function expectedValues(request: ChallengeRequest, expectation: ChallengeExpectation): Map<number, Buffer> {
  // These two come from this side's own storage; a mismatch is a bug or corrupted state, not a bad peer.
  if (expectation.requestId !== request.id) {
    throw new ValidationError("expectation.requestId", "the id of the request being verified");
  }
  if (expectation.variant !== request.variant) {
    throw new ValidationError("expectation.variant", `the request's variant (${request.variant})`);
  }
  const values = new Map<number, Buffer>();
  for (const entry of expectation.values) {
    const value = fromBase64url(entry.value, NONCE_BYTES);
    if (value === undefined)
      throw new ValidationError(`expectation.values[${entry.index}]`, "base64url of 32 bytes");
    values.set(entry.index, value);
  }
  if (values.size !== request.indices.length || !request.indices.every((index) => values.has(index))) {
    throw new ValidationError("expectation.values", "one value per challenged index");
  }
  return values;
}

/**
 * Source side, step two: compares the destination's answers with the
 * expectation, in constant time per chunk.
 *
 * Nothing the destination sends can make this throw. A response for another
 * request or another destination version (ETag) makes every chunk `differs`;
 * a missing, repeated, malformed or wrong answer makes that chunk `differs`.
 * A chunk is `missing` only when the destination says so and its range really
 * ends past the destination's size as reported in the response; `differs` is
 * always the safe verdict, since it only costs a transfer.
 *
 * @throws ValidationError only when `expectation` does not belong to `request` (this side's own state)
 */
export function verifyResponse(params: VerifyResponseParams): CompareResult {
  const { request, expectation } = params;
  const expected = expectedValues(request, expectation);
  const allDiffer = (): CompareResult => ({
    chunks: request.indices.map((index) => ({ index, status: "differs" })),
    destinationExtraBytes: 0,
  });

  // Treated as unknown input: the response crossed a trust boundary and may not have been parsed.
  const response: unknown = params.response;
  if (!isRecord(response) || response.v !== 1 || response.requestId !== request.id) return allDiffer();
  const destination = response.destination;
  if (!isRecord(destination) || destination.etag !== request.destination.etag) return allDiffer();
  const size = destination.size;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) return allDiffer();
  if (!Array.isArray(response.answers)) return allDiffer();

  const answers = new Map<number, unknown>();
  const repeated = new Set<number>();
  for (const answer of response.answers as unknown[]) {
    if (!isRecord(answer) || typeof answer.index !== "number") continue;
    if (answers.has(answer.index)) repeated.add(answer.index);
    answers.set(answer.index, answer);
  }

  const chunks = request.indices.map((index): ChunkVerdict => {
    const answer = answers.get(index);
    if (!isRecord(answer) || repeated.has(index)) return { index, status: "differs" };
    const range = chunkRange(request.plan, index);
    const inside = range.offset + range.length <= size;
    if (answer.missing === true && answer.value === undefined) {
      return { index, status: inside ? "differs" : "missing" };
    }
    if (!inside || answer.missing !== undefined) return { index, status: "differs" };
    const value = fromBase64url(answer.value, NONCE_BYTES);
    const want = expected.get(index);
    const equal = value !== undefined && want !== undefined && constantTimeEqual(value, want);
    return { index, status: equal ? "equal" : "differs" };
  });

  return { chunks, destinationExtraBytes: Math.max(0, size - request.plan.size) };
}
