import type { ChunkPlan } from "../chunkPlan.js";
import type { DigestAlgorithm } from "../digest.js";

/** Version of the challenge protocol; every message and derivation carries it. */
export const PROTOCOL_VERSION = 1;

/**
 * One version of one object. The challenge binds every answer to both objects'
 * identities, so an answer about one object cannot stand in for another.
 * `etag` is compared exactly as the store returned it (quotes included).
 */
export interface ObjectIdentity {
  bucket: string;
  key: string;
  etag: string;
  versionId?: string;
}

/** Which way data flows in this sync; part of every derivation so answers do not carry across. */
export type Direction = "source-to-destination" | "destination-to-source";

/** Every {@link Direction}. */
export const DIRECTIONS: readonly Direction[] = Object.freeze([
  "source-to-destination",
  "destination-to-source",
]);

/**
 * How the destination proves it holds a chunk:
 * - `encode`: it returns `HMAC(K, context || nonce || digest)` and the source recomputes it;
 * - `decode`: it decrypts a per-chunk nonce the source encrypted under a key derived from
 *   the source's digest, which only works when its own digest is the same.
 */
export type Variant = "encode" | "decode";

/** Every {@link Variant}. */
export const VARIANTS: readonly Variant[] = Object.freeze(["encode", "decode"]);

/** What the source sends the destination. Holds no digest and nothing derived from one. */
export interface ChallengeRequest {
  v: 1;
  /** Random 128-bit id, base64url; ties the response and the expectation to this request. */
  id: string;
  variant: Variant;
  algorithm: DigestAlgorithm;
  direction: Direction;
  source: ObjectIdentity;
  destination: ObjectIdentity;
  plan: ChunkPlan;
  /** Challenged chunk indices, sorted and unique. */
  indices: number[];
  /** `encode` only: 32 random bytes, base64url. */
  nonce?: string;
  /** `decode` only: one sealed chunk nonce per challenged index, in the same order. */
  sealed?: { index: number; iv: string; ct: string }[];
}

/** What the destination sends back. */
export interface ChallengeResponse {
  v: 1;
  requestId: string;
  /** The destination object the answers were computed on. */
  destination: { etag: string; size: number };
  /** One answer per challenged index: a 32-byte value (base64url), or `missing` when the chunk lies past the destination's end. */
  answers: { index: number; value?: string; missing?: true }[];
}

/**
 * What the source keeps between sending a request and checking the response:
 * the values a matching destination must return (`E` for `encode`, the chunk
 * nonces for `decode`). It never holds a raw digest, but anyone who reads it
 * can answer the request, so it must stay on the source side.
 */
export interface ChallengeExpectation {
  v: 1;
  requestId: string;
  variant: Variant;
  values: { index: number; value: string }[];
}

/** The outcome for one challenged chunk. */
export interface ChunkVerdict {
  index: number;
  /** `missing`: the chunk lies (partly) past the destination's end. */
  status: "equal" | "differs" | "missing";
}

/** The outcome of a challenge. */
export interface CompareResult {
  /** One verdict per challenged index, in request order. */
  chunks: ChunkVerdict[];
  /** How many bytes the destination has beyond the source's size (0 if it is not longer). */
  destinationExtraBytes: number;
}

/** What every request about one object pair starts with: its id, a fresh nonce, the direction and both identities. */
export interface PairRequest {
  v: 1;
  /** Random 128-bit id, base64url. */
  id: string;
  /** 32 random bytes, base64url, drawn per run (and object): no answer can be prepared in advance. */
  nonce: string;
  direction: Direction;
  source: ObjectIdentity;
  destination: ObjectIdentity;
}
