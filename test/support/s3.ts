import { randomBytes } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  type BucketLocationConstraint,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  type ListMultipartUploadsCommandOutput,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  PutObjectCommand,
  type PutObjectCommandOutput,
  S3Client,
} from "@aws-sdk/client-s3";
import { inject } from "vitest";
import type { LocalS3Info } from "./global-setup.js";

/** The S3-compatible server the global setup started (or `S3_ENDPOINT` named). */
export function localS3(): LocalS3Info {
  return inject("s3");
}

/** A client for one of the two users; each call makes a new client (call `destroy()` when done). */
export function s3Client(user: "source" | "destination"): S3Client {
  const s3 = localS3();
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    // A copy: the SDK tags the credentials object it is given.
    credentials: { ...s3.users[user] },
    forcePathStyle: true,
    // Default checksums (CRC32 on every request, validation on every response) are not
    // supported by every S3-compatible server; ask for them only where S3 requires them.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/**
 * A fresh, valid bucket name (3-63 characters of a-z, 0-9 and '-') starting with `prefix`.
 * On MinIO, `src-` and `dst-` prefixes keep a bucket away from the other user (see scripts/local-s3/minio.ts).
 */
export function uniqueBucketName(prefix: string): string {
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  return `${clean || "bucket"}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

/** Buckets a test file creates, each on its own user's client, and drops when it is done. */
export class TestBuckets {
  readonly #made: [S3Client, string][] = [];

  /** A new bucket whose name starts with `name`. */
  async make(client: S3Client, name: string): Promise<string> {
    const bucket = uniqueBucketName(name);
    await createBucket(client, bucket);
    this.#made.push([client, bucket]);
    return bucket;
  }

  /** Empties and deletes every bucket made. */
  async drop(): Promise<void> {
    for (const [client, bucket] of this.#made) await emptyAndDeleteBucket(client, bucket);
  }
}

export async function createBucket(client: S3Client, name: string): Promise<void> {
  const region = await client.config.region();
  await client.send(
    new CreateBucketCommand({
      Bucket: name,
      // us-east-1 is the one region where S3 rejects an explicit LocationConstraint.
      CreateBucketConfiguration:
        region === "us-east-1" ? undefined : { LocationConstraint: region as BucketLocationConstraint },
    }),
  );
}

export function putObject(
  client: S3Client,
  bucket: string,
  key: string,
  body: Uint8Array | string,
): Promise<PutObjectCommandOutput> {
  return client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** The whole object in memory: for test-sized objects only. */
export async function readAll(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (response.Body === undefined) throw new Error(`GetObject ${bucket}/${key} returned no body`);
  return Buffer.from(await response.Body.transformToByteArray());
}

/** Deletes every object version, delete marker and unfinished multipart upload, then the bucket; a missing bucket is fine. */
export async function emptyAndDeleteBucket(client: S3Client, name: string): Promise<void> {
  try {
    await abortMultipartUploads(client, name);
    await deleteAllVersions(client, name);
    await client.send(new DeleteBucketCommand({ Bucket: name }));
  } catch (error) {
    if ((error as { name?: unknown }).name === "NoSuchBucket") return;
    throw error;
  }
}

async function abortMultipartUploads(client: S3Client, bucket: string): Promise<void> {
  let markers: { KeyMarker?: string; UploadIdMarker?: string } | undefined = {};
  while (markers !== undefined) {
    const page: ListMultipartUploadsCommandOutput = await client.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, ...markers }),
    );
    for (const { Key, UploadId } of page.Uploads ?? []) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId }));
    }
    markers = page.IsTruncated
      ? { KeyMarker: page.NextKeyMarker, UploadIdMarker: page.NextUploadIdMarker }
      : undefined;
  }
}

async function deleteAllVersions(client: S3Client, bucket: string): Promise<void> {
  let markers: { KeyMarker?: string; VersionIdMarker?: string } | undefined = {};
  while (markers !== undefined) {
    const page: ListObjectVersionsCommandOutput = await client.send(
      new ListObjectVersionsCommand({ Bucket: bucket, ...markers }),
    );
    const objects = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map(({ Key, VersionId }) => ({
      Key,
      VersionId,
    }));
    if (objects.length > 0) {
      const result = await client.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }),
      );
      const failed = result.Errors ?? [];
      if (failed.length > 0)
        throw new Error(`cannot delete ${failed.length} objects from ${bucket}: ${failed[0]?.Code}`);
    }
    markers = page.IsTruncated
      ? { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker }
      : undefined;
  }
}

/** A source bucket (source user) and a destination bucket (destination user), as two storage systems. */
export interface BucketPair {
  src: S3Client;
  dst: S3Client;
  /** Source bucket name, named `src-…` and destination `dst-…` so MinIO's name-based isolation applies. */
  s: string;
  d: string;
}

/** Runs `test` with a fresh bucket pair and deletes both buckets afterwards, whatever happens. */
export async function withBucketPair<T>(name: string, test: (pair: BucketPair) => Promise<T>): Promise<T> {
  const pair = {
    src: s3Client("source"),
    dst: s3Client("destination"),
    s: uniqueBucketName(`src-${name}`),
    d: uniqueBucketName(`dst-${name}`),
  };
  await createBucket(pair.src, pair.s);
  await createBucket(pair.dst, pair.d);
  try {
    return await test(pair);
  } finally {
    await emptyAndDeleteBucket(pair.src, pair.s);
    await emptyAndDeleteBucket(pair.dst, pair.d);
  }
}
