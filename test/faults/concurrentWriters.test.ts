import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flipByte, seededBytes } from "../support/data.js";
import { scenario } from "../support/faultLedger.js";
import { FaultProxy, type SeenRequest } from "../support/faultProxy.js";
import { oldOrNew, pendingUploads, storeVia } from "../support/faultWorld.js";
import { putMultipart } from "../support/multipart.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  localS3,
  putObject,
  readAll,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";
import { storeFor, syncWith } from "../support/stores.js";

const CATEGORY = "3 concurrent writers";
const MiB = 1024 * 1024;
const C = 5 * MiB;

/**
 * Writes `bytes` by multipart upload: a new object whose ETag is no MD5 of its bytes is streamed
 * into one PutObject in signed chunks (one whose ETag is its MD5, with that as its Content-MD5).
 */
const putInParts = (client: S3Client, bucket: string, key: string, bytes: Buffer) =>
  putMultipart(client, bucket, key, bytes.length, C, (offset, length) =>
    bytes.subarray(offset, offset + length),
  );

const rangedGetOf = (key: string) => (r: SeenRequest) =>
  r.method === "GET" && r.headers.range !== undefined && r.path.endsWith(`/${key}`);
const partOf = (key: string, copy: boolean) => (r: SeenRequest) =>
  r.method === "PUT" &&
  r.query.includes("partNumber=") &&
  r.path.endsWith(`/${key}`) &&
  (r.headers["x-amz-copy-source"] !== undefined) === copy;

describe("objects written by someone else during the run", () => {
  let src: S3Client;
  let dst: S3Client;
  let srcBucket: string;
  let dstBucket: string;
  let proxy: FaultProxy;

  beforeAll(async () => {
    src = s3Client("source");
    dst = s3Client("destination");
    srcBucket = uniqueBucketName("src-writers");
    dstBucket = uniqueBucketName("dst-writers");
    await createBucket(src, srcBucket);
    await createBucket(dst, dstBucket);
    proxy = await FaultProxy.start({ upstream: localS3().endpoint });
  });

  afterAll(async () => {
    await proxy.stop();
    await emptyAndDeleteBucket(src, srcBucket);
    await emptyAndDeleteBucket(dst, dstBucket);
  });

  /** One object through the proxy on `side`, the rest direct; returns that object's result. */
  async function syncOne(key: string, side: "source" | "destination") {
    const source =
      side === "source"
        ? await storeVia("source", srcBucket, proxy.url)
        : await storeFor("source", srcBucket);
    const destination =
      side === "destination"
        ? await storeVia("destination", dstBucket, proxy.url)
        : await storeFor("destination", dstBucket);
    const report = await syncWith(source, destination, {
      filters: [
        { kind: "exclude", glob: "**" },
        { kind: "include", glob: key },
      ],
    });
    proxy.setRules([]);
    const result = report.results.find((r) => r.sourceKey === key);
    expect(result).toBeDefined();
    return result!;
  }

  it("source overwritten between digest and copy: caught by the pinned ETag, restarted, the new source lands whole", async () => {
    await scenario(CATEGORY, "source overwritten after digest (compose)", async () => {
      const key = "src-changes/compose.bin";
      const old = seededBytes("sc-old", 3 * C);
      const first = flipByte(old, C + 10);
      const second = flipByte(flipByte(first, 2 * C + 5), 7);
      await putObject(src, srcBucket, key, first);
      await putObject(dst, dstBucket, key, old);
      let gets = 0;
      proxy.setRules([
        {
          name: "overwrite source before the first upload read",
          action: "hook",
          // Three ranged GETs digest the chunks for the challenge; the fourth reads chunk 1 to upload it.
          when: (r) => rangedGetOf(key)(r) && ++gets === 4,
          hook: async () => {
            await putObject(src, srcBucket, key, second);
          },
          times: 1,
        },
      ]);
      const result = await syncOne(key, "source");
      expect(result.error).toBeUndefined();
      expect(result.attempts).toBe(2);
      const state = await oldOrNew(dst, dstBucket, [{ key, old, new: second }]);
      expect(state.updated).toEqual([key]);
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
      return { bytesLost: state.bytesLost };
    });
  });

  it("source overwritten while a new object streams: the half-sent upload is aborted, the new source lands whole", async () => {
    await scenario(CATEGORY, "source overwritten mid-upload (new object)", async () => {
      const key = "src-changes/new.bin";
      const first = seededBytes("sn-1", 4 * C);
      const second = seededBytes("sn-2", 4 * C + 3);
      await putInParts(src, srcBucket, key, first);
      // The object's one read is cut after half its body, its first chunks sent; the source is
      // overwritten before the read of the rest, which its pinned ETag refuses.
      proxy.setRules([
        { name: "cut the new object's read", action: "truncate", when: rangedGetOf(key), times: 1 },
        {
          name: "overwrite source mid-upload",
          action: "hook",
          when: rangedGetOf(key),
          hook: async () => {
            await putObject(src, srcBucket, key, second);
          },
          times: 1,
        },
      ]);
      const result = await syncOne(key, "source");
      expect(proxy.firedCount("cut the new object's read")).toBe(1);
      expect(proxy.firedCount("overwrite source mid-upload")).toBe(1);
      expect(result.error).toBeUndefined();
      expect(result.attempts).toBe(2);
      const state = await oldOrNew(dst, dstBucket, [{ key, new: second }]);
      expect(state.updated).toEqual([key]);
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
      return { bytesLost: state.bytesLost };
    });
  });

  it("a source that never stops changing: reported as SOURCE_CHANGED after the attempts, destination untouched", async () => {
    await scenario(CATEGORY, "source always changing", async () => {
      const key = "src-changes/busy.bin";
      const old = seededBytes("sb-old", 3 * C);
      await putObject(src, srcBucket, key, flipByte(old, 0));
      await putObject(dst, dstBucket, key, old);
      let gets = 0;
      let version = 0;
      proxy.setRules([
        {
          name: "overwrite source on every upload read",
          action: "hook",
          // Every attempt digests 3 chunks, then reads chunk 0 to upload it: rewrite the source then.
          when: (r) => rangedGetOf(key)(r) && ++gets % 4 === 0,
          hook: async () => {
            await putObject(src, srcBucket, key, flipByte(old, ++version));
          },
        },
      ]);
      const result = await syncOne(key, "source");
      expect(result.state).toBe("failed");
      expect(result.error?.code).toBe("SOURCE_CHANGED");
      expect(result.error?.message).toContain(key);
      expect(result.attempts).toBe(3);
      const state = await oldOrNew(dst, dstBucket, [{ key, old, new: flipByte(old, version) }]);
      expect(state.kept).toEqual([key]);
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
      return { bytesLost: state.bytesLost };
    });
  });

  it("destination overwritten by another writer during a compose: DESTINATION_CHANGED, the other writer's object stays", async () => {
    await scenario(CATEGORY, "destination overwritten mid-compose", async () => {
      const key = "dst-changes/compose.bin";
      const old = seededBytes("dc-old", 4 * C);
      const next = flipByte(old, 2 * C + 1);
      const theirs = seededBytes("dc-theirs", 2 * C + 9);
      await putObject(src, srcBucket, key, next);
      await putObject(dst, dstBucket, key, old);
      proxy.setRules([
        {
          name: "another writer replaces the destination",
          action: "hook",
          when: partOf(key, true),
          hook: async () => {
            await putObject(dst, dstBucket, key, theirs);
          },
          times: 1,
        },
      ]);
      const result = await syncOne(key, "destination");
      expect(proxy.firedCount("another writer replaces the destination")).toBe(1);
      expect(result.state).toBe("failed");
      expect(result.error?.code).toBe("DESTINATION_CHANGED");
      expect(result.error?.message).toContain(key);
      expect((await readAll(dst, dstBucket, key)).equals(theirs)).toBe(true);
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
    });
  });

  // A new object is streamed into one PutObject, in signed chunks where its source's ETag is no
  // MD5 of its bytes: another writer may come first on either path.
  it.each([
    {
      path: "streams in signed chunks",
      write: putInParts,
      when: (key: string) => (r: SeenRequest) =>
        r.method === "PUT" &&
        r.headers["x-amz-content-sha256"] === "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" &&
        r.path.endsWith(`/${key}`),
    },
    {
      path: "streams",
      write: putObject,
      when: (key: string) => (r: SeenRequest) =>
        r.method === "PUT" && !r.query.includes("partNumber=") && r.path.endsWith(`/${key}`),
    },
  ])(
    "destination created by another writer while a new object $path: DESTINATION_CHANGED, theirs stays",
    async ({ path, write, when }) => {
      await scenario(CATEGORY, `destination created while a new object ${path}`, async () => {
        const key = `dst-changes/new-${path.replaceAll(" ", "-")}.bin`;
        const ours = seededBytes(`dn-ours-${path}`, 3 * C);
        const theirs = Buffer.from("written by someone else");
        await write(src, srcBucket, key, ours);
        proxy.setRules([
          {
            // The proxy counts a rule's firings by its name, across tests.
            name: `another writer creates the destination while a new object ${path}`,
            action: "hook",
            when: when(key),
            hook: async () => {
              await putObject(dst, dstBucket, key, theirs);
            },
            times: 1,
          },
        ]);
        const result = await syncOne(key, "destination");
        expect(result.state).toBe("failed");
        expect(result.error?.code).toBe("DESTINATION_CHANGED");
        expect((await readAll(dst, dstBucket, key)).equals(theirs)).toBe(true);
        expect(await pendingUploads(dst, dstBucket)).toEqual([]);
      });
    },
  );
});
