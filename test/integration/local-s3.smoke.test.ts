import { createHash, randomBytes } from "node:crypto";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createBucket,
  emptyAndDeleteBucket,
  localS3,
  putObject,
  readAll,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";

const MiB = 1024 * 1024;

/** Compares by length and digest so a mismatch does not print megabytes. */
function fingerprint(bytes: Uint8Array): { length: number; sha256: string } {
  return { length: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
}

async function expectS3Error(call: Promise<unknown>, status: number, name: string): Promise<void> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${status} ${name}, but the call succeeded`).toBeDefined();
  expect(error).toMatchObject({ name, $metadata: { httpStatusCode: status } });
}

/** `src-`/`dst-` prefixes: on MinIO, which has no bucket owners, they are what keeps the users apart. */
const prefix = { source: "src-smoke", destination: "dst-smoke" } as const;

describe.each(["source", "destination"] as const)("local S3 as the %s user", (user) => {
  let client: S3Client;
  let bucket: string;

  beforeAll(async () => {
    client = s3Client(user);
    bucket = uniqueBucketName(prefix[user]);
    await createBucket(client, bucket);
  });

  afterAll(async () => {
    await emptyAndDeleteBucket(client, bucket);
    client.destroy();
  });

  it("puts an object and returns the exact bytes of a ranged GET", async () => {
    const body = randomBytes(64 * 1024);
    await putObject(client, bucket, "ranged", body);
    const response = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: "ranged", Range: "bytes=1000-4999" }),
    );
    expect(response.ContentRange).toBe(`bytes 1000-4999/${body.length}`);
    const bytes = Buffer.from(await response.Body!.transformToByteArray());
    expect(bytes.equals(body.subarray(1000, 5000))).toBe(true);
    expect(fingerprint(await readAll(client, bucket, "ranged"))).toEqual(fingerprint(body));
  });

  it("completes a multipart upload of one uploaded part and one copied byte range", async () => {
    const base = randomBytes(2 * MiB);
    await putObject(client, bucket, "base", base);
    // Every part but the last must be at least 5 MiB.
    const first = randomBytes(5 * MiB);
    const range = { start: 12_345, end: 12_345 + 700 * 1024 - 1 };

    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: "composed" }),
    );
    const uploaded = await client.send(
      new UploadPartCommand({ Bucket: bucket, Key: "composed", UploadId, PartNumber: 1, Body: first }),
    );
    const copied = await client.send(
      new UploadPartCopyCommand({
        Bucket: bucket,
        Key: "composed",
        UploadId,
        PartNumber: 2,
        CopySource: `${bucket}/base`,
        CopySourceRange: `bytes=${range.start}-${range.end}`,
      }),
    );
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: "composed",
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: uploaded.ETag },
            { PartNumber: 2, ETag: copied.CopyPartResult?.ETag },
          ],
        },
      }),
    );

    const expected = Buffer.concat([first, base.subarray(range.start, range.end + 1)]);
    expect(fingerprint(await readAll(client, bucket, "composed"))).toEqual(fingerprint(expected));
  });

  it("refuses PutObject with If-None-Match: * on an existing key (412)", async () => {
    const put = (body: string) =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: "once", Body: body, IfNoneMatch: "*" }));
    await put("first");
    await expectS3Error(put("second"), 412, "PreconditionFailed");
    expect((await readAll(client, bucket, "once")).toString()).toBe("first");
  });
});

describe("isolation between the two users", () => {
  const sourceBucket = uniqueBucketName("src-isolation");
  const destinationBucket = uniqueBucketName("dst-isolation");
  let source: S3Client;
  let destination: S3Client;

  beforeAll(async () => {
    source = s3Client("source");
    destination = s3Client("destination");
    await createBucket(source, sourceBucket);
    await createBucket(destination, destinationBucket);
    await putObject(source, sourceBucket, "secret", "only the source user may read this");
  });

  afterAll(async () => {
    await emptyAndDeleteBucket(source, sourceBucket);
    await emptyAndDeleteBucket(destination, destinationBucket);
    source.destroy();
    destination.destroy();
  });

  it("uses two different identities", () => {
    const { users } = localS3();
    expect(users.destination.accessKeyId).not.toBe(users.source.accessKeyId);
  });

  it("denies the destination user reading the source user's object", async () => {
    const get = destination.send(new GetObjectCommand({ Bucket: sourceBucket, Key: "secret" }));
    await expectS3Error(get, 403, "AccessDenied");
  });

  it("denies the destination user listing the source user's bucket", async () => {
    await expectS3Error(
      destination.send(new ListObjectsV2Command({ Bucket: sourceBucket })),
      403,
      "AccessDenied",
    );
  });

  it("denies the destination user a server-side copy of the source user's object", async () => {
    const copy = destination.send(
      new CopyObjectCommand({
        Bucket: destinationBucket,
        Key: "stolen",
        CopySource: `${sourceBucket}/secret`,
      }),
    );
    await expectS3Error(copy, 403, "AccessDenied");
  });
});
