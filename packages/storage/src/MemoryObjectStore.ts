import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { compareUtf8, sameEtag, versionPin } from "@chunksync/core";
import { isArchiveClass } from "./archiveClass.js";
import { type BodySink, pour } from "./bodySink.js";
import type { ConditionalWrite, ConditionalWrites, StoreCapabilities } from "./capabilities.js";
import { enforcesCondition } from "./capabilities.js";
import {
  BadDigestError,
  BucketNotFoundError,
  ObjectArchivedError,
  ObjectNotFoundError,
  PreconditionFailedError,
  RequestRefusedError,
  SignedChunksRefusedError,
  type StorageErrorContext,
  UPLOAD_GONE,
} from "./errors.js";
import { multipartEtag } from "./multipartEtag.js";
import type {
  BodyDigest,
  BucketVersioning,
  ByteRange,
  CompletedPart,
  MultipartUpload,
  ObjectAttributes,
  ObjectHead,
  ObjectStore,
  ObjectSummary,
  ObjectVersionRef,
  PendingUpload,
  SignedChunks,
  WriteBody,
  WriteCondition,
  WriteOptions,
  Written,
} from "./ObjectStore.js";
import { tagQuery } from "./tagQuery.js";

const MiB = 1024 * 1024;
/** S3's multipart rules: every part but the last at least 5 MiB, part numbers 1..10,000. */
const MIN_PART_SIZE = 5 * MiB;
const MAX_PART_NUMBER = 10_000;
/** CopyObject copies at most 5 GiB; larger objects need a multipart copy. */
const MAX_COPY_SIZE = 5 * 1024 * MiB;

/** Every call of the port, by name: what a fault can be injected into and what `calls()` counts. */
export type StoreOperation =
  | "list"
  | "head"
  | "read"
  | "readFirst"
  | "tagging"
  | "putTagging"
  | "put"
  | "copyObject"
  | "createUpload"
  | "uploadPart"
  | "copyPart"
  | "complete"
  | "abortUpload"
  | "listUploads"
  | "delete"
  | "versioning";

/** Whether an injected fault fires on the next call only or on every call until `heal()`. */
export type FailureMode = "once" | "always";

export interface MemoryObjectStoreOptions {
  bucket: string;
  /**
   * The space of buckets this store's bucket lives in, shared by stores that copy from one
   * another (as buckets on one endpoint); by default the store gets a space of its own.
   */
  buckets?: MemoryBuckets;
  /** False to open a store on a bucket that does not exist (every call fails as S3's would). */
  createBucket?: boolean;
  /** New buckets keep versions: every write gets its own `versionId`. */
  versioned?: boolean;
  /**
   * The conditions this store enforces; the rest it ignores, as a server without them does
   * (e.g. Ceph RGW 16, as `S3_CAPABILITIES` declares). By default it enforces them all, as AWS
   * S3 does on PutObject and CompleteMultipartUpload.
   */
  conditionalWrites?: ConditionalWrites;
  /** Declares the server to decode a copy source's escapes once (the default), or not, as Ceph RGW 16. */
  copySourceEscapesReadOnce?: boolean;
  /** Storage class of everything written (an archive class makes objects unreadable). */
  write?: Pick<WriteOptions, "storageClass">;
  /** The clock behind upload initiation dates. */
  now?: () => Date;
}

interface StoredObject {
  data: Buffer;
  etag: string;
  attributes: ObjectAttributes;
  storageClass?: string;
  versionId?: string;
  /** Whole seconds, as S3 states it. */
  lastModified: number;
}

interface StoredPart {
  etag: string;
  data: Buffer;
}

interface OpenUpload {
  key: string;
  uploadId: string;
  initiated: Date;
  attributes: ObjectAttributes;
  parts: Map<number, StoredPart>;
}

interface Bucket {
  versioned: boolean;
  objects: Map<string, StoredObject>;
  uploads: Map<string, OpenUpload>;
}

/** Buckets on one in-memory endpoint: a copy source names its bucket, as on S3. */
export class MemoryBuckets {
  readonly #buckets = new Map<string, Bucket>();

  /** Creates `name` unless it exists. */
  create(name: string, options: { versioned?: boolean } = {}): void {
    if (this.#buckets.has(name)) return;
    this.#buckets.set(name, {
      versioned: options.versioned ?? false,
      objects: new Map(),
      uploads: new Map(),
    });
  }

  /** @internal the bucket's state, or undefined when it does not exist. */
  get(name: string): Bucket | undefined {
    return this.#buckets.get(name);
  }
}

interface Fault {
  operation: StoreOperation;
  mode: FailureMode;
  action: Error | (() => void | Promise<void>);
}

const ALL_CONDITIONS: ConditionalWrites = {
  put: { ifNoneMatch: true, ifMatch: true },
  complete: { ifNoneMatch: true, ifMatch: true },
  copy: { ifNoneMatch: true, ifMatch: true },
  copySourceIfMatch: true,
};

function md5(data: Buffer): Buffer {
  return createHash("md5").update(data).digest();
}

/** A tag set re-encoded the way the S3 adapter reads it back, so both stores answer alike. */
function normalisedTagging(tagging: string | undefined): string | undefined {
  return tagging === undefined ? undefined : tagQuery(new URLSearchParams(tagging));
}

function badRequest(ctx: StorageErrorContext, code: string, detail: string): RequestRefusedError {
  return new RequestRefusedError(ctx, `${code}: ${detail} (HTTP 400)`);
}

/**
 * The ObjectStore port in memory, with the semantics the engine relies on from S3: listing in
 * UTF-8 byte order, MD5 and multipart ETags, pinned and ranged reads, conditional writes,
 * copy-source pins, S3's part-size rules (and Ceph RGW's refusal of a completion that leaves
 * out an uploaded part), tags and archived storage classes. Faults can be injected into any
 * call, so the engine and every workflow step can be tested without a server.
 */
export class MemoryObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly capabilities: StoreCapabilities;
  readonly #buckets: MemoryBuckets;
  readonly #storageClass: string | undefined;
  readonly #now: () => Date;
  readonly #faults: Fault[] = [];
  readonly #calls = new Map<StoreOperation, number>();

  constructor(options: MemoryObjectStoreOptions) {
    this.bucket = options.bucket;
    this.#buckets = options.buckets ?? new MemoryBuckets();
    if (options.createBucket !== false)
      this.#buckets.create(options.bucket, { versioned: options.versioned ?? false });
    this.#storageClass = options.write?.storageClass;
    this.#now = options.now ?? (() => new Date());
    this.capabilities = {
      serverSideCopy: true,
      copySourceEscapesReadOnce: options.copySourceEscapesReadOnce ?? true,
      multipart: { resumable: true },
      conditionalWrites: options.conditionalWrites ?? ALL_CONDITIONS,
      tagging: true,
      versions: true,
      writeChecksums: { contentMd5: true, payloadSha256: true, signedChunks: true },
    };
  }

  /** Makes the next call of `operation` (every call, with "always") fail with `error` before it does anything. */
  failNext(operation: StoreOperation, error: Error, mode: FailureMode = "once"): void {
    this.#faults.push({ operation, mode, action: error });
  }

  /** Runs `action` just before the next call of `operation` does anything: a concurrent writer's turn. */
  beforeNext(operation: StoreOperation, action: () => void | Promise<void>): void {
    this.#faults.push({ operation, mode: "once", action });
  }

  /** Removes every injected fault (of `operation` only, when named). */
  heal(operation?: StoreOperation): void {
    for (let i = this.#faults.length - 1; i >= 0; i--)
      if (operation === undefined || this.#faults[i]!.operation === operation) this.#faults.splice(i, 1);
  }

  /** How many times `operation` was called on this store (faulted calls included). */
  calls(operation: StoreOperation): number {
    return this.#calls.get(operation) ?? 0;
  }

  /** Counts the call, fires its injected fault if any, and checks the bucket exists. */
  async #enter(operation: StoreOperation, key: string | undefined): Promise<Bucket> {
    this.#calls.set(operation, this.calls(operation) + 1);
    const i = this.#faults.findIndex((f) => f.operation === operation);
    const fault = this.#faults[i];
    if (fault) {
      if (fault.mode === "once") this.#faults.splice(i, 1);
      if (fault.action instanceof Error) throw fault.action;
      await fault.action();
    }
    const bucket = this.#buckets.get(this.bucket);
    if (!bucket) throw new BucketNotFoundError(this.#ctx(operation, key));
    return bucket;
  }

  #ctx(operation: string, key: string | undefined): StorageErrorContext {
    return { operation, bucket: this.bucket, ...(key === undefined ? {} : { key }) };
  }

  /** This store's clock in whole seconds, as a server's Date header states it. */
  serverTime(): number {
    return Math.floor(this.#now().getTime() / 1000) * 1000;
  }

  /** This store copies every version a ref names, or refuses the copy (see {@link #source}). */
  copiesNameVersions(): boolean {
    return true;
  }

  async enforcesCopySourceIfMatch(): Promise<boolean> {
    return this.capabilities.conditionalWrites.copySourceIfMatch;
  }

  ref(key: string, etag: string, versionId?: string): ObjectVersionRef {
    const pin = versionPin(versionId);
    return { bucket: this.bucket, key, etag, ...(pin ? { versionId: pin } : {}) };
  }

  async *list(
    prefix: string,
    signal?: AbortSignal,
    startAfter?: string,
    _pageSize?: number,
    versionIds = false,
  ): AsyncIterable<ObjectSummary> {
    const bucket = await this.#enter("list", prefix || undefined);
    const keys = [...bucket.objects.keys()]
      .filter((k) => k.startsWith(prefix) && (startAfter === undefined || compareUtf8(k, startAfter) > 0))
      .sort(compareUtf8);
    for (const key of keys) {
      signal?.throwIfAborted();
      const o = bucket.objects.get(key);
      // A key deleted while the listing is read is not listed, as on a later S3 page.
      if (o) {
        yield {
          key,
          size: o.data.length,
          etag: o.etag,
          storageClass: o.storageClass ?? "STANDARD",
          lastModified: o.lastModified,
          // The null version's ID, as S3 states it, where the bucket keeps no versions.
          ...(versionIds ? { versionId: o.versionId ?? "null" } : {}),
        };
      }
    }
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectHead | undefined> {
    const bucket = await this.#enter("head", key);
    signal?.throwIfAborted();
    const o = bucket.objects.get(key);
    return o && headOf(key, o);
  }

  async read(key: string, range: ByteRange, etag: string, signal?: AbortSignal): Promise<Readable> {
    const bucket = await this.#enter("read", key);
    signal?.throwIfAborted();
    const o = this.#readable(bucket, "read", key);
    if (!sameEtag(o.etag, etag))
      throw new PreconditionFailedError(
        this.#ctx("read", key),
        "the object changed since it was planned (412)",
      );
    if (range.length === 0) return Readable.from([]);
    if (range.offset >= o.data.length)
      throw new RequestRefusedError(this.#ctx("read", key), "InvalidRange (HTTP 416)");
    return Readable.from([o.data.subarray(range.offset, range.offset + range.length)]);
  }

  /** As the S3 adapter over HTTPS: the streamed body poured into the sink, so a subclass's `read` serves both. */
  async readInto(
    key: string,
    range: ByteRange,
    etag: string,
    sink: BodySink,
    signal?: AbortSignal,
  ): Promise<number> {
    return pour(await this.read(key, range, etag, signal), sink);
  }

  /** As {@link readInto}: the streamed first bytes poured into the sink. */
  async readFirstInto(
    key: string,
    length: number,
    sink: BodySink,
    signal?: AbortSignal,
  ): Promise<{ head: ObjectHead; landed: number } | undefined> {
    const got = await this.readFirst(key, length, signal);
    return got && { head: got.head, landed: await pour(got.body, sink) };
  }

  async readFirst(
    key: string,
    length: number,
    signal?: AbortSignal,
  ): Promise<{ head: ObjectHead; body: Readable } | undefined> {
    const bucket = await this.#enter("readFirst", key);
    signal?.throwIfAborted();
    if (!bucket.objects.has(key)) return undefined;
    const o = this.#readable(bucket, "read", key);
    return { head: headOf(key, o), body: Readable.from([o.data.subarray(0, length)]) };
  }

  async tagging(key: string): Promise<string | undefined> {
    const bucket = await this.#enter("tagging", key);
    const o = bucket.objects.get(key);
    if (!o) throw new ObjectNotFoundError(this.#ctx("get tagging", key));
    return o.attributes.tagging;
  }

  /** A bucket created `versioned` keeps versions from the start; it is never suspended here. */
  async versioning(): Promise<BucketVersioning> {
    const bucket = await this.#enter("versioning", undefined);
    return bucket.versioned ? "enabled" : "unversioned";
  }

  async put(
    key: string,
    body: WriteBody,
    length: number,
    attributes: ObjectAttributes,
    condition: WriteCondition | undefined,
    signal?: AbortSignal,
    digest?: BodyDigest,
  ): Promise<Written> {
    const bucket = await this.#enter("put", key);
    const data = await consume(body, length, signal, this.#ctx("put", key), digest);
    if (condition) this.#check(bucket, "put", key, condition);
    return this.#store(bucket, key, data, `"${md5(data).toString("hex")}"`, attributes);
  }

  async copyObject(
    source: ObjectVersionRef,
    key: string,
    attributes: ObjectAttributes,
    condition: WriteCondition,
    signal?: AbortSignal,
  ): Promise<Written> {
    const bucket = await this.#enter("copyObject", key);
    signal?.throwIfAborted();
    const from = this.#source(source, "copy", key);
    if (from.data.length > MAX_COPY_SIZE)
      throw badRequest(this.#ctx("copy", key), "InvalidRequest", "the source is larger than 5 GiB");
    this.#check(bucket, "copy", key, condition);
    return this.#store(bucket, key, from.data, `"${md5(from.data).toString("hex")}"`, attributes);
  }

  async createUpload(
    key: string,
    attributes: ObjectAttributes,
    signal?: AbortSignal,
  ): Promise<MultipartUpload> {
    const bucket = await this.#enter("createUpload", key);
    signal?.throwIfAborted();
    const uploadId = randomBytes(12).toString("hex");
    bucket.uploads.set(uploadId, { key, uploadId, initiated: this.#now(), attributes, parts: new Map() });
    return this.resumeUpload(key, uploadId);
  }

  resumeUpload(key: string, uploadId: string): MultipartUpload {
    return {
      key,
      uploadId,
      uploadPart: (partNumber, body, length, signal, digest) =>
        this.#uploadPart(key, uploadId, partNumber, body, length, signal, digest),
      copyPart: (partNumber, source, range, signal) =>
        this.#copyPart(key, uploadId, partNumber, source, range, signal),
      complete: (parts, condition) => this.#complete(key, uploadId, parts, condition),
      abort: async () => {
        await this.abortUpload(key, uploadId);
      },
    };
  }

  async *listUploads(prefix: string): AsyncIterable<PendingUpload> {
    const bucket = await this.#enter("listUploads", prefix || undefined);
    const uploads = [...bucket.uploads.values()]
      .filter((u) => u.key.startsWith(prefix))
      .sort((a, b) => compareUtf8(a.key, b.key) || a.initiated.getTime() - b.initiated.getTime());
    for (const u of uploads) yield { key: u.key, uploadId: u.uploadId, initiated: u.initiated };
  }

  async abortUpload(key: string, uploadId: string): Promise<boolean> {
    const bucket = await this.#enter("abortUpload", key);
    return bucket.uploads.get(uploadId)?.key === key && bucket.uploads.delete(uploadId);
  }

  async delete(key: string): Promise<void> {
    const bucket = await this.#enter("delete", key);
    bucket.objects.delete(key);
  }

  /** As S3 on AWS: the version's bytes, ETag and LastModified stay. A version no longer current is kept nowhere here. */
  async putTagging(
    target: ObjectVersionRef,
    tagging: string | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    const bucket = await this.#enter("putTagging", target.key);
    signal?.throwIfAborted();
    const o = bucket.objects.get(target.key);
    if (!o) throw new ObjectNotFoundError(this.#ctx("put tagging", target.key));
    if (target.versionId !== undefined && target.versionId !== o.versionId) return;
    const { tagging: _old, ...rest } = o.attributes;
    const normalised = normalisedTagging(tagging);
    o.attributes = normalised ? { ...rest, tagging: normalised } : rest;
  }

  async #uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: WriteBody,
    length: number,
    signal?: AbortSignal,
    digest?: BodyDigest,
  ): Promise<CompletedPart> {
    const bucket = await this.#enter("uploadPart", key);
    const ctx = this.#ctx("upload part", key);
    const data = await consume(body, length, signal, ctx, digest);
    return this.#addPart(bucket, ctx, uploadId, partNumber, data);
  }

  async #copyPart(
    key: string,
    uploadId: string,
    partNumber: number,
    source: ObjectVersionRef,
    range: ByteRange,
    signal?: AbortSignal,
  ): Promise<CompletedPart> {
    const bucket = await this.#enter("copyPart", key);
    signal?.throwIfAborted();
    const ctx = this.#ctx("upload part copy", key);
    const from = this.#source(source, "upload part copy", key);
    if (range.length <= 0 || range.offset + range.length > from.data.length)
      throw badRequest(ctx, "InvalidArgument", "the copy range is outside the source object");
    return this.#addPart(
      bucket,
      ctx,
      uploadId,
      partNumber,
      from.data.subarray(range.offset, range.offset + range.length),
    );
  }

  #addPart(
    bucket: Bucket,
    ctx: StorageErrorContext,
    uploadId: string,
    partNumber: number,
    data: Buffer,
  ): CompletedPart {
    const upload = this.#upload(bucket, ctx, uploadId);
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER)
      throw badRequest(ctx, "InvalidArgument", `part number ${partNumber} is not in 1..${MAX_PART_NUMBER}`);
    const etag = `"${md5(data).toString("hex")}"`;
    upload.parts.set(partNumber, { etag, data: Buffer.from(data) });
    return { partNumber, etag };
  }

  async #complete(
    key: string,
    uploadId: string,
    parts: CompletedPart[],
    condition: WriteCondition,
  ): Promise<Written> {
    const bucket = await this.#enter("complete", key);
    const ctx = this.#ctx("complete multipart upload", key);
    const upload = this.#upload(bucket, ctx, uploadId);
    if (parts.length === 0) throw badRequest(ctx, "MalformedXML", "no parts");
    const chosen = parts.map((p, i) => {
      if (i > 0 && p.partNumber <= parts[i - 1]!.partNumber)
        throw badRequest(ctx, "InvalidPartOrder", "parts are not in ascending order");
      const part = upload.parts.get(p.partNumber);
      if (!part || !sameEtag(part.etag, p.etag))
        throw badRequest(ctx, "InvalidPart", `part ${p.partNumber} was not uploaded with ETag ${p.etag}`);
      if (i < parts.length - 1 && part.data.length < MIN_PART_SIZE)
        throw badRequest(ctx, "EntityTooSmall", `part ${p.partNumber} is below 5 MiB and not the last`);
      return part;
    });
    // Ceph RGW refuses a completion that leaves out a part uploaded to the upload (AWS S3 drops
    // such a part): this store answers as the stricter server does.
    const listed = new Set(parts.map((p) => p.partNumber));
    const left = [...upload.parts.keys()].find((n) => !listed.has(n));
    if (left !== undefined)
      throw badRequest(ctx, "InvalidPart", `part ${left} was uploaded but is not in the completion`);
    this.#check(bucket, "complete", key, condition);
    const etag = multipartEtag(chosen) ?? "";
    bucket.uploads.delete(uploadId);
    return this.#store(bucket, key, Buffer.concat(chosen.map((p) => p.data)), etag, upload.attributes);
  }

  #upload(bucket: Bucket, ctx: StorageErrorContext, uploadId: string): OpenUpload {
    const upload = bucket.uploads.get(uploadId);
    // S3 answers NoSuchUpload with 404, which the adapter reports as ObjectNotFoundError.
    if (!upload || upload.key !== ctx.key) throw new ObjectNotFoundError(ctx, undefined, UPLOAD_GONE);
    return upload;
  }

  /** The object behind a copy source, checked against its pin where this store enforces pins. */
  #source(ref: ObjectVersionRef, operation: string, key: string): StoredObject {
    const ctx = this.#ctx(operation, key);
    const bucket = this.#buckets.get(ref.bucket);
    if (!bucket) throw new BucketNotFoundError({ ...ctx, bucket: ref.bucket, key: ref.key });
    const o = bucket.objects.get(ref.key);
    if (!o) throw new ObjectNotFoundError({ ...ctx, bucket: ref.bucket, key: ref.key });
    if (isArchiveClass(o.storageClass)) throw new ObjectArchivedError(ctx, o.storageClass!);
    if (this.capabilities.conditionalWrites.copySourceIfMatch && !sameEtag(o.etag, ref.etag))
      throw new PreconditionFailedError(ctx, "the copy source changed since it was planned (412)");
    // This store keeps no older version's bytes: a copy of one fails as a stale pin does.
    if (ref.versionId !== undefined && ref.versionId !== o.versionId)
      throw new PreconditionFailedError(ctx, "the copy source's version is no longer current (412)");
    return o;
  }

  #readable(bucket: Bucket, operation: string, key: string): StoredObject {
    const o = bucket.objects.get(key);
    if (!o) throw new ObjectNotFoundError(this.#ctx(operation, key));
    if (isArchiveClass(o.storageClass))
      throw new ObjectArchivedError(this.#ctx(operation, key), o.storageClass!);
    return o;
  }

  /** Enforces `condition` on `write` where this store declares it; otherwise ignores it, as such a server does. */
  #check(bucket: Bucket, write: ConditionalWrite, key: string, condition: WriteCondition): void {
    if (!enforcesCondition(this.capabilities, write, condition)) return;
    const current = bucket.objects.get(key);
    const met = "ifMatch" in condition ? sameEtag(current?.etag, condition.ifMatch) : current === undefined;
    if (!met)
      throw new PreconditionFailedError(
        this.#ctx(write, key),
        "the object changed since it was planned (412)",
      );
  }

  /** Stores a new current version of `key`; its ETag, and its version ID where the bucket keeps versions. */
  #store(bucket: Bucket, key: string, data: Buffer, etag: string, attributes: ObjectAttributes): Written {
    const tagging = normalisedTagging(attributes.tagging);
    const versionId = bucket.versioned ? randomBytes(8).toString("hex") : undefined;
    bucket.objects.set(key, {
      data: Buffer.from(data),
      etag,
      attributes: { ...attributes, metadata: { ...attributes.metadata }, ...(tagging ? { tagging } : {}) },
      ...(this.#storageClass ? { storageClass: this.#storageClass } : {}),
      ...(versionId ? { versionId } : {}),
      lastModified: this.serverTime(),
    });
    return versionId ? { etag, versionId } : { etag };
  }
}

function headOf(key: string, o: StoredObject): ObjectHead {
  const { tagging: _tags, ...attributes } = o.attributes;
  return {
    key,
    size: o.data.length,
    etag: o.etag,
    lastModified: o.lastModified,
    ...(o.versionId ? { versionId: o.versionId } : {}),
    ...(o.storageClass && o.storageClass !== "STANDARD" ? { storageClass: o.storageClass } : {}),
    archived: isArchiveClass(o.storageClass),
    ...attributes,
    metadata: { ...attributes.metadata },
  };
}

/** Piece `index` of a body sent in signed chunks: its announced length, and the SHA-256 signed for it. */
function checkSignedChunk(
  chunks: SignedChunks,
  index: number,
  piece: Uint8Array,
  ctx: StorageErrorContext,
): void {
  if (piece.length !== chunks.lengths[index])
    throw badRequest(
      ctx,
      "IncompleteBody",
      `chunk ${index} was ${piece.length} bytes, not the length announced`,
    );
  // A server answers a chunk's signature that does not match, as the S3 adapter reads that answer.
  if (!createHash("sha256").update(piece).digest().equals(chunks.sha256(index)))
    throw new SignedChunksRefusedError(ctx, "a chunk's signature did not match");
}

/**
 * Reads a request body whole, as a server receives it; fails as S3 does when its length is not
 * `length`, or when its MD5 is not the Content-MD5 sent with it, its SHA-256 not the payload
 * hash signed for it (XAmzContentSHA256Mismatch, which the adapter reads as BadDigestError), or
 * a signed chunk's SHA-256 not the one its signature chains (SignedChunksRefusedError).
 */
async function consume(
  body: WriteBody,
  length: number,
  signal: AbortSignal | undefined,
  ctx: StorageErrorContext,
  digest: BodyDigest | undefined,
): Promise<Buffer> {
  signal?.throwIfAborted();
  let data: Buffer;
  if (Buffer.isBuffer(body)) data = body;
  else {
    const chunks: Buffer[] = [];
    let onAbort: (() => void) | undefined;
    // The SDK gives up on a request when its signal aborts, even while the body still streams.
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    aborted.catch(() => {});
    try {
      await Promise.race([
        (async () => {
          for await (const chunk of body) {
            // A signed chunk is checked as it comes, as a server checks its signature.
            if (digest?.chunks) checkSignedChunk(digest.chunks, chunks.length, chunk, ctx);
            chunks.push(Buffer.from(chunk as Uint8Array));
          }
        })(),
        aborted,
      ]);
    } finally {
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
    data = Buffer.concat(chunks);
  }
  if (digest?.chunks && Buffer.isBuffer(body)) checkSignedChunk(digest.chunks, 0, body, ctx);
  if (data.length !== length)
    throw badRequest(ctx, "IncompleteBody", `the body was ${data.length} bytes, ${length} were announced`);
  if (digest?.contentMd5 !== undefined) {
    const sent = Buffer.from(digest.contentMd5, "base64");
    if (sent.length !== 16 || sent.toString("base64") !== digest.contentMd5)
      throw badRequest(ctx, "InvalidDigest", "the Content-MD5 is not the base64 of 16 bytes");
    if (!md5(data).equals(sent)) throw new BadDigestError(ctx);
  }
  if (digest?.sha256 !== undefined && createHash("sha256").update(data).digest("hex") !== digest.sha256)
    throw new BadDigestError(ctx);
  return data;
}
