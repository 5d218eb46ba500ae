import { Readable } from "node:stream";
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
 * a 412 means the source changed under the run.
 */
export const fetchLinkRange: LinkReader = async (url, etag, range, signal) => {
  const ctx = { operation: "read through link", bucket: new URL(url).hostname };
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { range: `bytes=${range.offset}-${range.offset + range.length - 1}`, "if-match": etag },
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    throw new StorageUnavailableError(ctx, (error as Error).message, error);
  }
  if (response.status === 206 || response.status === 200) {
    if (response.body === null) throw new StorageUnavailableError(ctx, "no body");
    return Readable.fromWeb(response.body as import("node:stream/web").ReadableStream);
  }
  await response.body?.cancel();
  if (response.status === 412) throw new ObjectChangedError("source", new URL(url).pathname);
  if (response.status === 503 || response.status === 429) throw new ThrottledError(ctx);
  if (response.status >= 500) throw new StorageUnavailableError(ctx, `HTTP ${response.status}`);
  throw new StorageError("LINK_READ_FAILED", `HTTP ${response.status}`, ctx);
};
