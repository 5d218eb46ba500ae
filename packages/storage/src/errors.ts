import { ChunksyncError } from "@chunksync/core";
import type { SharedFile } from "./sharedConfig.js";

/** Where a storage error happened, so every message can name the bucket and key. */
export interface StorageErrorContext {
  operation: string;
  bucket: string;
  key?: string;
}

function where(ctx: StorageErrorContext): string {
  return ctx.key === undefined ? `s3://${ctx.bucket}` : `s3://${ctx.bucket}/${ctx.key}`;
}

/** Base class of every error the storage adapters raise; SDK errors never escape untranslated. */
export class StorageError extends ChunksyncError {
  readonly bucket: string;
  readonly key: string | undefined;
  readonly operation: string;
  /** True when repeating the same request later may succeed (throttling, 5xx, network). */
  readonly retryable: boolean;

  constructor(
    code: string,
    message: string,
    ctx: StorageErrorContext,
    options?: { cause?: unknown; retryable?: boolean },
  ) {
    super(code, `${ctx.operation} ${where(ctx)}: ${message}`, {
      cause: options?.cause,
      details: { ...ctx },
    });
    this.bucket = ctx.bucket;
    this.key = ctx.key;
    this.operation = ctx.operation;
    this.retryable = options?.retryable ?? false;
  }
}

/**
 * The server refused a request for a reason no class below names (a 4xx such as InvalidArgument,
 * InvalidStorageClass or InvalidRange). Its own class, not the base's, because a failure that
 * crossed a Step Functions Catch is known by its name alone: the name gives the code back.
 */
export class RequestRefusedError extends StorageError {
  constructor(ctx: StorageErrorContext, detail: string, cause?: unknown) {
    super("STORAGE_REQUEST_FAILED", detail, ctx, { cause });
  }
}

/** The server does not have the call (HTTP 501), for good: Ceph RGW 16's CopyObject of an SSE-C object. */
export class NotImplementedError extends RequestRefusedError {}

/**
 * A body sent in signed chunks (BodyDigest.chunks) was refused, and nothing was written: the
 * bucket takes no write without a Content-MD5 (AWS S3 under Object Lock), the server does not
 * implement signed chunks (some S3-compatible servers answer 501 or 400 InvalidRequest), or a
 * chunk's signature did not match, which an altered chunk and a server that cannot check them
 * look alike in. Its MD5 was not known before it was sent; a writer sends it again with the MD5
 * it measures first, and the store refuses every later such body of its own (see
 * `S3ObjectStore.put`) before it is sent.
 */
export class SignedChunksRefusedError extends StorageError {
  constructor(ctx: StorageErrorContext, reason: string, cause?: unknown) {
    super(
      "SIGNED_CHUNKS_REFUSED",
      `the server took no body in signed chunks (${reason}); nothing was written`,
      ctx,
      {
        cause,
      },
    );
  }
}

export class ObjectNotFoundError extends StorageError {
  constructor(ctx: StorageErrorContext, cause?: unknown, detail = "the object does not exist") {
    super("OBJECT_NOT_FOUND", detail, ctx, { cause });
  }
}

/** What a request on a multipart upload that is gone (404 NoSuchUpload) says: not that the object is. */
export const UPLOAD_GONE =
  "the multipart upload no longer exists (aborted by another process, such as a cleanup, or by the bucket's lifecycle rule)";

export class BucketNotFoundError extends StorageError {
  constructor(ctx: StorageErrorContext, cause?: unknown) {
    super("BUCKET_NOT_FOUND", "the bucket does not exist (check the bucket name, region and endpoint)", ctx, {
      cause,
    });
  }
}

export class AccessDeniedError extends StorageError {
  constructor(ctx: StorageErrorContext, cause?: unknown) {
    super("ACCESS_DENIED", "access denied (check this side's credentials, profile and bucket policy)", ctx, {
      cause,
    });
  }
}

/** The server refused the credentials it was sent (the S3 error code is in `reason`). */
export class InvalidCredentialsError extends StorageError {
  constructor(ctx: StorageErrorContext, reason: string, cause?: unknown) {
    super("INVALID_CREDENTIALS", `the server rejected the credentials (${reason})`, ctx, { cause });
  }
}

/** The SDK found no credentials to sign with, so no request reached the server. */
export class MissingCredentialsError extends StorageError {
  constructor(ctx: StorageErrorContext, detail: string, cause?: unknown) {
    super("NO_CREDENTIALS", `no credentials found (${detail})`, ctx, { cause });
  }
}

/** A named profile is in neither AWS shared file; found before any request is sent. */
export class ProfileNotFoundError extends ChunksyncError {
  readonly profile: string;
  constructor(
    profile: string,
    files: { config: SharedFile; credentials: SharedFile },
    known: string[],
    /** Named by AWS_PROFILE, not by a flag. */
    readonly fromEnvironment = false,
  ) {
    const searched = [files.config, files.credentials]
      .map((f) => `${f.path} (${f.fromVariable ? f.variable : `default path, ${f.variable} unset`})`)
      .join(" and ");
    super(
      "PROFILE_NOT_FOUND",
      `profile "${profile}" not found: searched ${searched}; ${
        known.length > 0 ? `profiles there: ${known.join(", ")}` : "they hold no profile"
      }`,
      { details: { profile, config: files.config.path, credentials: files.credentials.path } },
    );
    this.profile = profile;
  }
}

/** Why the server refused credentials, in the user's terms, by S3 error code. */
const REJECTED: Record<string, string> = {
  InvalidAccessKeyId: "InvalidAccessKeyId: the server knows no such access key",
  SignatureDoesNotMatch: "SignatureDoesNotMatch: the secret key does not belong to this access key",
  ExpiredToken: "ExpiredToken: the session token has expired",
  InvalidToken: "InvalidToken: the session token is not valid",
};

/**
 * A conditional request lost: the object is no longer the version that was planned
 * (If-Match / CopySourceIfMatch failed with 412, or S3's 409 ConditionalRequestConflict).
 */
export class PreconditionFailedError extends StorageError {
  constructor(ctx: StorageErrorContext, detail: string, cause?: unknown) {
    super("PRECONDITION_FAILED", detail, ctx, { cause });
  }
}

/**
 * The storing server computed the MD5 of the bytes it received and it is not the Content-MD5
 * the writer sent (400 BadDigest): the bytes changed on the way, and nothing was written.
 * Retryable: sending the same bytes again may arrive intact.
 */
export class BadDigestError extends StorageError {
  constructor(ctx: StorageErrorContext, cause?: unknown) {
    super(
      "BAD_DIGEST",
      "the server received bytes that do not match their Content-MD5 (400 BadDigest); nothing was written",
      ctx,
      { cause, retryable: true },
    );
  }
}

/** Objects in GLACIER / DEEP_ARCHIVE (not restored) cannot be read by ranged GET. */
export class ObjectArchivedError extends StorageError {
  constructor(ctx: StorageErrorContext, storageClass: string) {
    super(
      "OBJECT_ARCHIVED",
      `the object is in storage class ${storageClass} and must be restored first`,
      ctx,
    );
  }
}

/** The server asked us to slow down (503 SlowDown) and the SDK's retries ran out. */
export class ThrottledError extends StorageError {
  /** `answered`: the status and code the server gave, as it gave them. */
  constructor(ctx: StorageErrorContext, cause?: unknown, answered = "503") {
    super("SLOW_DOWN", `the server kept refusing requests for load (${answered}) after retries`, ctx, {
      cause,
      retryable: true,
    });
  }
}

/** A server-side or network failure that survived the SDK's retries. */
export class StorageUnavailableError extends StorageError {
  constructor(ctx: StorageErrorContext, detail: string, cause?: unknown) {
    super("STORAGE_UNAVAILABLE", detail, ctx, { cause, retryable: true });
  }
}

/**
 * Codes of a connection that broke mid-flight, which a response body streamed to the caller
 * fails with raw: Node's socket errors, and undici's, which carries the object requests
 * (see S3Requests). Worth repeating the whole step for.
 */
const BROKEN_CONNECTION_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ECONNREFUSED",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
]);

/** True for a raw error of a connection that broke mid-flight (see BROKEN_CONNECTION_CODES). */
export function isBrokenConnection(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && BROKEN_CONNECTION_CODES.has(code);
}

interface SdkErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The error name of an answer that is no S3 error at all: a body that names none (see S3Requests). */
export const NOT_S3 = "NotAnS3Answer";

/**
 * `what` was wrong with an answer whose `body` is no S3 document (a web server's page), said
 * with the body's first characters on one line, and what that most likely means.
 */
export function notS3Answer(what: string, body: string): string {
  const line = body.replace(/\s+/g, " ").trim();
  const start = line.length > 60 ? `${line.slice(0, 60)}...` : line;
  return `${what} ("${start}"): is the endpoint an S3 endpoint?`;
}

/**
 * Maps an AWS SDK (or network) error to one of the typed storage errors above.
 * S3 reports many conditions only by HTTP status on HEAD, so status codes are checked too.
 */
export function translateS3Error(error: unknown, ctx: StorageErrorContext): StorageError {
  if (error instanceof StorageError) return error;
  const e = (typeof error === "object" && error !== null ? error : {}) as SdkErrorShape;
  const name = e.name ?? e.Code ?? e.code ?? "";
  const status = e.$metadata?.httpStatusCode;
  switch (name) {
    case "NoSuchKey":
      return new ObjectNotFoundError(ctx, error);
    case "NoSuchUpload":
      return new ObjectNotFoundError(ctx, error, UPLOAD_GONE);
    case "NoSuchBucket":
      return new BucketNotFoundError(ctx, error);
    case "AccessDenied":
    case "AllAccessDisabled":
      return new AccessDeniedError(ctx, error);
    case "InvalidAccessKeyId":
    case "SignatureDoesNotMatch":
    case "ExpiredToken":
    case "InvalidToken": {
      // The server's own words where it gave any: Ceph RGW answers InvalidAccessKeyId, with a
      // Message naming the key, to a write whose --sse-kms-key-id it cannot fetch.
      const said = e.message && e.message !== name && e.message !== "UnknownError";
      return new InvalidCredentialsError(
        ctx,
        said ? `${name}: ${e.message}` : (REJECTED[name] ?? name),
        error,
      );
    }
    case "CredentialsProviderError":
      return new MissingCredentialsError(ctx, e.message ?? name, error);
    case "PreconditionFailed":
      return new PreconditionFailedError(ctx, "the object changed since it was planned (412)", error);
    case "ConditionalRequestConflict":
      return new PreconditionFailedError(ctx, "a concurrent write to the object won (409)", error);
    case "BadDigest":
    // A body signed by its SHA-256 (x-amz-content-sha256) that arrived altered.
    case "XAmzContentSHA256Mismatch":
      return new BadDigestError(ctx, error);
    case "InvalidObjectState":
      return new ObjectArchivedError(ctx, "an archive class");
    case NOT_S3:
      return new RequestRefusedError(ctx, e.message ?? name, error);
    // A request that met another on the same object (Ceph RGW 16 answers two tag sets put on
    // one object at once so; S3 says "try again"): it goes again, as an unavailable server's does.
    case "OperationAborted":
      return new StorageUnavailableError(
        ctx,
        `a conflicting operation on the object was in progress (${answered(status, name)})`,
        error,
      );
    case "SlowDown":
    case "Throttling":
    case "ThrottlingException":
    case "RequestLimitExceeded":
      return new ThrottledError(ctx, error, answered(status, name));
  }
  if (status === 412)
    return new PreconditionFailedError(ctx, "the object changed since it was planned (412)", error);
  if (status === 403) return new AccessDeniedError(ctx, error);
  if (status === 404) return new ObjectNotFoundError(ctx, error);
  // A 503 is the server shedding load, unless it named an internal failure: an <Error> in a 200
  // (S3Requests raises it as a 503 so that it is retried) is that failure, not throttling.
  if (status === 503 && name !== "InternalError")
    return new ThrottledError(ctx, error, answered(status, name));
  const detail = e.message || name || String(error);
  const untrusted = untrustedCertificate(error);
  if (untrusted !== undefined) return new RequestRefusedError(ctx, untrusted, error);
  if (status === undefined) return new StorageUnavailableError(ctx, tlsFailure(error) ?? detail, error);
  // Not Implemented: the server refuses a call it does not have, for good.
  if (status === 501) return new NotImplementedError(ctx, `${detail} (HTTP ${status})`, error);
  if (status >= 500) return new StorageUnavailableError(ctx, `${detail} (HTTP ${status})`, error);
  return new RequestRefusedError(ctx, `${detail} (HTTP ${status})`, error);
}

/** An HTTP status and the S3 error code that came with it, as a server gave them ("503 SlowDown"). */
const answered = (status: number | undefined, name: string) =>
  // A bodiless answer (a HEAD's) names no code: the SDK calls it UnknownError.
  [status, name === "UnknownError" ? "" : name].filter((x) => x !== undefined && x !== "").join(" ");

/** OpenSSL's and Node's codes of a certificate the client does not trust for the host. */
const UNTRUSTED_CERTIFICATE = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * A server certificate this client does not trust, in words with what to do, or undefined for
 * any other error: no retry mends it, and the storage is not unavailable.
 */
function untrustedCertificate(error: unknown): string | undefined {
  const e = causeCoded(error, (code) => UNTRUSTED_CERTIFICATE.has(code));
  if (e === undefined) return undefined;
  const why = typeof e.message === "string" ? e.message : e.code;
  return e.code === "ERR_TLS_CERT_ALTNAME_INVALID" || e.code.startsWith("CERT_")
    ? `the endpoint's TLS certificate is not valid for it (${why})`
    : `the endpoint's TLS certificate is signed by no authority this client trusts (${why}): name a PEM file of its CA in NODE_EXTRA_CA_CERTS`;
}

/** An error with its code, and what Node and OpenSSL say with one. */
interface CodedError {
  code: string;
  message?: unknown;
  reason?: unknown;
}

/**
 * `error` or one of its causes (three deep: undici and the SDK wrap what the socket raised) whose
 * code `test` takes; undefined where none does.
 */
function causeCoded(error: unknown, test: (code: string) => boolean): CodedError | undefined {
  let e = error as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 3; depth++, e = e.cause as typeof e)
    if (typeof e.code === "string" && test(e.code)) return e as CodedError;
  return undefined;
}

/**
 * A failed TLS handshake in words, or undefined for any other error: OpenSSL's own message names
 * its source file and ends in a newline. Most often an https:// endpoint whose port speaks plain HTTP.
 */
function tlsFailure(error: unknown): string | undefined {
  const e = causeCoded(error, (code) => code.startsWith("ERR_SSL_"));
  if (e === undefined) return undefined;
  const reason = typeof e.reason === "string" ? e.reason : e.code.slice(8).toLowerCase().replaceAll("_", " ");
  return e.code === "ERR_SSL_WRONG_VERSION_NUMBER"
    ? `the TLS handshake failed (${reason}): the endpoint answers in plain HTTP? (an http:// endpoint)`
    : `the TLS handshake failed (${reason})`;
}
