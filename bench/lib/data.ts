import { createCipheriv, createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { putMultipart } from "../../test/support/multipart.js";

/** Deterministic pseudo-random bytes: the AES-128-CTR keystream of `seed` starting at `offset`. */
export function seededBytes(seed: string, length: number, offset = 0): Buffer {
  if (offset % 16 !== 0) throw new Error("offset must be a multiple of 16");
  const key = createHash("sha256").update(seed).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(offset / 16), 8);
  return createCipheriv("aes-128-ctr", key, iv).update(Buffer.alloc(length));
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Runs `worker` over `items` with `concurrency` in flight. */
export async function pool<T>(
  items: T[],
  concurrency: number,
  worker: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await worker(items[next++] as T);
    }),
  );
}

export async function putObject(client: S3Client, bucket: string, key: string, body: Buffer): Promise<void> {
  await client.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length }),
  );
}

/**
 * Uploads `size` seeded bytes as a multipart object, generating each part as it goes so that
 * a 2 GiB object never sits in memory. Returns the sha256 of the whole object.
 */
export async function putLargeObject(
  client: S3Client,
  bucket: string,
  key: string,
  seed: string,
  size: number,
  partSize = 64 * 1024 * 1024,
): Promise<string> {
  const hash = createHash("sha256");
  await putMultipart(client, bucket, key, size, partSize, (offset, length) => {
    const body = seededBytes(seed, length, offset);
    hash.update(body);
    return body;
  });
  return hash.digest("hex");
}

/** Generated files kept between runs (git ignores it): big seeded fixtures are built once. */
export const DATA_DIR = join(import.meta.dirname, "../.data");

/**
 * The directory of generated files named `key` (which must name the seed and size), built by
 * `build` on the first run only. It is built aside and renamed into place, so an interrupted
 * build is never taken for a finished one.
 */
export async function cachedDir(key: string, build: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(DATA_DIR, key);
  if (existsSync(dir)) return dir;
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  try {
    await build(partial);
    renameSync(partial, dir);
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    throw error;
  }
  return dir;
}
