import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { BadDigestError, S3_CAPABILITIES, SignedChunksRefusedError, sameEtag } from "@chunksync/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededBytes } from "../support/data.js";
import { FaultProxy } from "../support/faultProxy.js";
import { storeVia } from "../support/faultWorld.js";
import { createBucket, emptyAndDeleteBucket, localS3, s3Client, uniqueBucketName } from "../support/s3.js";

const MiB = 1024 * 1024;
const attrs = { metadata: {} };
const md5 = (data: Buffer) => createHash("md5").update(data).digest();
/** Chunks of 4 MiB, the last shorter: a bit flipped at half the body lands inside the second. */
const CHUNK = 4 * MiB;
const pieces = (data: Buffer) =>
  Array.from({ length: Math.ceil(data.length / CHUNK) }, (_, i) => data.subarray(i * CHUNK, (i + 1) * CHUNK));
const inChunks = (data: Buffer) => Readable.from(pieces(data), { objectMode: true });
const signedChunksOf = (data: Buffer) => {
  const all = pieces(data);
  return {
    lengths: all.map((p) => p.length),
    sha256: (i: number) => createHash("sha256").update(all[i]!).digest(),
  };
};

/**
 * One bit of a body inverted between the client and the real server: with a Content-MD5, or
 * signed by its SHA-256, the server refuses the write (BAD_DIGEST) and keeps nothing; without
 * either it stores the altered bytes, which is why every write carries one.
 */
describe("a bit flipped in flight on a write", () => {
  let client: S3Client;
  let bucket: string;
  let proxy: FaultProxy;

  beforeAll(async () => {
    client = s3Client("destination");
    bucket = uniqueBucketName("dst-flip");
    await createBucket(client, bucket);
    proxy = await FaultProxy.start({ upstream: localS3().endpoint });
  });

  afterAll(async () => {
    await proxy.stop();
    await emptyAndDeleteBucket(client, bucket);
    client.destroy();
  });

  const flipOnce = (name: string, query?: string) =>
    proxy.setRules([{ name, action: "flipBit", method: "PUT", times: 1, ...(query ? { query } : {}) }]);

  it.each([
    { checksum: "its Content-MD5", of: (data: Buffer) => ({ contentMd5: md5(data).toString("base64") }) },
    {
      checksum: "its SHA-256 signed as the payload hash",
      of: (data: Buffer) => ({ sha256: createHash("sha256").update(data).digest("hex") }),
    },
  ])(
    "refuses an UploadPart sent with $checksum, then stores the same part sent intact",
    async ({ checksum, of }) => {
      const store = await storeVia("destination", bucket, proxy.url, { maxAttempts: 1 });
      const data = seededBytes("flip-part", 5 * MiB);
      const upload = await store.createUpload("mp.bin", attrs);
      // A rule's name counts its firings across the file: one name per case.
      const rule = `part, ${checksum}`;
      flipOnce(rule, "partNumber=");
      const refused = upload.uploadPart(1, Readable.from([data]), data.length, undefined, of(data));
      await expect(refused).rejects.toBeInstanceOf(BadDigestError);
      await expect(refused).rejects.toMatchObject({ code: "BAD_DIGEST", retryable: true });
      expect(proxy.firedCount(rule)).toBe(1);

      const part = await upload.uploadPart(1, Readable.from([data]), data.length, undefined, of(data));
      const { etag } = await upload.complete([part], { ifNoneMatch: "*" });
      const head = await store.head("mp.bin");
      expect(head?.size).toBe(data.length);
      expect(sameEtag(etag, `"${createHash("md5").update(md5(data)).digest("hex")}-1"`)).toBe(true);
    },
  );

  it("where the bucket asks for a Content-MD5 beside the signed SHA-256 (AWS S3 under Object Lock), sends the part again with one, and every later write with one", async () => {
    const store = await storeVia("destination", bucket, proxy.url, { maxAttempts: 1 });
    const seen: { query: string; md5: boolean }[] = [];
    proxy.onRequest = (r) => {
      if (r.method === "PUT") seen.push({ query: r.query, md5: r.headers["content-md5"] !== undefined });
    };
    proxy.setRules([
      {
        name: "object lock",
        action: "checksumRequired",
        method: "PUT",
        when: (r) => r.headers["content-md5"] === undefined,
      },
    ]);
    try {
      const data = seededBytes("lock-part", 5 * MiB);
      const sha256 = createHash("sha256").update(data).digest("hex");
      const upload = await store.createUpload("locked.bin", attrs);
      const parts = [
        await upload.uploadPart(1, data, data.length, undefined, { sha256 }),
        await upload.uploadPart(2, data, data.length, undefined, { sha256 }),
      ];
      await upload.complete(parts, { ifNoneMatch: "*" });
      expect((await store.head("locked.bin"))?.size).toBe(2 * data.length);
      // Part 1 refused once without, then sent with a Content-MD5; part 2 sent with one at once.
      expect(seen.filter((r) => r.query.includes("partNumber="))).toEqual([
        expect.objectContaining({ md5: false }),
        expect.objectContaining({ md5: true }),
        expect.objectContaining({ md5: true }),
      ]);
      expect(proxy.firedCount("object lock")).toBe(1);
    } finally {
      proxy.onRequest = undefined;
      proxy.setRules([]);
    }
  });

  it("stores a PutObject sent in signed chunks byte for byte, with no Content-Encoding of its framing", async () => {
    const store = await storeVia("destination", bucket, proxy.url, { maxAttempts: 1 });
    const data = seededBytes("signed-put", 9 * MiB);
    const written = { ...attrs, contentType: "text/plain" };
    const { etag } = await store.put(
      "signed.bin",
      inChunks(data),
      data.length,
      written,
      { ifNoneMatch: "*" },
      undefined,
      {
        chunks: signedChunksOf(data),
      },
    );
    expect(sameEtag(etag, `"${md5(data).toString("hex")}"`)).toBe(true);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: "signed.bin" }));
    expect(head.ContentLength).toBe(data.length);
    expect(head.ContentEncoding).toBeUndefined();
    expect(head.ContentType).toBe("text/plain");
  });

  it("refuses a PutObject sent in signed chunks with a bit flipped in a chunk (SIGNED_CHUNKS_REFUSED), storing nothing, and every later one before it is sent", async () => {
    const store = await storeVia("destination", bucket, proxy.url, { maxAttempts: 1 });
    const data = seededBytes("flip-signed", 9 * MiB);
    flipOnce("signed");
    const put = (key: string) =>
      store.put(key, inChunks(data), data.length, attrs, { ifNoneMatch: "*" }, undefined, {
        chunks: signedChunksOf(data),
      });
    const refused = put("flipped-signed.bin");
    await expect(refused).rejects.toBeInstanceOf(SignedChunksRefusedError);
    await expect(refused).rejects.toThrow(/a chunk's signature did not match/);
    expect(proxy.firedCount("signed")).toBe(1);
    expect(await store.head("flipped-signed.bin")).toBeUndefined();
    // The server answers as one that does not check signed chunks would: the store sends no more.
    const before = proxy.seen.length;
    await expect(put("after-flip.bin")).rejects.toMatchObject({ code: "SIGNED_CHUNKS_REFUSED" });
    expect(proxy.seen.length).toBe(before);
  });

  it.each([
    { server: "a bucket under Object Lock (AWS S3)", action: "checksumRequired", says: /Content-MD5/ },
    {
      server: "a server without signed chunks (501)",
      action: "signedChunksNotImplemented",
      says: /not implemented/,
    },
  ] as const)(
    "where $server refuses a put in signed chunks, fails it with SIGNED_CHUNKS_REFUSED, and every later one before it is sent",
    async ({ action, says }) => {
      const store = await storeVia("destination", bucket, proxy.url, { maxAttempts: 1 });
      const puts: string[] = [];
      proxy.onRequest = (r) => {
        if (r.method === "PUT") puts.push(r.path);
      };
      proxy.setRules([{ name: `refused, ${action}`, action, method: "PUT" }]);
      try {
        const data = seededBytes("refused-signed", 9 * MiB);
        const put = (key: string) =>
          store.put(key, inChunks(data), data.length, attrs, { ifNoneMatch: "*" }, undefined, {
            chunks: signedChunksOf(data),
          });
        const first = put(`${action}-1.bin`);
        await expect(first).rejects.toBeInstanceOf(SignedChunksRefusedError);
        await expect(first).rejects.toThrow(says);
        await expect(put(`${action}-2.bin`)).rejects.toMatchObject({ code: "SIGNED_CHUNKS_REFUSED" });
        expect(puts).toHaveLength(1);
      } finally {
        proxy.onRequest = undefined;
        proxy.setRules([]);
      }
    },
  );

  it("refuses a PutObject of a Buffer: the adapter computes its Content-MD5 when none is given", async () => {
    const store = await storeVia("destination", bucket, proxy.url, { maxAttempts: 1 });
    const data = seededBytes("flip-put", 4096);
    flipOnce("put");
    const refused = store.put("small.bin", data, data.length, attrs, { ifNoneMatch: "*" });
    await expect(refused).rejects.toBeInstanceOf(BadDigestError);
    expect(proxy.firedCount("put")).toBe(1);
    expect(await store.head("small.bin")).toBeUndefined();
  });

  it("stores the altered bytes of a streamed PutObject sent without a checksum", async () => {
    const store = await storeVia("destination", bucket, proxy.url, { maxAttempts: 1 });
    const data = seededBytes("flip-unchecked", 4096);
    flipOnce("unchecked");
    const { etag } = await store.put("unchecked.bin", Readable.from([data]), data.length, attrs, {
      ifNoneMatch: "*",
    });
    expect(proxy.firedCount("unchecked")).toBe(1);
    const altered = Buffer.from(data);
    altered[2048] = (altered[2048] ?? 0) ^ 1;
    expect(sameEtag(etag, `"${md5(altered).toString("hex")}"`)).toBe(true);
  });

  it("the local server neither checks nor keeps an additional checksum, so the adapter declares Content-MD5 and the signed payload hash only", async () => {
    const data = seededBytes("crc-probe", 4096);
    // The CRC32C of other bytes: a server that validated x-amz-checksum-crc32c would refuse it.
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: "crc.bin",
        Body: data,
        ContentLength: data.length,
        ChecksumCRC32C: "AAAAAA==",
      }),
    );
    const head = await client.send(
      new HeadObjectCommand({ Bucket: bucket, Key: "crc.bin", ChecksumMode: "ENABLED" }),
    );
    expect(head.ContentLength).toBe(data.length);
    expect(head.ChecksumCRC32C).toBeUndefined();
    expect(S3_CAPABILITIES.writeChecksums).toEqual({
      contentMd5: true,
      payloadSha256: true,
      signedChunks: true,
    });
  });
});
