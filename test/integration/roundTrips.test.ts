import { randomBytes } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import type { RunReport, SyncOptions } from "@chunksync/sync";
import { syncWithWorkflow } from "@chunksync/workflow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flipByte, seededBytes } from "../support/data.js";
import { FaultProxy, type SeenRequest } from "../support/faultProxy.js";
import { storeVia } from "../support/faultWorld.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  localS3,
  putObject,
  readAll,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";
import { syncWith } from "../support/stores.js";

const MiB = 1024 * 1024;
const C = 5 * MiB;

/**
 * The requests the engine spends per object, seen by a forwarding proxy in front of both
 * sides: small objects are bound by round trips, so the listings stand in for HEADs.
 */
describe("round trips per object", () => {
  let src: S3Client;
  let dst: S3Client;
  let srcBucket: string;
  let dstBucket: string;
  let proxy: FaultProxy;
  const small = seededBytes("rt-small", 1000);
  const big = seededBytes("rt-big", 3 * C);
  const changed = seededBytes("rt-changed", 2000);

  beforeAll(async () => {
    src = s3Client("source");
    dst = s3Client("destination");
    srcBucket = uniqueBucketName("src-trips");
    dstBucket = uniqueBucketName("dst-trips");
    await createBucket(src, srcBucket);
    await createBucket(dst, dstBucket);
    for (const key of ["same-1", "same-2", "same-3"]) {
      await putObject(src, srcBucket, key, small);
      await putObject(dst, dstBucket, key, small);
    }
    await putObject(src, srcBucket, "same-big", big);
    await putObject(dst, dstBucket, "same-big", big);
    await putObject(src, srcBucket, "changed", changed);
    await putObject(dst, dstBucket, "changed", flipByte(changed, 1500));
    await putObject(src, srcBucket, "new", small);
    proxy = await FaultProxy.start({ upstream: localS3().endpoint });
  });

  afterAll(async () => {
    await proxy.stop();
    await emptyAndDeleteBucket(src, srcBucket);
    await emptyAndDeleteBucket(dst, dstBucket);
  });

  it("an object on both sides costs its chunks' GETs on each side and no HEAD; a new one no destination HEAD", async () => {
    const report = await syncWith(
      await storeVia("source", srcBucket, proxy.url),
      await storeVia("destination", dstBucket, proxy.url),
    );
    expect(report.objects).toMatchObject({ identical: 4, changed: 1, missing: 1, failed: 0 });
    for (const key of ["changed", "new"]) {
      const want = key === "new" ? small : changed;
      expect((await readAll(dst, dstBucket, key)).equals(want), key).toBe(true);
    }

    const on = (bucket: string, key: string, method: string) => (r: SeenRequest) =>
      r.method === method && r.path === `/${bucket}/${key}`;
    const count = (f: (r: SeenRequest) => boolean) => proxy.seen.filter(f).length;
    for (const key of ["same-1", "same-2", "same-3", "same-big"]) {
      for (const bucket of [srcBucket, dstBucket]) {
        expect(count(on(bucket, key, "HEAD")), `HEAD ${bucket}/${key}`).toBe(0);
        const ranges = proxy.seen.filter(on(bucket, key, "GET")).map((r) => r.headers.range);
        // One read per chunk: the first chunk's read doubled as the HEAD and is not repeated.
        expect(ranges.length, `GETs ${bucket}/${key}`).toBe(key === "same-big" ? 3 : 1);
        expect(new Set(ranges).size).toBe(ranges.length);
      }
    }
    expect(count(on(dstBucket, "new", "HEAD"))).toBe(0);
  });

  /** Both engines over the proxy, one prefix per run so each sees only its own objects. */
  const engines: Record<string, (prefix: string, verify: SyncOptions["verify"]) => Promise<RunReport>> = {
    direct: async (prefix, verify) =>
      syncWith(
        await storeVia("source", srcBucket, proxy.url),
        await storeVia("destination", dstBucket, proxy.url),
        { sourcePrefix: prefix, destinationPrefix: prefix, verify },
      ),
    workflow: async (prefix, verify) =>
      syncWithWorkflow({
        source: await storeVia("source", srcBucket, proxy.url),
        sourcePrefix: prefix,
        destination: await storeVia("destination", dstBucket, proxy.url),
        destinationPrefix: prefix,
        secret: randomBytes(32),
        algorithm: "sha256",
        variant: "encode",
        chunkSize: C,
        verify,
        concurrency: 4,
        filters: [],
        delete: false,
      }),
  };

  // The direct engine reads a small new object whole with its head (one GET) and writes it
  // with one conditional PUT carrying its Content-MD5, which the server checks: that check is
  // its verification, and no challenge follows. The workflow plans from a HEAD of the source
  // (the destination's listing tells it the key is absent, as it tells the direct engine) and
  // reads through a link: 3 requests where it made 7. Under --verify full its source side
  // reads the object again to digest it for the challenge (it never saw the bytes the
  // destination side fetched), and the destination reads it back.
  const perObject = (name: string, verify: "changed" | "full") =>
    name === "direct"
      ? { "HEAD source": 0, "GET source": 1, "HEAD destination": 0, "PUT destination": 1 }
      : {
          "HEAD source": 1,
          "GET source": verify === "full" ? 2 : 1,
          "HEAD destination": 0,
          "PUT destination": 1,
        };

  for (const [name, engine] of Object.entries(engines)) {
    it(`${name}: a small new object costs ${name === "direct" ? "2 requests" : "3 requests"}; only --verify full reads it back`, async () => {
      const gets: Record<string, number> = {};
      for (const verify of ["changed", "full"] as const) {
        const prefix = `${name}-${verify}/`;
        const keys = ["a", "b", "c"].map((k) => `${prefix}${k}`);
        for (const key of keys) await putObject(src, srcBucket, key, small);
        const report = await engine(prefix, verify);
        expect(report.objects).toMatchObject({ missing: 3, failed: 0 });
        for (const key of keys) {
          expect((await readAll(dst, dstBucket, key)).equals(small), key).toBe(true);
          const on = (bucket: string, method: string) =>
            proxy.seen.filter((r) => r.method === method && r.path === `/${bucket}/${key}`).length;
          const counts = {
            "HEAD source": on(srcBucket, "HEAD"),
            "GET source": on(srcBucket, "GET"),
            "HEAD destination": on(dstBucket, "HEAD"),
            "PUT destination": on(dstBucket, "PUT"),
          };
          expect(counts, key).toEqual(perObject(name, verify));
          gets[`${verify} ${key}`] = on(dstBucket, "GET");
        }
      }
      expect(Object.values(gets)).toEqual([0, 0, 0, 1, 1, 1]);
    });
  }
});
