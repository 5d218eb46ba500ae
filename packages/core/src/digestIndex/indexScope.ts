import { createHash, createHmac } from "node:crypto";
import type { DigestAlgorithm } from "../digest.js";

/**
 * What a side's digest index was made for. An index made for any other scope is foreign: its
 * digests are of other objects, other chunk boundaries or another algorithm, or it was made
 * under another pairing secret.
 */
export interface IndexScope {
  /** The storage the objects are on (an endpoint URL, or `aws` for AWS S3). */
  storage: string;
  bucket: string;
  /** The side's key prefix: directory form, "" for the whole bucket. */
  prefix: string;
  chunkSize: number;
  algorithm: DigestAlgorithm;
  /** {@link pairingTag} of the pairing secret. */
  pairing: string;
}

/**
 * A name for the pairing secret that reveals nothing of it: the first 8 bytes of an HMAC of a
 * fixed label under it. A new secret (a re-pairing) makes every index made under the old one foreign.
 */
export function pairingTag(secret: Buffer): string {
  return createHmac("sha256", secret)
    .update("chunksync digest index")
    .digest()
    .subarray(0, 8)
    .toString("hex");
}

/** A short, stable name for a scope: where its index lives under a shared index location. */
export function scopeName(scope: IndexScope): string {
  const canonical = JSON.stringify([
    scope.storage,
    scope.bucket,
    scope.prefix,
    scope.chunkSize,
    scope.algorithm,
    scope.pairing,
  ]);
  const hash = createHash("sha256").update(canonical).digest("hex").slice(0, 16);
  // The bucket in the name lets a person tell the directories apart.
  return `${scope.bucket.replace(/[^A-Za-z0-9.-]/g, "_")}-${hash}`;
}

/** Whether two scopes are the same. */
export function sameScope(a: IndexScope, b: IndexScope): boolean {
  return (
    a.storage === b.storage &&
    a.bucket === b.bucket &&
    a.prefix === b.prefix &&
    a.chunkSize === b.chunkSize &&
    a.algorithm === b.algorithm &&
    a.pairing === b.pairing
  );
}
