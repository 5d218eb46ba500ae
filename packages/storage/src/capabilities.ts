import type { DestinationTraits } from "@chunksync/core";
import type { WriteCondition } from "./ObjectStore.js";

/**
 * The write conditions one kind of write honours. True means the store enforces it: a lost
 * condition fails with PreconditionFailedError and a met one succeeds. False means the store
 * ignores the condition or refuses it outright, so a caller must not rely on it.
 */
export interface ConditionSupport {
  /** `If-None-Match: *`: the write fails when the key already exists. */
  ifNoneMatch: boolean;
  /** `If-Match: etag`: the write fails unless the key's current ETag is `etag`. */
  ifMatch: boolean;
}

/** Which conditions each visible write of the port enforces. */
export interface ConditionalWrites {
  put: ConditionSupport;
  /** MultipartUpload.complete (CompleteMultipartUpload). */
  complete: ConditionSupport;
  /** copyObject (CopyObject). */
  copy: ConditionSupport;
  /** A copy (copyObject or copyPart) whose source ref's ETag is stale fails instead of copying. */
  copySourceIfMatch: boolean;
}

/** The digests a store's server checks a written body against before it keeps it. */
export interface WriteChecksums {
  /**
   * A put or part sent with `contentMd5` (BodyDigest) is refused with BadDigestError, and
   * nothing becomes visible, when the bytes received have another MD5. Every S3-compatible
   * server validates Content-MD5; S3's additional checksums (x-amz-checksum-*) are not listed
   * here because Ceph RGW 16 neither checks nor keeps them.
   */
  contentMd5: boolean;
  /**
   * A put or part sent with `sha256` (BodyDigest) is refused with BadDigestError, and nothing
   * becomes visible, when the bytes received have another SHA-256: the server checks the payload
   * hash SigV4 signs (S3 answers XAmzContentSHA256Mismatch, as MinIO and Ceph RGW 16 do).
   */
  payloadSha256: boolean;
  /**
   * A put sent with `chunks` (BodyDigest) is refused with SignedChunksRefusedError, and nothing
   * becomes visible, at the first chunk whose bytes have another SHA-256 than the one its
   * signature chains: S3, MinIO and Ceph RGW 16 check SigV4's signed chunks. A server that does
   * not take them refuses the body the same way, before any is stored.
   */
  signedChunks: boolean;
}

/**
 * What a store can do, declared by each store (as tus-node-server's stores declare their
 * extensions): the engine asks here instead of assuming one server's behaviour.
 */
export interface StoreCapabilities {
  /** copyObject and copyPart copy bytes on the server, from this store or one it can read. */
  serverSideCopy: boolean;
  /**
   * A copy's source key with a `%` in it is read as that key: the server decodes the copy
   * source's percent escapes once, as S3 defines. Where false, the engine names no such key as a
   * copy source (`nameableAsCopySource` in the core).
   */
  copySourceEscapesReadOnce: boolean;
  multipart: {
    /** `resumeUpload` reopens an upload by id, so parts can be written by another process. */
    resumable: boolean;
  };
  conditionalWrites: ConditionalWrites;
  /** Tags written with an object (`ObjectAttributes.tagging`) are kept and read back by `tagging()`. */
  tagging: boolean;
  /** In a bucket that keeps versions, `head()` reports each write's own `versionId`. */
  versions: boolean;
  /** What the server verifies of each written body, so a write it accepted needs no read-back. */
  writeChecksums: WriteChecksums;
}

/** What the decision takes of a destination store's capabilities (both engines ask here). */
export function destinationTraits(capabilities: StoreCapabilities): DestinationTraits {
  const { writeChecksums, copySourceEscapesReadOnce } = capabilities;
  return {
    checksContentMd5: writeChecksums.contentMd5,
    checksSignedChunks: writeChecksums.signedChunks,
    copySourceEscapesReadOnce,
  };
}

/** The visible writes a condition can guard. */
export type ConditionalWrite = "put" | "complete" | "copy";

/** Whether `store` enforces `condition` on `write`, so that no HEAD before the write is needed. */
export function enforcesCondition(
  capabilities: StoreCapabilities,
  write: ConditionalWrite,
  condition: WriteCondition,
): boolean {
  const support = capabilities.conditionalWrites[write];
  return "ifMatch" in condition ? support.ifMatch : support.ifNoneMatch;
}
