import { createHash } from "node:crypto";
import type { S3ObjectStore } from "@chunksync/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededBytes } from "../support/data.js";
import { storeVia } from "../support/faultWorld.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  localS3,
  readAll,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";

const MiB = 1024 * 1024;

/**
 * The pieces of `data`, `size` bytes at a time, each handed over in one buffer that is
 * overwritten with the next piece as soon as the consumer asks for it: what the storage port
 * allows a writer (WriteBody), and what the engine's streamed copies do with a chunk's buffer.
 */
async function* reusingOneBuffer(data: Buffer, size: number): AsyncGenerator<Buffer> {
  const buffer = Buffer.alloc(size);
  for (let at = 0; at < data.length; at += size) {
    const piece = buffer.subarray(0, Math.min(size, data.length - at));
    data.copy(piece, 0, at, at + piece.length);
    yield piece;
    // The consumer asked for the next piece: this one is the writer's again.
    piece.fill(0xee);
  }
}

/**
 * A write whose body is an iterable of pieces that reuse one buffer stores the bytes each piece
 * held when it was handed over, for pieces large and small (the S3 adapter sends a small piece
 * as a copy: its write may still be queued when the next is asked for), checked by the server
 * against the body's Content-MD5 and read back.
 */
describe("a write's body handed over in pieces of one reused buffer", () => {
  const client = s3Client("destination");
  const bucket = uniqueBucketName("dst-pieces");
  let store: S3ObjectStore;

  beforeAll(async () => {
    await createBucket(client, bucket);
    store = await storeVia("destination", bucket, localS3().endpoint, { maxAttempts: 1 });
  });
  afterAll(async () => {
    await emptyAndDeleteBucket(client, bucket);
    client.destroy();
  });

  for (const [name, size] of [
    ["pieces of 4 MiB", 4 * MiB],
    ["pieces of 8 KiB", 8 * 1024],
  ] as const) {
    it(`${name}: the object holds every piece's bytes`, async () => {
      const data = seededBytes(`pieces-${size}`, 13 * MiB + 77);
      const contentMd5 = createHash("md5").update(data).digest("base64");
      const key = `object-${size}.bin`;
      const { etag } = await store.put(
        key,
        reusingOneBuffer(data, size),
        data.length,
        { metadata: {} },
        undefined,
        undefined,
        { contentMd5 },
      );
      expect(etag.replaceAll('"', "")).toBe(createHash("md5").update(data).digest("hex"));
      expect((await readAll(client, bucket, key)).equals(data)).toBe(true);
    });
  }
});
