import {
  AccessDeniedError,
  BadDigestError,
  BucketNotFoundError,
  InvalidCredentialsError,
  MissingCredentialsError,
  ObjectNotFoundError,
  PreconditionFailedError,
  RequestRefusedError,
  StorageError,
  StorageUnavailableError,
  ThrottledError,
  translateS3Error,
} from "@chunksync/storage";
import { describe, expect, it } from "vitest";

const ctx = { operation: "read", bucket: "b", key: "k/x" };
const sdk = (name: string, status?: number) =>
  Object.assign(new Error(`${name} from the SDK`), { name, $metadata: { httpStatusCode: status } });

describe("translateS3Error", () => {
  it.each([
    [sdk("NoSuchKey", 404), ObjectNotFoundError],
    [sdk("NoSuchBucket", 404), BucketNotFoundError],
    [sdk("AccessDenied", 403), AccessDeniedError],
    [sdk("InvalidAccessKeyId", 403), InvalidCredentialsError],
    [sdk("SignatureDoesNotMatch", 403), InvalidCredentialsError],
    [sdk("CredentialsProviderError"), MissingCredentialsError],
    [sdk("PreconditionFailed", 412), PreconditionFailedError],
    [sdk("ConditionalRequestConflict", 409), PreconditionFailedError],
    [sdk("SlowDown", 503), ThrottledError],
    [sdk("OperationAborted", 409), StorageUnavailableError],
    [sdk("BadDigest", 400), BadDigestError],
    [sdk("XAmzContentSHA256Mismatch", 400), BadDigestError],
    [sdk("Unknown", 412), PreconditionFailedError],
    [sdk("Unknown", 500), StorageUnavailableError],
    [Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }), StorageUnavailableError],
  ])("maps %s to its typed error, naming the operation, bucket and key", (error, type) => {
    const translated = translateS3Error(error, ctx);
    expect(translated).toBeInstanceOf(type);
    expect(translated.message).toContain("read s3://b/k/x");
    expect(translated.name).toBe(type.name);
    expect(translated.cause).toBe(error);
  });

  it("takes a 409 OperationAborted (another request on the object was in progress) as worth trying again", () => {
    const translated = translateS3Error(sdk("OperationAborted", 409), ctx);
    expect(translated.retryable).toBe(true);
    expect(translated.message).toBe(
      "read s3://b/k/x: a conflicting operation on the object was in progress (409 OperationAborted)",
    );
  });

  it("says a failed TLS handshake in words, without OpenSSL's source file and newline", () => {
    // As undici raises it for an https:// endpoint whose port speaks plain HTTP.
    const wrongVersion = Object.assign(
      new Error(
        "800C6220FC7E0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n",
      ),
      { code: "ERR_SSL_WRONG_VERSION_NUMBER", reason: "wrong version number", library: "SSL routines" },
    );
    expect(translateS3Error(wrongVersion, ctx).message).toBe(
      "read s3://b/k/x: the TLS handshake failed (wrong version number): the endpoint answers in plain HTTP? (an http:// endpoint)",
    );
    const wrapped = Object.assign(new Error("fetch failed"), {
      cause: { code: "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE" },
    });
    expect(translateS3Error(wrapped, ctx).message).toBe(
      "read s3://b/k/x: the TLS handshake failed (sslv3 alert handshake failure)",
    );
  });

  it("says a certificate the client does not trust, and what to do: refused, not storage unavailable", () => {
    const selfSigned = Object.assign(new Error("self-signed certificate"), {
      code: "DEPTH_ZERO_SELF_SIGNED_CERT",
    });
    const refused = translateS3Error(Object.assign(new Error("fetch failed"), { cause: selfSigned }), ctx);
    expect(refused).toBeInstanceOf(RequestRefusedError);
    expect(refused.message).toBe(
      "read s3://b/k/x: the endpoint's TLS certificate is signed by no authority this client trusts (self-signed certificate): name a PEM file of its CA in NODE_EXTRA_CA_CERTS",
    );
    const otherHost = Object.assign(new Error("Hostname/IP does not match certificate's altnames"), {
      code: "ERR_TLS_CERT_ALTNAME_INVALID",
    });
    expect(translateS3Error(otherHost, ctx).message).toBe(
      "read s3://b/k/x: the endpoint's TLS certificate is not valid for it (Hostname/IP does not match certificate's altnames)",
    );
  });

  it("tells credentials the server rejected from credentials the SDK never found", () => {
    // An answer whose <Message> is empty (Ceph RGW's) is named by its code alone.
    const bare = (name: string) =>
      Object.assign(new Error(name), { name, $metadata: { httpStatusCode: 403 } });
    expect(translateS3Error(bare("InvalidAccessKeyId"), ctx).message).toBe(
      "read s3://b/k/x: the server rejected the credentials (InvalidAccessKeyId: the server knows no such access key)",
    );
    expect(translateS3Error(bare("SignatureDoesNotMatch"), ctx).message).toMatch(
      /rejected the credentials \(SignatureDoesNotMatch: the secret key does not belong to this access key\)$/,
    );
    // The server's own words stand where it said why: RGW refusing a KMS key it cannot fetch.
    const kms = Object.assign(new Error("Failed to retrieve the actual key, kms-keyid: testkey"), {
      name: "InvalidAccessKeyId",
      $metadata: { httpStatusCode: 400 },
    });
    expect(translateS3Error(kms, ctx).message).toBe(
      "read s3://b/k/x: the server rejected the credentials (InvalidAccessKeyId: Failed to retrieve the actual key, kms-keyid: testkey)",
    );
    const missing = translateS3Error(sdk("CredentialsProviderError"), ctx);
    expect(missing.code).toBe("NO_CREDENTIALS");
    expect(missing.message).toBe(
      "read s3://b/k/x: no credentials found (CredentialsProviderError from the SDK)",
    );
  });

  it("marks throttling and 5xx retryable, and client errors not", () => {
    expect(translateS3Error(sdk("SlowDown", 503), ctx).retryable).toBe(true);
    expect(translateS3Error(sdk("InternalError", 500), ctx).retryable).toBe(true);
    expect(translateS3Error(sdk("ServiceUnavailable", 503), ctx).code).toBe("SLOW_DOWN");
    // The message quotes what the server answered, not a code it never sent.
    expect(translateS3Error(sdk("ServiceUnavailable", 503), ctx).message).toBe(
      "read s3://b/k/x: the server kept refusing requests for load (503 ServiceUnavailable) after retries",
    );
    expect(translateS3Error(sdk("SlowDown", 503), ctx).message).toContain("(503 SlowDown)");
    expect(translateS3Error(sdk("UnknownError", 503), ctx).message).toContain("(503)");
    // An <Error> that came in a 200 is raised as a 503 to be retried; out of retries it is no throttling.
    const internal = translateS3Error(sdk("InternalError", 503), ctx);
    expect(internal).toMatchObject({ code: "STORAGE_UNAVAILABLE", retryable: true });
    expect(translateS3Error(sdk("AccessDenied", 403), ctx).retryable).toBe(false);
    const other = translateS3Error(sdk("InvalidArgument", 400), ctx);
    expect(other).toBeInstanceOf(StorageError);
    expect(other.code).toBe("STORAGE_REQUEST_FAILED");
    expect(other.retryable).toBe(false);
  });
});
