import type { Readable } from "node:stream";
import type { ObjectAttributes, WriteCondition } from "@chunksync/core";
import type { BodySink } from "./bodySink.js";
import type { StoreCapabilities } from "./capabilities.js";

// The attribute shape and the write condition belong to the core's decision; the port speaks them too.
/**
 * A write's body: bytes in memory, a stream, or pieces handed over one at a time. A piece of
 * such an iterable is the writer's again once the next piece (or the end) is asked for: by then
 * a store has sent or copied it, so a writer can read the next range into the same buffer.
 */
export type WriteBody = Buffer | Readable | AsyncIterable<Buffer>;

export type { ObjectAttributes, WriteCondition };

/** One entry of a listing. */
export interface ObjectSummary {
  key: string;
  size: number;
  etag: string;
  storageClass?: string;
  /**
   * When this version was written, in ms since the epoch as the server states it (whole
   * seconds in a HEAD, sometimes milliseconds in a listing: compare whole seconds).
   */
  lastModified?: number;
  /**
   * The version's ID, where the answer states one: a HEAD in a bucket that keeps or kept
   * versions, a listing asked for version IDs (see `ObjectReader.list`).
   */
  versionId?: string;
}

export interface ObjectHead extends ObjectSummary, ObjectAttributes {
  /** True for archive storage classes whose data cannot be read until restored. */
  archived: boolean;
  /**
   * The ETag is not the MD5 of the bytes even where it has the form of one: the object is
   * stored under SSE-KMS or SSE-C, whose ETags S3 makes unique to the write.
   */
  etagNotMd5?: true;
}

/**
 * Whether a bucket keeps versions, as GetBucketVersioning states it: `unversioned` for a bucket
 * versioning was never enabled on (a bucket cannot return to it once enabled, only be suspended).
 */
export type BucketVersioning = "unversioned" | "enabled" | "suspended";

/** Options applied to everything written on the destination side. */
export interface WriteOptions {
  storageClass?: string;
  serverSideEncryption?: "AES256" | "aws:kms" | "aws:kms:dsse";
  kmsKeyId?: string;
  /** JSON of the KMS encryption context; sent base64-encoded as S3 expects. */
  kmsEncryptionContext?: string;
}

export interface ByteRange {
  offset: number;
  length: number;
}

/** A pinned object version on some store: copy sources and reads name one. */
export interface ObjectVersionRef {
  bucket: string;
  key: string;
  etag: string;
  /**
   * The version a copy from it copies (see `versionPin` in the core), whatever version is
   * current by then; absent, the current one, which its ETag pins only where the store
   * enforces x-amz-copy-source-if-match (`capabilities.conditionalWrites.copySourceIfMatch`).
   */
  versionId?: string;
  /** SSE-C key of the source object, resent as the copy-source key. */
  sseCustomerKey?: Buffer;
}

/**
 * What the writer knows of a body before sending it, so that the server storing it can check
 * the bytes it received (where `capabilities.writeChecksums` says it does). A caller computes
 * it while reading the body (see `collectDigested` in the core); with a Buffer body and no
 * digest, the S3 adapter computes the MD5 itself.
 */
export interface BodyDigest {
  /** Base64 of the body's 16-byte MD5, sent as Content-MD5. */
  contentMd5?: string;
  /**
   * Hex of the body's SHA-256, signed as its payload hash (SigV4's x-amz-content-sha256) where
   * `capabilities.writeChecksums.payloadSha256` says the server checks it; sent instead of a
   * Content-MD5, so a writer that already hashes a part with SHA-256 computes no MD5 for it.
   */
  sha256?: string;
  /**
   * A body too long to hold whole, whose MD5 is not known before it is sent, checked chunk by
   * chunk: each piece of the body is one chunk, sent under a signature of its SHA-256 chained to
   * the one before (S3's STREAMING-AWS4-HMAC-SHA256-PAYLOAD), where
   * `capabilities.writeChecksums.signedChunks` says the server checks them. The server refuses
   * the body (SignedChunksRefusedError, nothing stored) at the first chunk whose bytes have
   * another SHA-256, as it refuses one it does not take in signed chunks at all.
   */
  chunks?: SignedChunks;
}

/** The chunks of a body sent in signed chunks (see {@link BodyDigest.chunks}). */
export interface SignedChunks {
  /** Each piece's length, in order: the length sent is computed from them before the body. */
  lengths: readonly number[];
  /** Piece `index`'s SHA-256, asked once that piece has come out of the body (its hashing done). */
  sha256(index: number): Buffer;
}

export interface CompletedPart {
  partNumber: number;
  etag: string;
}

/**
 * What a write's answer states of the version it made: its ETag, and its version ID where the
 * bucket keeps versions (S3 states "null" for one written while versioning is suspended).
 */
export interface Written {
  etag: string;
  versionId?: string;
}

export interface MultipartUpload {
  readonly key: string;
  readonly uploadId: string;
  /**
   * Uploads `length` bytes from `body` as part `partNumber` (1-based). With `digest`, a part
   * whose bytes arrive altered fails with BadDigestError and is not stored.
   */
  uploadPart(
    partNumber: number,
    body: WriteBody,
    length: number,
    signal?: AbortSignal,
    digest?: BodyDigest,
  ): Promise<CompletedPart>;
  /** Copies a byte range of `source` (pinned to its ETag) server-side as part `partNumber`. */
  copyPart(
    partNumber: number,
    source: ObjectVersionRef,
    range: ByteRange,
    signal?: AbortSignal,
  ): Promise<CompletedPart>;
  /**
   * Completes the upload under `condition`; a lost condition raises PreconditionFailedError
   * where the store declares it enforced (`capabilities.conditionalWrites.complete`).
   */
  complete(parts: CompletedPart[], condition: WriteCondition): Promise<Written>;
  /** Aborts the upload; never throws for an upload that is already gone. */
  abort(): Promise<void>;
}

export interface PendingUpload {
  key: string;
  uploadId: string;
  initiated?: Date;
}

/** What every store states about itself, for readers and writers alike. */
export interface StoreInfo {
  /** The bucket this store is bound to; copy-source references name it. */
  readonly bucket: string;
  /** What this store (and the server behind it) can do; the engine asks instead of assuming S3. */
  readonly capabilities: StoreCapabilities;
  /**
   * The latest time the server stated (its Date header, ms since the epoch, whole seconds),
   * or undefined before any response: the server's own clock, which its LastModified values
   * come from, so that times can be compared without trusting this machine's clock.
   */
  serverTime(): number | undefined;
}

/**
 * The reading half of the port, bound to one bucket: what a source side needs.
 * The engine never sees SDK types; adapters translate errors to StorageError subclasses.
 */
export interface ObjectReader extends StoreInfo {
  /**
   * A copy-source reference to `key` at `etag`, carrying whatever the store needs to read it
   * (an SSE-C key); pinned to `versionId` where that names a version a copy can pin (see
   * `versionPin` in the core).
   */
  ref(key: string, etag: string, versionId?: string): ObjectVersionRef;
  /**
   * Lists every object under `prefix`, page by page, in key order; with `startAfter`
   * (a full key), only the keys after it, so a paged listing can resume where it stopped;
   * with `pageSize`, at most that many keys per request (a probe asks for one). With
   * `versionIds`, each object's current version also states its ID (ListObjectVersions), so
   * that a digest index entry in a bucket that keeps versions needs no HEAD (see `entryNeedsHead`);
   * where the server or the identity refuses that listing, or a page of it is mostly older
   * versions (see `S3ObjectStore`), the objects (from there on) are listed without them: an
   * object listed with no `versionId` is one the listing did not name.
   */
  list(
    prefix: string,
    signal?: AbortSignal,
    startAfter?: string,
    pageSize?: number,
    versionIds?: boolean,
  ): AsyncIterable<ObjectSummary>;
  /** Metadata of `key`, or undefined when it does not exist. */
  head(key: string, signal?: AbortSignal): Promise<ObjectHead | undefined>;
  /** Streams `range` of `key`, failing with PreconditionFailedError unless its ETag is still `etag`. */
  read(key: string, range: ByteRange, etag: string, signal?: AbortSignal): Promise<Readable>;
  /**
   * Reads `range` of `key` into `sink` as {@link read} streams it, and resolves with the number
   * of bytes that came once the body has ended (the caller checks it against the range). Over
   * plain HTTP the S3 adapter reads the socket straight into `sink.into` (see PlainGets), the
   * cheapest way bytes reach the client.
   */
  readInto(
    key: string,
    range: ByteRange,
    etag: string,
    sink: BodySink,
    signal?: AbortSignal,
  ): Promise<number>;
  /**
   * Streams the first `length` bytes (fewer when the object is shorter) of whatever version
   * of `key` is current, with that version's head: one request where a HEAD and a pinned read
   * take two. Undefined when `key` does not exist.
   */
  readFirst(
    key: string,
    length: number,
    signal?: AbortSignal,
  ): Promise<{ head: ObjectHead; body: Readable } | undefined>;
  /**
   * As {@link readFirst}, with the bytes read into `sink` (see {@link readInto}); resolves once
   * they all came, with the number that did.
   */
  readFirstInto(
    key: string,
    length: number,
    sink: BodySink,
    signal?: AbortSignal,
  ): Promise<{ head: ObjectHead; landed: number } | undefined>;
  /** The object's tag set as a URL-encoded string, or undefined when it has none. */
  tagging(key: string): Promise<string | undefined>;
  /**
   * The bucket's versioning state (GetBucketVersioning): in a bucket that keeps or kept
   * versions, a listing cannot name the version it shows (see the digest index's `entryNeedsHead`).
   */
  versioning(signal?: AbortSignal): Promise<BucketVersioning>;
}

/**
 * The writing half of the port, bound to one bucket: what a destination side needs on top of
 * reading. Tags are written with the object (`ObjectAttributes.tagging`), or alone onto a
 * version that differs from its source in nothing else ({@link ObjectWriter.putTagging}).
 */
export interface ObjectWriter extends StoreInfo {
  /**
   * Writes a whole object in one request (for objects below the multipart threshold). With
   * `digest`, a body whose bytes arrive altered fails with BadDigestError and nothing is written.
   * Without `condition` the write replaces whatever is there (a digest index's own files).
   */
  put(
    key: string,
    body: WriteBody,
    length: number,
    attributes: ObjectAttributes,
    condition: WriteCondition | undefined,
    signal?: AbortSignal,
    digest?: BodyDigest,
  ): Promise<Written>;
  /**
   * Whether every copy this store has sent from a ref that names a version (see
   * ObjectVersionRef.versionId) went out naming it: false once the server refused one so (AWS
   * asks for s3:GetObjectVersion to copy a named version) and this store copies the current
   * version instead. The engine takes a copy as pinned to a version only while this holds.
   */
  copiesNameVersions(): boolean;
  /**
   * Whether this store's server refuses a copy whose source ref's ETag is stale
   * (x-amz-copy-source-if-match): true where `capabilities.conditionalWrites.copySourceIfMatch`
   * declares it; else found once, by a probe from `ref` (a part copy of its first byte under a
   * stale ETag, into an upload of `key` that is aborted at once), and remembered by this store.
   * AWS S3 enforces it; Ceph RGW 16 does not. A probe that fails answers false.
   */
  enforcesCopySourceIfMatch(key: string, ref: ObjectVersionRef, signal?: AbortSignal): Promise<boolean>;
  /** Server-side copy of a whole object (up to 5 GiB) from a store this one can read. */
  copyObject(
    source: ObjectVersionRef,
    key: string,
    attributes: ObjectAttributes,
    condition: WriteCondition,
    signal?: AbortSignal,
  ): Promise<Written>;
  createUpload(key: string, attributes: ObjectAttributes, signal?: AbortSignal): Promise<MultipartUpload>;
  /**
   * The multipart upload `uploadId` of `key`, created earlier (perhaps by another process):
   * a workflow creates an upload once, writes its parts in batches and completes it once.
   * `tagging` is the tag set it was created with: a store whose server drops it restates it on
   * completion, as for an upload it created itself. Present exactly when
   * `capabilities.multipart.resumable` is true.
   */
  resumeUpload?(key: string, uploadId: string, tagging?: string): MultipartUpload;
  /** In-progress multipart uploads under `prefix`. */
  listUploads(prefix: string, signal?: AbortSignal): AsyncIterable<PendingUpload>;
  /**
   * The uploads this store created whose completion or abort it has not seen answered: what a
   * stopped run may have left, named where the server cannot be asked. Where kept.
   */
  begunUploads?(): PendingUpload[];
  /**
   * How many CreateMultipartUpload requests this store has sent, answered or not: a listing of
   * uploads answered while it is 0 holds none this store made. Where kept.
   */
  uploadsCreated?(): number;
  /**
   * Aborts upload `uploadId` of `key`: true when this call aborted it, false when there was no
   * such upload (already completed or aborted, perhaps by the process that started it).
   */
  abortUpload(key: string, uploadId: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /**
   * Replaces the tag set of the version `target` names (its version ID where it has one, else
   * the current version) with `tagging`, or empties it where `tagging` is absent or empty. The
   * object's bytes and other attributes stay; AWS keeps its LastModified, Ceph RGW 16 moves it.
   * S3 takes no condition on a tag set's write: the caller checks what it tagged afterwards.
   */
  putTagging(target: ObjectVersionRef, tagging: string | undefined, signal?: AbortSignal): Promise<void>;
}

/** The whole port, bound to one bucket on one side: every adapter implements it. */
export type ObjectStore = ObjectReader & ObjectWriter;
