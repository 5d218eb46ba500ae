import { createHmac } from "node:crypto";
import { fromBase64url, toBase64url } from "../challenge/base64url.js";
import { constantTimeEqual } from "../challenge/constantTimeEqual.js";
import {
  drawBytes,
  drawNonce,
  NONCE_BYTES,
  type RandomSource,
  secureRandomBytes,
} from "../challenge/drawNonce.js";
import { type AuditContext, encodeAuditContext } from "../challenge/encodeContext.js";
import { checkSecret } from "../challenge/pairingSecret.js";
import {
  type Direction,
  type ObjectIdentity,
  type PairRequest,
  PROTOCOL_VERSION,
} from "../challenge/types.js";
import { ValidationError } from "../errors.js";
import type { SampledRange } from "./sampler.js";

/** Keyed hashing of one range's bytes as they stream by. */
export interface PossessionHasher {
  update(bytes: Uint8Array): void;
  /** The 32-byte possession value; call once, after every byte of the range. */
  value(): Buffer;
}

/**
 * The possession value of one range: `HMAC-SHA256(K, encodeAuditContext(ctx) || nonce || bytes)`.
 * Unlike a challenge answer it is computed over the bytes themselves, never over a digest a
 * side could have kept: with a fresh nonce no stored value answers it, so only a side that
 * reads the range now (and holds the pairing secret) gets the source's value. The
 * concatenation is unambiguous: the context is self-delimiting and states the range's length,
 * the nonce has a fixed length.
 *
 * @throws ValidationError for a short secret or a nonce that is not 32 bytes
 */
export function possessionHasher(secret: Uint8Array, ctx: AuditContext, nonce: Uint8Array): PossessionHasher {
  const key = checkSecret(secret);
  if (!(nonce instanceof Uint8Array) || nonce.byteLength !== NONCE_BYTES) {
    throw new ValidationError("nonce", `${NONCE_BYTES} bytes`);
  }
  const mac = createHmac("sha256", key).update(encodeAuditContext(ctx)).update(nonce);
  let received = 0;
  return {
    update(bytes) {
      received += bytes.byteLength;
      mac.update(bytes);
    },
    value() {
      // A short read hashed as if whole would be a wrong answer from a right side.
      if (received !== ctx.length) {
        throw new ValidationError("bytes", `${ctx.length} bytes of the range, got ${received}`);
      }
      return mac.digest();
    },
  };
}

/** What the source asks of the destination for one object: fresh nonce (one per audit run), both identities, ranges. */
export interface AuditRequest extends PairRequest {
  /** Ranges of the source object, ascending and not overlapping. */
  ranges: SampledRange[];
}

/** The destination's answer: a value per range, or `missing` for a range past its end. */
export interface AuditResponse {
  v: 1;
  requestId: string;
  destination: { etag: string; size: number };
  answers: { offset: number; value?: string; missing?: true }[];
}

/** The verdict on one audited range. */
export interface RangeVerdict {
  offset: number;
  length: number;
  status: "equal" | "differs" | "missing";
}

/** The nonce of one audit run: every object's request carries it. */
export function drawAuditNonce(random: RandomSource = secureRandomBytes): string {
  return toBase64url(drawNonce(random));
}

/**
 * Builds the request for one object pair.
 *
 * @throws ValidationError for ranges that are not ascending, disjoint, non-empty byte ranges
 */
export function auditRequest(
  params: {
    nonce: string;
    direction?: Direction;
    source: ObjectIdentity;
    destination: ObjectIdentity;
    ranges: SampledRange[];
  },
  random: RandomSource = secureRandomBytes,
): AuditRequest {
  let end = 0;
  for (const [i, r] of params.ranges.entries()) {
    const ok =
      Number.isSafeInteger(r.offset) && Number.isSafeInteger(r.length) && r.length > 0 && r.offset >= end;
    if (!ok) throw new ValidationError(`ranges[${i}]`, "ascending, disjoint, non-empty byte ranges");
    end = r.offset + r.length;
  }
  if (fromBase64url(params.nonce, NONCE_BYTES) === undefined) {
    throw new ValidationError("nonce", `base64url of ${NONCE_BYTES} bytes`);
  }
  return {
    v: 1,
    id: toBase64url(drawBytes(16, random)),
    nonce: params.nonce,
    direction: params.direction ?? "source-to-destination",
    source: params.source,
    destination: params.destination,
    ranges: params.ranges.map((r) => ({ offset: r.offset, length: r.length })),
  };
}

/** The context of one range of a request, built alike on both sides. */
export function auditContext(request: AuditRequest, range: SampledRange): AuditContext {
  return {
    version: PROTOCOL_VERSION,
    direction: request.direction,
    source: request.source,
    destination: request.destination,
    offset: range.offset,
    length: range.length,
  };
}

/** A hasher for one range of `request`, on either side. */
export function rangeHasher(
  secret: Uint8Array,
  request: AuditRequest,
  range: SampledRange,
): PossessionHasher {
  const nonce = fromBase64url(request.nonce, NONCE_BYTES);
  if (nonce === undefined) throw new ValidationError("nonce", `base64url of ${NONCE_BYTES} bytes`);
  return possessionHasher(secret, auditContext(request, range), nonce);
}

/** The ranges of `request` the destination can answer from an object of `size` bytes. */
export function rangesWithin(request: AuditRequest, size: number): SampledRange[] {
  return request.ranges.filter((r) => r.offset + r.length <= size);
}

/** The destination's response from its values of the ranges inside its object. */
export function auditResponse(
  request: AuditRequest,
  destination: { etag: string; size: number },
  values: ReadonlyMap<number, Buffer>,
): AuditResponse {
  return {
    v: 1,
    requestId: request.id,
    destination: { etag: destination.etag, size: destination.size },
    answers: request.ranges.map((r) => {
      const value = values.get(r.offset);
      return value === undefined
        ? { offset: r.offset, missing: true }
        : { offset: r.offset, value: toBase64url(value) };
    }),
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Source side: compares the destination's answers with the source's own values, each in
 * constant time. Nothing the destination sends can make this throw: a response for another
 * request or version, or a malformed or repeated answer, makes its ranges `differs`; a range
 * is `missing` only when it really ends past the destination's size.
 */
export function compareAudit(
  request: AuditRequest,
  expected: ReadonlyMap<number, Buffer>,
  response: unknown,
): RangeVerdict[] {
  const differs = () => request.ranges.map((r): RangeVerdict => ({ ...r, status: "differs" }));
  if (!isRecord(response) || response.v !== 1 || response.requestId !== request.id) return differs();
  const destination = response.destination;
  if (!isRecord(destination) || destination.etag !== request.destination.etag) return differs();
  const size = destination.size;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) return differs();
  if (!Array.isArray(response.answers)) return differs();
  const answers = new Map<number, Record<string, unknown>>();
  const repeated = new Set<number>();
  for (const answer of response.answers as unknown[]) {
    if (!isRecord(answer) || typeof answer.offset !== "number") continue;
    if (answers.has(answer.offset)) repeated.add(answer.offset);
    answers.set(answer.offset, answer);
  }
  return request.ranges.map((r): RangeVerdict => {
    const answer = answers.get(r.offset);
    const inside = r.offset + r.length <= size;
    if (answer === undefined || repeated.has(r.offset)) return { ...r, status: "differs" };
    if (answer.missing === true && answer.value === undefined)
      return { ...r, status: inside ? "differs" : "missing" };
    const value = fromBase64url(answer.value, 32);
    const want = expected.get(r.offset);
    const equal = inside && value !== undefined && want !== undefined && constantTimeEqual(value, want);
    return { ...r, status: equal ? "equal" : "differs" };
  });
}
