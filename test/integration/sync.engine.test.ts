import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { S3ObjectStore } from "@chunksync/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flipByte, seededBytes } from "../support/data.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  putObject,
  readAll,
  s3Client,
  uniqueBucketName,
  withBucketPair,
} from "../support/s3.js";
import { storeFor, syncWith } from "../support/stores.js";

const MiB = 1024 * 1024;
const C = 5 * MiB;

/** Source bytes and what the destination holds before the sync (undefined: absent). */
interface Case {
  key: string;
  source: Buffer;
  destination?: Buffer;
  /** Chunks the challenge must find different, when the destination exists. */
  changed?: number[];
}

function cases(): Case[] {
  const base = seededBytes("base", 3 * C);
  return [
    { key: "identical.bin", source: base, destination: base, changed: [] },
    { key: "first-byte.bin", source: flipByte(base, 0), destination: base, changed: [0] },
    { key: "middle-byte.bin", source: flipByte(base, C + C / 2), destination: base, changed: [1] },
    { key: "last-byte.bin", source: flipByte(base, 3 * C - 1), destination: base, changed: [2] },
    {
      key: "appended.bin",
      source: Buffer.concat([base, seededBytes("tail", MiB)]),
      destination: base,
      changed: [3],
    },
    // The last 7 bytes still match; only the extra length goes (the compose copies, uploads nothing).
    { key: "truncated.bin", source: base.subarray(0, 2 * C + 7), destination: base, changed: [] },
    { key: "missing.bin", source: seededBytes("missing", 2 * C + 1) },
    { key: "empty-both", source: Buffer.alloc(0), destination: Buffer.alloc(0), changed: [] },
    { key: "empty-source-only", source: Buffer.alloc(0) },
    { key: "empty-now", source: Buffer.alloc(0), destination: seededBytes("x", 10) },
    {
      key: "boundary-2-chunks",
      source: seededBytes("b2", 2 * C),
      destination: flipByte(seededBytes("b2", 2 * C), C),
    },
    {
      key: "five-mib-minus-1",
      source: seededBytes("m1", C - 1),
      destination: flipByte(seededBytes("m1", C - 1), 3),
    },
    { key: "five-mib", source: seededBytes("m0", C), destination: seededBytes("m0", C), changed: [] },
    { key: "five-mib-plus-1", source: seededBytes("p1", C + 1), destination: seededBytes("p1", C) },
    { key: "dir with space/a b.txt", source: seededBytes("sp", 100) },
    {
      key: "unicode/ünïcødé-日本語.bin",
      source: seededBytes("uni", 1000),
      destination: seededBytes("uni2", 1000),
    },
    { key: "percent/100%25 sure%.txt", source: seededBytes("pct", 10) },
    { key: "plus/a+b=c.txt", source: seededBytes("plus", 10) },
    { key: "deep/a/b/c/d/e/f/g/h.txt", source: seededBytes("deep", 10) },
  ];
}

describe("delta sync engine against the local S3, two users as two storage systems", () => {
  let src: S3Client;
  let dst: S3Client;
  let srcBucket: string;
  let dstBucket: string;
  let source: S3ObjectStore;
  let destination: S3ObjectStore;
  const all = cases();

  beforeAll(async () => {
    src = s3Client("source");
    dst = s3Client("destination");
    srcBucket = uniqueBucketName("src-engine");
    dstBucket = uniqueBucketName("dst-engine");
    await createBucket(src, srcBucket);
    await createBucket(dst, dstBucket);
    for (const c of all) {
      await putObject(src, srcBucket, c.key, c.source);
      if (c.destination) await putObject(dst, dstBucket, c.key, c.destination);
    }
    await putObject(dst, dstBucket, "only-on-destination.txt", "extra");
    source = await storeFor("source", srcBucket);
    destination = await storeFor("destination", dstBucket);
  });

  afterAll(async () => {
    await emptyAndDeleteBucket(src, srcBucket);
    await emptyAndDeleteBucket(dst, dstBucket);
  });

  it("plans exactly the chunks that differ, and sync moves what the plan predicted (at chunk level, as --no-blocks)", async () => {
    const plan = await syncWith(source, destination, { dryRun: true });
    const byKey = new Map(plan.results.map((r) => [r.sourceKey ?? r.destinationKey, r]));
    for (const c of all) {
      const r = byKey.get(c.key);
      expect(r, c.key).toBeDefined();
      if (c.destination === undefined) {
        expect(r?.state, c.key).toBe("missing");
      } else if (c.changed !== undefined && c.source.length >= 2 * C) {
        expect(r?.chunks?.changed, c.key).toEqual(c.changed);
      }
    }
    expect(byKey.get("only-on-destination.txt")?.state).toBe("extra");
    expect(plan.bytes.transferred).toBe(0);

    const sync = await syncWith(source, destination, { blocks: false });
    expect(sync.objects.failed).toBe(0);
    expect(sync.bytes.transferred).toBe(plan.planned.transfer);
    // A one-byte change in a 3-chunk object moves one 5 MiB chunk, not the object.
    expect(sync.results.find((r) => r.sourceKey === "middle-byte.bin")?.planned.transfer).toBe(C);
    expect(sync.objects).toMatchObject({ identical: 3, missing: 6, extra: 1, deleted: 0 });

    for (const c of all) {
      const got = await readAll(dst, dstBucket, c.key);
      expect(got.equals(c.source), `${c.key} bytes equal`).toBe(true);
    }
    // Kept without --delete.
    expect((await readAll(dst, dstBucket, "only-on-destination.txt")).toString()).toBe("extra");
  });

  it("a second run finds everything identical and moves nothing; --delete removes destination-only objects", async () => {
    const again = await syncWith(source, destination, { delete: true });
    expect(again.objects.failed).toBe(0);
    expect(again.objects.identical).toBe(all.length);
    expect(again.bytes.transferred).toBe(0);
    expect(again.objects.deleted).toBe(1);
    await expect(readAll(dst, dstBucket, "only-on-destination.txt")).rejects.toThrow();
  });
});

describe("metadata is restated on the re-composed object", () => {
  it("keeps Content-Type, Cache-Control, Content-Disposition and user metadata of the source", async () => {
    await withBucketPair("meta", async ({ src, dst, s: srcBucket, d: dstBucket }) => {
      const { PutObjectCommand } = await import("@aws-sdk/client-s3");
      const data = seededBytes("meta", 3 * C);
      const attrs = {
        ContentType: "application/x-chunksync-test",
        CacheControl: "max-age=60",
        ContentDisposition: 'attachment; filename="x.bin"',
        ContentLanguage: "de",
        Metadata: { owner: "team-a", "build-id": "42" },
      };
      await src.send(new PutObjectCommand({ Bucket: srcBucket, Key: "big", Body: data, ...attrs }));
      await src.send(new PutObjectCommand({ Bucket: srcBucket, Key: "small", Body: "tiny", ...attrs }));
      await putObject(dst, dstBucket, "big", flipByte(data, 2 * C + 5));
      const source = await storeFor("source", srcBucket);
      const destination = await storeFor("destination", dstBucket);
      const report = await syncWith(source, destination);
      expect(report.objects.failed).toBe(0);
      expect(report.results.find((r) => r.sourceKey === "big")?.action).toBe("compose");
      for (const key of ["big", "small"]) {
        const head = await dst.send(new HeadObjectCommand({ Bucket: dstBucket, Key: key }));
        expect(head.ContentType, key).toBe(attrs.ContentType);
        expect(head.CacheControl, key).toBe(attrs.CacheControl);
        expect(head.ContentDisposition, key).toBe(attrs.ContentDisposition);
        expect(head.ContentLanguage, key).toBe(attrs.ContentLanguage);
        expect(head.Metadata, key).toEqual(attrs.Metadata);
      }
      expect((await readAll(dst, dstBucket, "big")).equals(data)).toBe(true);

      // Bytes equal but metadata changed on the source: rewritten server-side, nothing transferred.
      await src.send(
        new PutObjectCommand({
          Bucket: srcBucket,
          Key: "big",
          Body: data,
          ...attrs,
          Metadata: { owner: "team-b" },
        }),
      );
      const again = await syncWith(source, destination);
      const big = again.results.find((r) => r.sourceKey === "big");
      expect(big?.action).toBe("metadata");
      expect(again.bytes.transferred).toBe(0);
      const head = await dst.send(new HeadObjectCommand({ Bucket: dstBucket, Key: "big" }));
      expect(head.Metadata).toEqual({ owner: "team-b" });
    });
  });
});

describe("tags and archived objects", () => {
  it("copies the source's tag set with copyTags, and reports archived objects as unreadable instead of copying", async () => {
    const { PutObjectTaggingCommand, GetObjectTaggingCommand } = await import("@aws-sdk/client-s3");
    await withBucketPair("tags", async ({ src, dst, s: srcBucket, d: dstBucket }) => {
      await putObject(src, srcBucket, "tagged", seededBytes("tagged", 2 * C + 3));
      await src.send(
        new PutObjectTaggingCommand({
          Bucket: srcBucket,
          Key: "tagged",
          Tagging: {
            TagSet: [
              { Key: "team", Value: "a b&c" },
              { Key: "tier", Value: "gold" },
            ],
          },
        }),
      );
      await putObject(src, srcBucket, "frozen", "cold bytes");
      const source = await storeFor("source", srcBucket);
      // The local server has no archive tier: present "frozen" as a GLACIER object the way HEAD
      // (and the GET that reads a small new object whole with its head) would.
      const frozenHead = <H extends { key: string }>(h: H) =>
        h.key === "frozen" ? { ...h, storageClass: "GLACIER", archived: true } : h;
      const head = source.head.bind(source);
      source.head = async (key, signal) => {
        const h = await head(key, signal);
        return h && frozenHead(h);
      };
      const readFirst = source.readFirst.bind(source);
      source.readFirst = async (key, length, signal) => {
        const got = await readFirst(key, length, signal);
        return got && { ...got, head: frozenHead(got.head) };
      };
      const destination = await storeFor("destination", dstBucket);
      const report = await syncWith(source, destination, { copyTags: true });
      expect(report.objects).toMatchObject({ missing: 1, unreadable: 1, failed: 0 });
      const frozen = report.results.find((r) => r.sourceKey === "frozen");
      expect(frozen?.error?.code).toBe("OBJECT_ARCHIVED");
      expect(frozen?.error?.message).toMatch(/GLACIER.*restored/);
      await expect(readAll(dst, dstBucket, "frozen")).rejects.toThrow();
      const tags = await dst.send(new GetObjectTaggingCommand({ Bucket: dstBucket, Key: "tagged" }));
      expect(tags.TagSet?.map((t) => [t.Key, t.Value]).sort()).toEqual([
        ["team", "a b&c"],
        ["tier", "gold"],
      ]);
    });
  });
});

describe("--verify", () => {
  it("re-reads on the destination nothing (none, and changed: the chunk that crossed whole was checked by its Content-MD5), or every chunk (full)", async () => {
    await withBucketPair("verify", async ({ src, dst, s: srcBucket, d: dstBucket }) => {
      const data = seededBytes("verify", 4 * C);
      await putObject(src, srcBucket, "v", data);
      const source = await storeFor("source", srcBucket);
      const destination = await storeFor("destination", dstBucket);
      const reread: Record<string, number> = {};
      for (const verify of ["none", "changed", "full"] as const) {
        await putObject(dst, dstBucket, "v", flipByte(data, 2 * C + 1));
        // Chunk level: with blocks the destination also reads for the block rounds and the
        // assembled part (tested apart, in cli.blocks).
        const report = await syncWith(source, destination, { verify, blocks: false });
        expect(report.objects.changed).toBe(1);
        expect((await readAll(dst, dstBucket, "v")).equals(data)).toBe(true);
        // The challenge itself reads all 4 chunks; verification adds to that.
        reread[verify] = report.bytes.destinationRead - 4 * C;
      }
      expect(reread).toEqual({ none: 0, changed: 0, full: 4 * C });
    });
  });
});
