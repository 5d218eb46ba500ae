import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { compareUtf8, isIndexKey, versionPin } from "@chunksync/core";
import type { BodySink } from "./bodySink.js";
import type { StoreCapabilities } from "./capabilities.js";
import {
  AccessDeniedError,
  InvalidCredentialsError,
  NotImplementedError,
  PreconditionFailedError,
  RequestRefusedError,
  SignedChunksRefusedError,
  StorageError,
  translateS3Error,
} from "./errors.js";
import {
  ListingXmlError,
  type ListPage,
  parseListBucketResult,
  parseListMultipartUploadsResult,
  parseListVersionsResult,
  type VersionsPage,
} from "./listBucketResult.js";
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
  WriteBody,
  WriteCondition,
  WriteOptions,
  Written,
} from "./ObjectStore.js";
import type { XmlObject } from "./parseXml.js";
import type { S3Connection } from "./S3Connection.js";
import { type S3Request, S3Requests, type S3Response } from "./S3Requests.js";
import { headOfResponse, requestHeaders, writtenVersion } from "./s3Headers.js";
import { completeMultipartUploadXml, parseAnswer, taggingXml, tagSetOf, textOf } from "./s3Xml.js";
import { tagQuery } from "./tagQuery.js";

/**
 * What every S3-compatible server this adapter targets (AWS S3, MinIO, Ceph RGW) does alike.
 * AWS S3 enforces If-Match and If-None-Match on PutObject, CompleteMultipartUpload and
 * CopyObject, but only If-None-Match on PutObject holds everywhere: Ceph RGW 16 ignores both
 * on CompleteMultipartUpload and CopyObject, and x-amz-copy-source-if-match on copies, and
 * answers 412 to any If-Match on PutObject. The contract suite probes the local server for each;
 * a run probes x-amz-copy-source-if-match itself where it matters (`enforcesCopySourceIfMatch`).
 * Ceph RGW 16 also decodes UploadPartCopy's copy source twice (CopyObject's once), so a key
 * holding `%XX` names another object there, and nothing in an answer tells the servers apart
 * (`test/faults/edgeNames.test.ts` writes such keys beside the keys they decode to).
 */
export const S3_CAPABILITIES: StoreCapabilities = {
  serverSideCopy: true,
  copySourceEscapesReadOnce: false,
  multipart: { resumable: true },
  conditionalWrites: {
    put: { ifNoneMatch: true, ifMatch: false },
    complete: { ifNoneMatch: false, ifMatch: false },
    copy: { ifNoneMatch: false, ifMatch: false },
    copySourceIfMatch: false,
  },
  tagging: true,
  versions: true,
  writeChecksums: { contentMd5: true, payloadSha256: true, signedChunks: true },
};

export interface S3ObjectStoreOptions {
  connection: S3Connection;
  bucket: string;
  /** Storage class, SSE and tags for everything this store writes. */
  write?: WriteOptions;
  /** Sent as ExpectedBucketOwner on every request when the user names the account. */
  expectedBucketOwner?: string;
  /** SSE-C key (32 bytes) of this bucket's objects: resent on every read, write and copy from it. */
  sseCustomerKey?: Buffer;
}

interface SseCustomerHeaders {
  SSECustomerAlgorithm: string;
  SSECustomerKey: string;
  SSECustomerKeyMD5: string;
}

function sseCustomerHeaders(key: Buffer | undefined): SseCustomerHeaders | undefined {
  if (key === undefined) return undefined;
  return {
    SSECustomerAlgorithm: "AES256",
    SSECustomerKey: key.toString("base64"),
    SSECustomerKeyMD5: createHash("md5").update(key).digest("base64"),
  };
}

/** An ETag no object has: a copy pinned to it is refused wherever the pin is enforced. */
const STALE_ETAG = '"00000000000000000000000000000000"';

/** S3's Range and CopySourceRange form of `range` (not empty): first and last byte. */
function byteRange(range: ByteRange): string {
  return `bytes=${range.offset}-${range.offset + range.length - 1}`;
}

/**
 * A copy's source: bucket and URL-encoded key (slashes kept), its version where it names one,
 * pinned to its ETag, with its SSE-C key where it has one.
 */
function copySourceInput(source: ObjectVersionRef) {
  const sse = sseCustomerHeaders(source.sseCustomerKey);
  const version = source.versionId === undefined ? "" : `?versionId=${encodeURIComponent(source.versionId)}`;
  return {
    CopySource: `${source.bucket}/${source.key.split("/").map(encodeURIComponent).join("/")}${version}`,
    CopySourceIfMatch: source.etag,
    ...(sse && {
      CopySourceSSECustomerAlgorithm: sse.SSECustomerAlgorithm,
      CopySourceSSECustomerKey: sse.SSECustomerKey,
      CopySourceSSECustomerKeyMD5: sse.SSECustomerKeyMD5,
    }),
  };
}

/**
 * The checksum a body is sent with: the caller's SHA-256, signed as the payload hash, or its
 * Content-MD5, the caller's or computed here for a Buffer (cheap next to the request). A stream
 * without either goes unchecked: its MD5 would need a second pass over it.
 */
function bodyChecksum(
  body: WriteBody,
  digest: BodyDigest | undefined,
): { ContentMD5?: string; ContentSHA256?: string } {
  if (digest?.chunks !== undefined) return {};
  if (digest?.sha256 !== undefined) return { ContentSHA256: digest.sha256 };
  if (digest?.contentMd5 !== undefined) return { ContentMD5: digest.contentMd5 };
  return Buffer.isBuffer(body) ? { ContentMD5: createHash("md5").update(body).digest("base64") } : {};
}

/**
 * Whether a write was refused for want of a Content-MD5 or an x-amz-checksum header: AWS S3
 * asks for one on every write into a bucket under Object Lock (InvalidRequest, "Content-MD5 OR
 * x-amz-checksum- HTTP header is required ..."), whatever payload hash the signature holds.
 */
function asksForMd5(error: unknown): boolean {
  if (!(error instanceof RequestRefusedError)) return false;
  const cause = error.cause as { name?: string; message?: string } | undefined;
  return cause?.name === "InvalidRequest" && /Content-MD5/i.test(cause.message ?? "");
}

/**
 * Why a server refused a body in signed chunks for the way it was sent, where `error` says so
 * (see SignedChunksRefusedError); undefined for any other failure.
 */
function refusalOfSignedChunks(error: StorageError): string | undefined {
  if (asksForMd5(error)) return "the bucket asks for a Content-MD5 (Object Lock)";
  const cause = error.cause as { name?: string; message?: string } | undefined;
  if (error instanceof NotImplementedError) return `not implemented: ${cause?.message || "501"}`;
  if (error instanceof InvalidCredentialsError && cause?.name === "SignatureDoesNotMatch")
    return "a chunk's signature did not match";
  const refused =
    error instanceof RequestRefusedError && /^Invalid(Request|Argument)$/.test(cause?.name ?? "");
  if (refused && /STREAMING|chunk/i.test(cause?.message ?? "")) return cause?.message ?? "";
  return undefined;
}

function conditionHeaders(condition: WriteCondition | undefined): { IfMatch?: string; IfNoneMatch?: string } {
  if (condition === undefined) return {};
  return "ifMatch" in condition ? { IfMatch: condition.ifMatch } : { IfNoneMatch: condition.ifNoneMatch };
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "NotFound" || e?.name === "NoSuchKey" || e?.$metadata?.httpStatusCode === 404;
}

/**
 * Whether a page of a listing of versions holds fewer than one current version in
 * {@link HISTORY_RATIO} entries (with at least that many entries, so that the small pages of
 * probes never count).
 */
function mostlyHistory(page: VersionsPage): boolean {
  return page.entries >= HISTORY_RATIO && page.objects.length * HISTORY_RATIO < page.entries;
}

/**
 * Entries per current version above which a listing of versions gives way to a plain one. A
 * HEAD costs about what a page costs, and the run sends many at once: at 20 versions a key, a
 * page of 1,000 entries names 50 objects, whose HEADs take a few rounds.
 */
const HISTORY_RATIO = 20;

function isForbidden(error: unknown): boolean {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 403;
}

/**
 * The ObjectStore port on S3; works against AWS S3, MinIO and Ceph RGW. Every request goes
 * through {@link S3Requests}, with the connection's endpoint, credentials and retry strategy
 * (the AWS SDK v3 client resolves those only where the connection cannot itself).
 */
export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly capabilities = S3_CAPABILITIES;
  readonly #connection: S3Connection;
  readonly #write: WriteOptions;
  readonly #owner: { ExpectedBucketOwner?: string };
  /** The headers of a request on the bucket rather than an object's bytes (listings, aborts). */
  readonly #ownerHeaders: Record<string, string>;
  readonly #sseKey: Buffer | undefined;
  readonly #sse: SseCustomerHeaders | Record<string, never>;
  readonly #requests: S3Requests;
  /** The first page of a listing, asked for ahead of it by {@link prefetchList}. */
  #prefetched: { prefix: string; page: Promise<ListPage> } | undefined;
  /** The bucket's versioning state, asked for ahead of the run's question by {@link prefetchVersioning}. */
  #versioningAsked: Promise<BucketVersioning> | undefined;

  constructor(options: S3ObjectStoreOptions) {
    this.#connection = options.connection;
    this.#requests = new S3Requests(options.connection, options.bucket);
    this.bucket = options.bucket;
    this.#write = options.write ?? {};
    this.#owner = options.expectedBucketOwner ? { ExpectedBucketOwner: options.expectedBucketOwner } : {};
    this.#ownerHeaders = requestHeaders(this.#owner);
    this.#sseKey = options.sseCustomerKey;
    this.#sse = sseCustomerHeaders(options.sseCustomerKey) ?? {};
  }

  serverTime(): number | undefined {
    return this.#connection.serverDate;
  }

  /** A reference to `key` at `etag` (and `versionId`, see `versionPin`) that carries this store's SSE-C key for copy sources. */
  ref(key: string, etag: string, versionId?: string): ObjectVersionRef {
    const pin = versionPin(versionId);
    return {
      bucket: this.bucket,
      key,
      etag,
      ...(pin ? { versionId: pin } : {}),
      ...(this.#sseKey ? { sseCustomerKey: this.#sseKey } : {}),
    };
  }

  /** Set once the bucket asked for a Content-MD5 beside a signed payload hash (see {@link asksForMd5}). */
  #md5Asked = false;

  /**
   * @internal Sends a write (`send`, given its checksum headers) with `digest`'s checksum (see
   * bodyChecksum). A body of bytes in memory sent with its SHA-256 alone that the bucket refuses
   * for want of a Content-MD5 is sent once more with one, and from then on every such write
   * carries both: the MD5 then costs what it cost before payload hashes were used.
   */
  async checkedWrite<T>(
    body: WriteBody,
    digest: BodyDigest | undefined,
    send: (checksum: { ContentMD5?: string; ContentSHA256?: string }) => Promise<T>,
  ): Promise<T> {
    const checksum = bodyChecksum(body, digest);
    if (digest?.chunks !== undefined) return this.#chunkSigned(() => send(checksum));
    if (checksum.ContentSHA256 === undefined || !Buffer.isBuffer(body)) return send(checksum);
    const withMd5 = () => send({ ...checksum, ContentMD5: createHash("md5").update(body).digest("base64") });
    if (this.#md5Asked) return withMd5();
    try {
      return await send(checksum);
    } catch (error) {
      if (!asksForMd5(error)) throw error;
      this.#md5Asked = true;
      return withMd5();
    }
  }

  /** Why this store's server took no body in signed chunks, once it refused one (see {@link #chunkSigned}). */
  #signedChunksRefused: string | undefined;

  /**
   * A write of a body in signed chunks. Where the server refuses it for the way it is sent (see
   * SignedChunksRefusedError), it fails so, and every later one of this store before it is sent:
   * the writer sends such bodies with a Content-MD5 instead. A chunk whose signature did not
   * match counts among them: the request's own signature is made as every other request's, so
   * the chunk arrived altered, or the server does not check signed chunks, and nothing tells the
   * two apart; the Content-MD5 catches an altered body all the same.
   */
  async #chunkSigned<T>(send: () => Promise<T>): Promise<T> {
    const refused = this.#signedChunksRefused;
    if (refused !== undefined)
      throw new SignedChunksRefusedError({ operation: "put", bucket: this.bucket }, refused);
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof StorageError)) throw error;
      const reason = refusalOfSignedChunks(error);
      if (reason === undefined) throw error;
      if (asksForMd5(error)) this.#md5Asked = true;
      this.#signedChunksRefused = reason;
      const { operation, bucket, key } = error;
      throw new SignedChunksRefusedError({ operation, bucket, key }, reason, error);
    }
  }

  /** Set once a copy naming its source's version was refused (see {@link copiesNameVersions}). */
  #versionCopiesRefused = false;

  copiesNameVersions(): boolean {
    return !this.#versionCopiesRefused;
  }

  /**
   * @internal Sends a copy (`send`, given its x-amz-copy-source input) from `source`, naming its
   * version where it names one. AWS asks for s3:GetObjectVersion to copy a named version, which
   * a policy that grants s3:GetObject only lacks: a copy refused so (AccessDenied) is sent again
   * without the version, and so is every later copy of this store (see {@link copiesNameVersions}).
   */
  async copyFrom<T>(
    source: ObjectVersionRef,
    send: (input: ReturnType<typeof copySourceInput>) => Promise<T>,
  ): Promise<T> {
    const { versionId: _named, ...current } = source;
    if (source.versionId === undefined || this.#versionCopiesRefused) return send(copySourceInput(current));
    try {
      return await send(copySourceInput(source));
    } catch (error) {
      if (!(error instanceof AccessDeniedError)) throw error;
      this.#versionCopiesRefused = true;
      return send(copySourceInput(current));
    }
  }

  /** What the probe of {@link enforcesCopySourceIfMatch} found, once it ran. */
  #copySourcePinned: Promise<boolean> | undefined;

  enforcesCopySourceIfMatch(key: string, ref: ObjectVersionRef, signal?: AbortSignal): Promise<boolean> {
    if (this.capabilities.conditionalWrites.copySourceIfMatch) return Promise.resolve(true);
    this.#copySourcePinned ??= this.#probeCopySourceIfMatch(key, ref, signal);
    return this.#copySourcePinned;
  }

  async #probeCopySourceIfMatch(key: string, ref: ObjectVersionRef, signal?: AbortSignal): Promise<boolean> {
    const { versionId: _named, ...current } = ref;
    const stale = { ...current, etag: STALE_ETAG };
    try {
      const upload = await this.createUpload(key, { metadata: {} }, signal);
      try {
        await upload.copyPart(1, stale, { offset: 0, length: 1 }, signal);
        return false;
      } finally {
        await upload.abort().catch(() => {});
      }
    } catch (error) {
      return error instanceof PreconditionFailedError;
    }
  }

  async #send<T>(operation: string, key: string | undefined, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw translateS3Error(error, {
        operation,
        bucket: this.bucket,
        ...(key === undefined ? {} : { key }),
      });
    }
  }

  /**
   * Set once a listing of version IDs was refused: this store no longer asks for one (a warm
   * function's store, for the rest of the container's life).
   */
  #versionListingRefused = false;

  async *list(
    prefix: string,
    signal?: AbortSignal,
    startAfter?: string,
    pageSize?: number,
    versionIds = false,
  ): AsyncIterable<ObjectSummary> {
    if (versionIds && !this.#versionListingRefused) {
      const first = await this.#firstVersionsPage(prefix, startAfter, pageSize, signal);
      if (first !== undefined) {
        yield* this.#latestVersions(prefix, first, startAfter, pageSize, signal);
        return;
      }
    }
    let token: string | undefined;
    let prefetched = this.#prefetched;
    this.#prefetched = undefined;
    if (prefetched?.prefix !== prefix || startAfter !== undefined || pageSize !== undefined)
      prefetched = undefined;
    do {
      // S3 ignores StartAfter once a continuation token is given, so it only shapes the first page.
      const page = await (prefetched?.page ??
        this.#listPage("list", prefix, token ?? { startAfter }, pageSize, signal));
      prefetched = undefined;
      yield* page.objects;
      token = page.nextToken;
    } while (token);
  }

  /**
   * The first ListObjectVersions page of {@link list}, or undefined where it was refused
   * (AccessDenied: an identity without s3:ListBucketVersions; another 4xx or a 501: a server
   * without the call) or not answered as S3 does (a page this adapter cannot read): this store
   * then lists without version IDs from now on.
   */
  async #firstVersionsPage(
    prefix: string,
    startAfter: string | undefined,
    pageSize: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<VersionsPage | undefined> {
    const from = { keyMarker: startAfter ?? "", versionIdMarker: undefined };
    try {
      return await this.#versionsPage(prefix, from, pageSize, signal);
    } catch (error) {
      const refused = error instanceof AccessDeniedError || error instanceof RequestRefusedError;
      if (!refused && !((error as Error).cause instanceof ListingXmlError)) throw error;
      this.#versionListingRefused = true;
      return undefined;
    }
  }

  /**
   * The current versions of {@link list} from `page` on, page by page, after `startAfter`: a
   * key marker with no version marker lists from that key on Ceph RGW 16 and after it on
   * other servers, so the keys up to it are passed over here. After a page that is mostly
   * older versions (see {@link mostlyHistory}) the rest is listed as without version IDs: a
   * bucket whose keys hold dozens of versions each would cost more pages than the HEADs they
   * save (a HEAD per entry goes many at once, pages one after the other).
   */
  async *#latestVersions(
    prefix: string,
    page: VersionsPage,
    startAfter: string | undefined,
    pageSize: number | undefined,
    signal: AbortSignal | undefined,
  ): AsyncIterable<ObjectSummary> {
    for (;;) {
      for (const object of page.objects)
        if (startAfter === undefined || compareUtf8(object.key, startAfter) > 0) yield object;
      if (page.next === undefined) return;
      if (mostlyHistory(page)) {
        // Every key up to the marker's has shown its current version by now.
        yield* this.list(prefix, signal, page.next.keyMarker, pageSize);
        return;
      }
      page = await this.#versionsPage(prefix, page.next, pageSize, signal);
    }
  }

  /** One ListObjectVersions page, parsed by {@link parseListVersionsResult}. */
  #versionsPage(
    prefix: string,
    from: { keyMarker: string; versionIdMarker: string | undefined },
    maxKeys: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<VersionsPage> {
    this.#prefetched = undefined;
    const query: Record<string, string> = { versions: "" };
    if (prefix) query.prefix = prefix;
    if (from.keyMarker) query["key-marker"] = from.keyMarker;
    if (from.versionIdMarker !== undefined) query["version-id-marker"] = from.versionIdMarker;
    if (maxKeys !== undefined) query["max-keys"] = String(maxKeys);
    const headers = this.#ownerHeaders;
    return this.#send("list versions", prefix || undefined, async () =>
      parseListVersionsResult(await this.#requests.text({ method: "GET", key: "", query, headers, signal })),
    );
  }

  /**
   * Asks for the first page of `list(prefix)` now, and resolves when it came or fails as the
   * listing would: the CLI's check of a side (bucket, endpoint, credentials) before a run. If
   * the store's next request is the listing of that whole prefix (as a direct run's is), it
   * takes the page instead of asking again, so the check costs no round trip of its own: the
   * page the listing would have read a moment later (a listing is no snapshot either). Any
   * other request on the bucket's objects first (a write, a read, another listing) drops the
   * page: a listing after it must see what it did; a listing of uploads leaves it. A failed page
   * is not kept. Resolves to whether any object is listed under `prefix` that a run would sync:
   * a digest index's own keys (see `isIndexKey`) are not such objects, so a prefix that holds
   * only an index lists nothing.
   */
  async prefetchList(prefix: string, signal?: AbortSignal): Promise<boolean> {
    const page = this.#listPage("list", prefix, { startAfter: undefined }, undefined, signal);
    const prefetched = { prefix, page };
    this.#prefetched = prefetched;
    let listed: ListPage;
    try {
      listed = await page;
    } catch (error) {
      if (this.#prefetched === prefetched) this.#prefetched = undefined;
      throw error;
    }
    // A first page of index keys alone (an index of many pieces) is followed until an object
    // shows: pages read for that alone, in the rare case, and not kept.
    for (;;) {
      if (listed.objects.some((o) => !isIndexKey(o.key))) return true;
      if (listed.nextToken === undefined) return false;
      listed = await this.#listPage("list", prefix, listed.nextToken, undefined, signal);
    }
  }

  /**
   * One ListObjectsV2 page, sent by {@link S3Requests} and parsed by {@link parseListBucketResult}
   * (the SDK's deserialiser was a sixth of a `check` from the digest index). `from` is the
   * continuation token of the page, or where the first page starts.
   */
  #listPage(
    operation: string,
    prefix: string,
    from: string | { startAfter: string | undefined },
    maxKeys: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ListPage> {
    const query: Record<string, string> = { "list-type": "2" };
    if (prefix) query.prefix = prefix;
    if (typeof from === "string") query["continuation-token"] = from;
    else if (from.startAfter) query["start-after"] = from.startAfter;
    if (maxKeys !== undefined) query["max-keys"] = String(maxKeys);
    const headers = this.#ownerHeaders;
    return this.#send(operation, prefix || undefined, async () =>
      parseListBucketResult(await this.#requests.text({ method: "GET", key: "", query, headers, signal })),
    );
  }

  /**
   * One request on an object for {@link S3Requests}, with this store's bucket owner and SSE-C
   * headers beside `input` (members named as in the SDK's commands).
   */
  #object(
    method: S3Request["method"],
    key: string,
    input: Record<string, unknown>,
    signal: AbortSignal | undefined,
    more: Pick<S3Request, "body" | "chunks" | "query" | "onRetry"> = {},
  ): S3Request {
    this.#prefetched = undefined;
    const headers = requestHeaders({ ...input, ...this.#owner, ...this.#sse });
    return { method, key, headers, signal, ...more };
  }

  /**
   * A request that carries no SSE-C key (uploads' aborts, deletes, tagging): the
   * bucket owner's header, or `headers` that hold it. Like {@link #object}, it drops a page
   * asked for ahead.
   */
  #plain<M extends S3Request["method"]>(
    method: M,
    key: string,
    more: Pick<S3Request, "body" | "query"> = {},
    headers = this.#ownerHeaders,
  ): S3Request & { method: M } {
    this.#prefetched = undefined;
    return { method, key, headers, ...more };
  }

  /**
   * @internal A request on an object (see {@link #object}) with this store's error translation,
   * sent by `via`: S3Requests' `send` (the response) or `xml` (the document S3 answered).
   */
  request<V extends "send" | "xml" | "answer">(
    operation: string,
    via: V,
    method: S3Request["method"],
    key: string,
    input: Record<string, unknown>,
    signal: AbortSignal | undefined,
    more?: Pick<S3Request, "body" | "chunks" | "query" | "onRetry">,
  ): ReturnType<S3Requests[V]> {
    // TypeScript widens a call on a union of methods to the union of their results.
    const request = () =>
      this.#requests[via](this.#object(method, key, input, signal, more)) as Promise<unknown>;
    return this.#send(operation, key, request) as ReturnType<S3Requests[V]>;
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectHead | undefined> {
    let h: S3Response;
    try {
      h = await this.#requests.send(this.#object("HEAD", key, {}, signal));
    } catch (error) {
      const missingKey = isNotFound(error) && (error as { name?: string }).name !== "NoSuchBucket";
      if (missingKey || isForbidden(error)) {
        // HEAD carries no error body: the listing also tells a missing bucket from a missing key.
        const absent = await this.#absent(key, signal);
        if (missingKey || absent) return undefined;
      }
      throw this.#refusal(error, { operation: "head", bucket: this.bucket, key });
    }
    return headOfResponse(key, h.headers, Number(h.headers["content-length"] ?? 0));
  }

  /**
   * The error of a HEAD or GET of an object, in words where it is an SSE-C key's: an object
   * written with a customer key answers 400 to a request with another key or none. A HEAD's 400
   * has no body to say so; a GET's says it in the server's words (RGW: InvalidArgument,
   * "...must provide a valid encryption algorithm"; AWS: InvalidRequest, "...a form of Server
   * Side Encryption"), which name no option to give the key with.
   */
  #refusal(error: unknown, ctx: { operation: string; bucket: string; key: string }): Error {
    const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const bodiless = e.name === "UnknownError";
    const sseWords = /server.side encryption/i.test(e.message ?? "");
    if (e.$metadata?.httpStatusCode !== 400 || !(bodiless || (sseWords && !this.#sseKey)))
      return translateS3Error(error, ctx);
    const answer = bodiless
      ? "HTTP 400 with no reason (a HEAD's answer has no body)"
      : `${e.message} (HTTP 400)`;
    return new RequestRefusedError(
      ctx,
      this.#sseKey
        ? `${answer}: most likely the SSE-C key given is not the one this object was written with`
        : `${answer}: most likely the object is encrypted with a customer-provided key (SSE-C), which this side was not given (--src-sse-c-key-file, --dst-sse-c-key-file)`,
      error,
    );
  }

  /**
   * Whether `key` is absent, after a HEAD or GET of it answered 403 or 404. S3 (and Ceph RGW)
   * answer 404 for a missing key only to an identity that may list the bucket without a prefix;
   * one whose ListBucket is limited by `s3:prefix` (a prefix deployment's policy) gets 403. A
   * listing from the key itself stays within such a grant, tells a missing key from a refused
   * read, and fails for a missing bucket.
   */
  async #absent(key: string, signal?: AbortSignal): Promise<boolean> {
    const page = await this.#listPage("head", key, { startAfter: undefined }, 1, signal);
    return page.objects[0]?.key !== key;
  }

  async read(key: string, range: ByteRange, etag: string, signal?: AbortSignal): Promise<Readable> {
    if (range.length === 0) return Readable.from([]);
    const out = await this.request(
      "read",
      "send",
      "GET",
      key,
      { Range: byteRange(range), IfMatch: etag },
      signal,
    );
    return out.body;
  }

  async readInto(
    key: string,
    range: ByteRange,
    etag: string,
    sink: BodySink,
    signal?: AbortSignal,
  ): Promise<number> {
    if (range.length === 0) return 0;
    const input = { Range: byteRange(range), IfMatch: etag };
    const request = { ...this.#object("GET", key, input, signal), method: "GET" as const };
    const out = await this.#send("read", key, () => this.#requests.into(request, sink));
    return out.body;
  }

  async readFirst(
    key: string,
    length: number,
    signal?: AbortSignal,
  ): Promise<{ head: ObjectHead; body: Readable } | undefined> {
    const got = await this.#first(key, length, signal, (request) => this.#requests.send(request));
    return got && { head: got.head, body: got.answer?.body ?? Readable.from([]) };
  }

  async readFirstInto(
    key: string,
    length: number,
    sink: BodySink,
    signal?: AbortSignal,
  ): Promise<{ head: ObjectHead; landed: number } | undefined> {
    const got = await this.#first(key, length, signal, (request) => this.#requests.into(request, sink));
    return got && { head: got.head, landed: (await got.answer?.body) ?? 0 };
  }

  /**
   * The GET of the first `length` bytes of `key` that {@link readFirst} and {@link readFirstInto}
   * send by `send`, with the head of the version it found; no answer (an empty object, which
   * no range fits: its head alone) or undefined where the key does not exist.
   */
  async #first<A extends { headers: S3Response["headers"] }>(
    key: string,
    length: number,
    signal: AbortSignal | undefined,
    send: (request: S3Request & { method: "GET" }) => Promise<A>,
  ): Promise<{ head: ObjectHead; answer: A | undefined } | undefined> {
    let out: A;
    try {
      const input = { Range: byteRange({ offset: 0, length }) };
      out = await send({ ...this.#object("GET", key, input, signal), method: "GET" });
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (isNotFound(error) && e.name !== "NoSuchBucket") return undefined;
      if (isForbidden(error) && (await this.#absent(key, signal))) return undefined;
      // A range cannot start inside an empty object: its head is all there is to read.
      if (e.name === "InvalidRange" || e.$metadata?.httpStatusCode === 416) {
        const head = await this.head(key, signal);
        return head && { head, answer: undefined };
      }
      throw this.#refusal(error, { operation: "read", bucket: this.bucket, key });
    }
    // "bytes 0-4095/1048576": the whole object's size follows the slash.
    const total = /\/(\d+)$/.exec(String(out.headers["content-range"] ?? ""))?.[1];
    const size = Number(total ?? out.headers["content-length"] ?? 0);
    return { head: headOfResponse(key, out.headers, size), answer: out };
  }

  #attributes(attributes: ObjectAttributes) {
    const w = this.#write;
    return {
      ContentType: attributes.contentType,
      ContentEncoding: attributes.contentEncoding,
      ContentLanguage: attributes.contentLanguage,
      ContentDisposition: attributes.contentDisposition,
      CacheControl: attributes.cacheControl,
      Expires: attributes.expires,
      Metadata: attributes.metadata,
      StorageClass: w.storageClass as never,
      ServerSideEncryption: w.serverSideEncryption as never,
      SSEKMSKeyId: w.kmsKeyId,
      SSEKMSEncryptionContext: w.kmsEncryptionContext
        ? Buffer.from(w.kmsEncryptionContext).toString("base64")
        : undefined,
      Tagging: attributes.tagging,
    };
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
    const out = await this.checkedWrite(body, digest, (checksum) => {
      const input = {
        ContentLength: length,
        ...checksum,
        ...this.#attributes(attributes),
        ...conditionHeaders(condition),
      };
      const chunks = digest?.chunks;
      return this.request("put", "send", "PUT", key, input, signal, chunks ? { body, chunks } : { body });
    });
    return { etag: String(out.headers.etag ?? ""), ...writtenVersion(out.headers) };
  }

  async copyObject(
    source: ObjectVersionRef,
    key: string,
    attributes: ObjectAttributes,
    condition: WriteCondition,
    signal?: AbortSignal,
  ): Promise<Written> {
    const { content: out, headers } = await this.copyFrom(source, (copySource) => {
      const input = {
        ...copySource,
        MetadataDirective: "REPLACE",
        // REPLACE on both: the new object gets exactly the attributes and tags the engine states.
        TaggingDirective: "REPLACE",
        ...this.#attributes(attributes),
        ...conditionHeaders(condition),
      };
      return this.request("copy", "answer", "PUT", key, input, signal);
    });
    if (attributes.tagging !== undefined) await this.ensureTagging(key, attributes.tagging);
    return { etag: textOf(out, "ETag") ?? "", ...writtenVersion(headers) };
  }

  async createUpload(
    key: string,
    attributes: ObjectAttributes,
    signal?: AbortSignal,
  ): Promise<MultipartUpload> {
    const query = { uploads: "" };
    const input = this.#attributes(attributes);
    this.#created++;
    // The server's time before the first attempt: an upload made by an attempt whose answer
    // was lost started after it.
    const since = this.serverTime();
    let unanswered = false;
    const onRetry = (error: unknown) => {
      unanswered ||= (error as { $response?: unknown }).$response === undefined;
    };
    let out: XmlObject;
    try {
      out = await this.request("create multipart upload", "xml", "POST", key, input, signal, {
        query,
        onRetry,
      });
    } catch (error) {
      // A create the signal cut short may have been carried out all the same (its answer was
      // on its way): nothing would ever abort that upload, and the run ends on this error.
      if (signal?.aborted && since !== undefined) await this.#abortUnanswered(key, since);
      throw error;
    }
    const uploadId = textOf(out, "UploadId");
    if (!uploadId)
      throw translateS3Error(new Error("no UploadId in response"), {
        operation: "create",
        bucket: this.bucket,
        key,
      });
    if (unanswered && since !== undefined) await this.#abortUnanswered(key, since, uploadId);
    this.#begun.set(uploadId, { key, uploadId });
    return new S3MultipartUpload(this, key, uploadId, attributes.tagging);
  }

  /**
   * Aborts the uploads that attempts of one CreateMultipartUpload made and whose answers never
   * arrived (a connection broken after the server's reply, or a request the signal cut short):
   * their ids are unknown, so nothing else would abort them. They are the uploads of `key`
   * started since the first attempt (`since`, by the server's clock), up to the one answered
   * (`answered`) where an attempt was. Best effort: what it cannot abort is left to
   * `chunksync cleanup`.
   */
  async #abortUnanswered(key: string, since: number, answered?: string): Promise<void> {
    try {
      const pending: PendingUpload[] = [];
      for await (const upload of this.listUploads(key)) if (upload.key === key) pending.push(upload);
      let until = Number.POSITIVE_INFINITY;
      if (answered !== undefined) {
        const at = pending.find((u) => u.uploadId === answered)?.initiated?.getTime();
        if (at === undefined) return;
        until = at;
      }
      for (const { uploadId: id, initiated } of pending) {
        const at = initiated?.getTime();
        if (id !== answered && at !== undefined && at >= since && at <= until)
          await this.abortUpload(key, id);
      }
    } catch {
      // Left for cleanup.
    }
  }

  resumeUpload(key: string, uploadId: string, tagging?: string): MultipartUpload {
    return new S3MultipartUpload(this, key, uploadId, tagging);
  }

  async *listUploads(prefix: string, signal?: AbortSignal): AsyncIterable<PendingUpload> {
    let from: { keyMarker: string; uploadIdMarker: string | undefined } | undefined;
    do {
      const query: Record<string, string> = { uploads: "" };
      if (prefix) query.prefix = prefix;
      if (from) query["key-marker"] = from.keyMarker;
      if (from?.uploadIdMarker) query["upload-id-marker"] = from.uploadIdMarker;
      // Not through #plain: it reads no object, so a page of objects asked for ahead stands
      // (a sync lists the uploads left by other runs beside its own first listing).
      const request = { method: "GET" as const, key: "", headers: this.#ownerHeaders, query, signal };
      const page = await this.#send("list multipart uploads", prefix || undefined, async () =>
        parseListMultipartUploadsResult(await this.#requests.text(request)),
      );
      yield* page.uploads;
      from = page.next;
    } while (from);
  }

  /** Uploads created here and not yet seen completed or aborted (see `ObjectStore.begunUploads`). */
  readonly #begun = new Map<string, PendingUpload>();

  begunUploads(): PendingUpload[] {
    return [...this.#begun.values()];
  }

  #created = 0;

  uploadsCreated(): number {
    return this.#created;
  }

  /** @internal Upload `uploadId` was completed or aborted: no longer one a stop may leave. */
  ended(uploadId: string): void {
    this.#begun.delete(uploadId);
  }

  async abortUpload(key: string, uploadId: string): Promise<boolean> {
    try {
      await this.#requests.send(this.#plain("DELETE", key, { query: { uploadId } }));
      this.ended(uploadId);
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === "NoSuchUpload" || isNotFound(error)) {
        this.ended(uploadId);
        return false;
      }
      throw translateS3Error(error, { operation: "abort multipart upload", bucket: this.bucket, key });
    }
  }

  async tagging(key: string): Promise<string | undefined> {
    const request = this.#plain("GET", key, { query: { tagging: "" } });
    const xml = await this.#send("get tagging", key, () => this.#requests.text(request));
    // Ceph RGW answers for an object without tags with an empty 200.
    return tagQuery(xml.trim() === "" ? [] : tagSetOf(parseAnswer(xml).content));
  }

  /**
   * GetBucketVersioning. Like a listing, it leaves a page asked for ahead (see
   * {@link prefetchList}): it writes nothing a listing could miss. Where {@link prefetchVersioning}
   * asked already, its answer (or failure) is taken, once.
   */
  versioning(signal?: AbortSignal): Promise<BucketVersioning> {
    const asked = this.#versioningAsked;
    this.#versioningAsked = undefined;
    return asked ?? this.#askVersioning(signal);
  }

  /**
   * Asks for the bucket's versioning state now, for the run's first {@link versioning} to take:
   * the CLI asks it beside its first listing page (see {@link prefetchList}) where the run will
   * ask (a side whose index it consults), so that the question costs no round trip of its own
   * before the run's listing. A failure waits for that call, which meets it as its own.
   */
  prefetchVersioning(): void {
    const asked = this.#askVersioning(undefined);
    // Taken by versioning(), or by nothing where the index turns out to hold no entry.
    asked.catch(() => {});
    this.#versioningAsked = asked;
  }

  async #askVersioning(signal: AbortSignal | undefined): Promise<BucketVersioning> {
    const request: S3Request = {
      method: "GET",
      key: "",
      query: { versioning: "" },
      headers: this.#ownerHeaders,
      signal,
    };
    const content = await this.#send("get bucket versioning", undefined, () => this.#requests.xml(request));
    // A bucket versioning was never enabled on answers with no Status; a Status this adapter
    // does not know is taken to keep versions, which costs a HEAD, never a wrong verdict.
    const status = textOf(content, "Status");
    if (status === undefined) return "unversioned";
    return status === "Suspended" ? "suspended" : "enabled";
  }

  async delete(key: string): Promise<void> {
    await this.#send("delete", key, () => this.#requests.send(this.#plain("DELETE", key)));
  }

  /**
   * @internal Ceph RGW (Pacific) drops the Tagging header of CreateMultipartUpload and of
   * CopyObject (with TaggingDirective REPLACE), which AWS honours; a completed upload or a
   * copy that should carry tags but has none gets them set afterwards.
   */
  async ensureTagging(key: string, tagging: string): Promise<void> {
    if ((await this.tagging(key)) !== undefined) return;
    await this.#putTagging(key, tagging);
  }

  /**
   * An empty tag set is put, not deleted: Ceph RGW 16 lists an object whose tags were deleted
   * (DeleteObjectTagging) with an empty ETag, which no index entry would match again.
   */
  async putTagging(
    target: ObjectVersionRef,
    tagging: string | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.#putTagging(target.key, tagging ?? "", target.versionId, signal);
  }

  /** PutObjectTagging of `key`, of version `versionId` where given, else the current one. */
  async #putTagging(key: string, tagging: string, versionId?: string, signal?: AbortSignal): Promise<void> {
    const body = taggingXml([...new URLSearchParams(tagging)]);
    // S3 requires a checksum of this body; Content-MD5 is the one every server checks.
    const headers = requestHeaders({
      ...this.#owner,
      ContentType: "application/xml",
      ContentLength: body.length,
      ContentMD5: createHash("md5").update(body).digest("base64"),
    });
    const query: Record<string, string> =
      versionId === undefined ? { tagging: "" } : { tagging: "", versionId };
    const request = this.#plain("PUT", key, { query, body }, headers);
    await this.#send("put tagging", key, () => this.#requests.send({ ...request, signal }));
  }
}

class S3MultipartUpload implements MultipartUpload {
  constructor(
    readonly store: S3ObjectStore,
    readonly key: string,
    readonly uploadId: string,
    /** Tags the upload was created with, restated after completion where the server drops them. */
    readonly tagging?: string,
  ) {}

  async uploadPart(
    partNumber: number,
    body: WriteBody,
    length: number,
    signal?: AbortSignal,
    digest?: BodyDigest,
  ): Promise<CompletedPart> {
    const query = { partNumber: String(partNumber), uploadId: this.uploadId };
    const out = await this.store.checkedWrite(body, digest, (checksum) =>
      this.store.request(
        "upload part",
        "send",
        "PUT",
        this.key,
        { ContentLength: length, ...checksum },
        signal,
        {
          body,
          query,
        },
      ),
    );
    return { partNumber, etag: String(out.headers.etag ?? "") };
  }

  async copyPart(
    partNumber: number,
    source: ObjectVersionRef,
    range: ByteRange,
    signal?: AbortSignal,
  ): Promise<CompletedPart> {
    const query = { partNumber: String(partNumber), uploadId: this.uploadId };
    const out = await this.store.copyFrom(source, (copySource) =>
      this.store.request(
        "upload part copy",
        "xml",
        "PUT",
        this.key,
        { ...copySource, CopySourceRange: byteRange(range) },
        signal,
        { query },
      ),
    );
    return { partNumber, etag: textOf(out, "ETag") ?? "" };
  }

  async complete(parts: CompletedPart[], condition: WriteCondition): Promise<Written> {
    const body = completeMultipartUploadXml(parts);
    const input = {
      ContentType: "application/xml",
      ContentLength: body.length,
      ...conditionHeaders(condition),
    };
    const more = { body, query: { uploadId: this.uploadId } };
    const { content: out, headers } = await this.store.request(
      "complete multipart upload",
      "answer",
      "POST",
      this.key,
      input,
      undefined,
      more,
    );
    this.store.ended(this.uploadId);
    if (this.tagging !== undefined) await this.store.ensureTagging(this.key, this.tagging);
    const version = writtenVersion(headers);
    const reported = textOf(out, "ETag");
    if (reported) return { etag: reported, ...version };
    // Ceph RGW answers CompleteMultipartUpload with an empty ETag. The parts' ETags say what it
    // is: no HEAD, which would cost a round trip and could name a version written after this one.
    const etag = multipartEtag(parts);
    if (etag !== undefined) return { etag, ...version };
    const head = await this.store.head(this.key);
    return { etag: head?.etag ?? "" };
  }

  async abort(): Promise<void> {
    await this.store.abortUpload(this.key, this.uploadId);
  }
}
