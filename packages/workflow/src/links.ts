import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { StorageError, StorageUnavailableError, ThrottledError } from "@chunksync/storage";
import { ObjectChangedError } from "@chunksync/sync";
import type { ChunkLinkSigner, LinkReader } from "./context.js";

/**
 * Signs GET links with the source side's own credentials: the destination side reads
 * exactly the object it was given a link to, for minutes, and holds no source rights.
 */
export class S3LinkSigner implements ChunkLinkSigner {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
  ) {}

  sign(key: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
      expiresIn: expiresInSeconds,
    });
  }
}

/**
 * Reads a byte range through a signed link, pinned with If-Match to the planned ETag:
 * a 412 or a 404 means the source changed under the run. Sent with `node:http`, which hands the body
 * over as the server sent it: `fetch` decodes a body by its Content-Encoding, so an object
 * stored with `Content-Encoding: gzip` came back inflated (and a range of it failed to decode).
 */
export const fetchLinkRange: LinkReader = async (url, etag, range, signal) => {
  const link = new URL(url);
  const ctx = { operation: "read through link", bucket: link.hostname };
  let response: IncomingMessage;
  try {
    response = await new Promise<IncomingMessage>((resolve, reject) => {
      const send = link.protocol === "https:" ? httpsRequest : httpRequest;
      const headers = { range: `bytes=${range.offset}-${range.offset + range.length - 1}`, "if-match": etag };
      send(link, { headers, ...(signal ? { signal } : {}) }, resolve)
        .on("error", reject)
        .end();
    });
  } catch (error) {
    throw new StorageUnavailableError(ctx, (error as Error).message, error);
  }
  const status = response.statusCode ?? 0;
  if (status === 206 || status === 200) return response;
  response.resume();
  // The link names the version planned: gone (404) as much as replaced (412), it changed.
  if (status === 412 || status === 404) throw new ObjectChangedError("source", link.pathname);
  if (status === 503 || status === 429) throw new ThrottledError(ctx, undefined, String(status));
  if (status >= 500) throw new StorageUnavailableError(ctx, `HTTP ${status}`);
  throw new StorageError("LINK_READ_FAILED", `HTTP ${status}`, ctx);
};
