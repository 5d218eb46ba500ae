import { createHash, createHmac } from "node:crypto";
import type { AwsCredentialIdentity } from "@smithy/types";

/** SHA-256 of the empty body: the payload hash of every request without one. */
export const EMPTY_BODY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** The payload hash of a body sent in signed chunks (see {@link SigV4Signer.sign}'s chain). */
export const SIGNED_CHUNKS_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";

/**
 * The signatures of a body's chunks in turn, each chained to the one before it (the first to
 * the request's own): given a chunk's SHA-256 in hex, the signature it is sent under. The last,
 * empty chunk is signed by the empty body's hash.
 */
export type ChunkChain = (chunkSha256: string) => string;

/**
 * Headers a proxy may rewrite, which SigV4 therefore leaves unsigned (the list of
 * `@smithy/signature-v4`, so both sign the same request alike).
 */
const UNSIGNABLE = new Set([
  "authorization",
  "cache-control",
  "connection",
  "expect",
  "from",
  "keep-alive",
  "max-forwards",
  "pragma",
  "referer",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "user-agent",
  "x-amzn-trace-id",
]);

/** One request to sign: `path` and `query` exactly as sent (already URI-encoded), header names lower case. */
export interface SignableRequest {
  method: string;
  path: string;
  query: string;
  /** Must hold `host` and `x-amz-content-sha256`; the signer adds x-amz-date, the token and authorization. */
  headers: Record<string, string>;
}

/** `encodeURIComponent` plus the five characters RFC 3986 reserves that it leaves alone, as SigV4 wants. */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/**
 * AWS Signature Version 4 for one region and service, with the day's signing key cached (it
 * changes only with the date and the secret). Signs headers, never the query string.
 */
export class SigV4Signer {
  #keyFor = "";
  #key: Buffer = Buffer.alloc(0);
  /** The x-amz-date of the last second signed in: most requests of a run share their second. */
  #second = -1;
  #amzDate = "";

  constructor(
    readonly region: string,
    readonly service = "s3",
  ) {}

  /**
   * Adds x-amz-date, x-amz-security-token (with a session token) and authorization to
   * `request.headers`. Returns the chain that signs its body's chunks, where the request's
   * payload hash is {@link SIGNED_CHUNKS_PAYLOAD}.
   */
  sign(request: SignableRequest, credentials: AwsCredentialIdentity, now: Date): ChunkChain {
    const amzDate = this.#dateOf(now);
    const day = amzDate.slice(0, 8);
    const headers = request.headers;
    headers["x-amz-date"] = amzDate;
    if (credentials.sessionToken) headers["x-amz-security-token"] = credentials.sessionToken;
    const names = Object.keys(headers)
      .filter((name) => !UNSIGNABLE.has(name))
      .sort();
    let canonicalHeaders = "";
    for (const name of names)
      canonicalHeaders += `${name}:${String(headers[name]).trim().replace(/\s+/g, " ")}\n`;
    const signedHeaders = names.join(";");
    const canonical = [
      request.method,
      request.path,
      request.query,
      canonicalHeaders,
      signedHeaders,
      headers["x-amz-content-sha256"] ?? EMPTY_BODY_SHA256,
    ].join("\n");
    const scope = `${day}/${this.region}/${this.service}/aws4_request`;
    // The bytes the request is sent in: undici writes headers as Latin-1, one byte a character,
    // as it reads them. A header value read from a server (user metadata Ceph RGW or MinIO keep
    // in raw UTF-8, "café") is sent back in the very bytes it came in; hashed as UTF-8, the
    // canonical request would not be the one the server hashes (SignatureDoesNotMatch).
    const digest = createHash("sha256").update(canonical, "latin1").digest("hex");
    const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${digest}`;
    const key = this.#signingKey(day, credentials.secretAccessKey);
    let signature = createHmac("sha256", key).update(toSign).digest("hex");
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    const chunkScope = `AWS4-HMAC-SHA256-PAYLOAD\n${amzDate}\n${scope}\n`;
    return (chunkSha256) => {
      signature = createHmac("sha256", key)
        .update(`${chunkScope}${signature}\n${EMPTY_BODY_SHA256}\n${chunkSha256}`)
        .digest("hex");
      return signature;
    };
  }

  /** `now` as SigV4's basic ISO 8601 form, 20261203T024500Z. */
  #dateOf(now: Date): string {
    const second = Math.floor(now.getTime() / 1000);
    if (second !== this.#second) {
      this.#amzDate = now
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d{3}/, "");
      this.#second = second;
    }
    return this.#amzDate;
  }

  #signingKey(day: string, secret: string): Buffer {
    const id = `${day}\n${secret}`;
    if (id !== this.#keyFor) {
      const dated = hmac(hmac(hmac(`AWS4${secret}`, day), this.region), this.service);
      this.#key = hmac(dated, "aws4_request");
      this.#keyFor = id;
    }
    return this.#key;
  }
}
