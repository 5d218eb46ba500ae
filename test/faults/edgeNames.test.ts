import { DeleteObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import { scenario } from "../support/faultLedger.js";
import { oldOrNew, pendingUploads, type Versions } from "../support/faultWorld.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  putObject,
  readAll,
  s3Client,
  uniqueBucketName,
  withBucketPair,
} from "../support/s3.js";

const CATEGORY = "6 edge names and sizes";
const MiB = 1024 * 1024;
const C = 5 * MiB;

/**
 * Names from rclone's encoding tests (control characters, leading and trailing spaces and
 * dots, `..` segments, percent-encoded text) and sizes from ceph/s3-tests' multipart copy
 * tests (0 B, 1 B, 5 MiB - 1, 5 MiB, 5 MiB + 1), each as a new object and as a changed one.
 */
const NAMES = [
  "ctl/\x01start",
  "ctl/mid\x01dle",
  "ctl/tab\there",
  "ctl/\x1f\x7f",
  "ctl/new\nline",
  "ctl/carriage\rreturn",
  " leading space",
  "trailing space ",
  "spaces/ both ",
  ".leading-dot",
  "trailing-dot.",
  "dots/...",
  "dots/..",
  "dots/../up",
  "dots/./here",
  "a/../../b",
  "percent/%41%42%2F%2e%2e",
  "percent/100%",
  "percent/%zz",
  "slashes//double",
  "quote\"apos'back\\slash",
  "xml/<tag>&amp;",
  "unicode/ünï-日本-😀",
  `long/${"k".repeat(1024 - "long/".length)}`,
  `long-multibyte/${"é".repeat((1024 - "long-multibyte/".length) / 2)}`,
];

const SIZES: [string, number][] = [
  ["0B", 0],
  ["1B", 1],
  ["5MiB-1", C - 1],
  ["5MiB", C],
  ["5MiB+1", C + 1],
  ["3x5MiB+1", 3 * C + 1],
];

describe("edge names and sizes round-trip byte-exact through sync", () => {
  let src: S3Client;
  let dst: S3Client;
  let srcBucket: string;
  let dstBucket: string;
  const versions: Versions[] = [];
  const refused: string[] = [];

  beforeAll(async () => {
    src = s3Client("source");
    dst = s3Client("destination");
    srcBucket = uniqueBucketName("src-edge");
    dstBucket = uniqueBucketName("dst-edge");
    await createBucket(src, srcBucket);
    await createBucket(dst, dstBucket);
    for (const [i, key] of NAMES.entries()) {
      // Even names are new on the destination, odd ones changed (re-composed or re-written).
      const data = seededBytes(`name-${i}`, 100 + i);
      const old = i % 2 === 1 ? flipByte(data, 3) : undefined;
      try {
        await putObject(src, srcBucket, key, data);
      } catch (error) {
        // The server refused the key on a plain PutObject: documented, not synced.
        refused.push(`${JSON.stringify(key)}: ${(error as Error).name}`);
        continue;
      }
      if (old) await putObject(dst, dstBucket, key, old);
      versions.push({ key, new: data, ...(old ? { old } : {}) });
    }
    for (const [name, size] of SIZES) {
      const data = seededBytes(`size-${name}`, size);
      await putObject(src, srcBucket, `sizes/new-${name}`, data);
      versions.push({ key: `sizes/new-${name}`, new: data });
      if (size > 0) {
        // The last byte changed: a re-compose whose final part is tiny (or the only part).
        const old = flipByte(data, size - 1);
        await putObject(src, srcBucket, `sizes/changed-${name}`, data);
        await putObject(dst, dstBucket, `sizes/changed-${name}`, old);
        versions.push({ key: `sizes/changed-${name}`, old, new: data });
      }
    }
  });

  afterAll(async () => {
    // One DeleteObject per key: DeleteObjects carries keys in an XML body, where control
    // characters such as \x01 are not allowed, and RGW refuses the whole request.
    for (const [client, bucket] of [
      [src, srcBucket],
      [dst, dstBucket],
    ] as const) {
      for (const v of versions) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: v.key }));
    }
    await emptyAndDeleteBucket(src, srcBucket);
    await emptyAndDeleteBucket(dst, dstBucket);
  });

  it("the server took every key on PutObject", () => {
    // Ceph RGW accepts all of these; if a server refuses one, this lists it instead of failing the sync test.
    expect(refused).toEqual([]);
  });

  it("sync copies and re-composes every name and size exactly; a second run finds all identical", async () => {
    await scenario(CATEGORY, `${versions.length} names and sizes`, async () => {
      const env = profileEnv();
      const args = [
        "sync",
        `s3://${srcBucket}`,
        `s3://${dstBucket}`,
        ...SIDES,
        "--chunk-size",
        "5MiB",
        "--json",
      ];
      const first = await runCli(args, env);
      expect(first.code, first.stderr).toBe(0);
      const state = await oldOrNew(dst, dstBucket, versions);
      expect(state.mixed).toEqual([]);
      expect(state.updated.length).toBe(versions.length);
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
      const again = await runCli(["check", ...args.slice(1)], env);
      expect(again.code, again.stdout).toBe(0);
      const summary = JSON.parse(again.stdout) as { objects: { identical: number; scanned: number } };
      expect(summary.objects.identical).toBe(versions.length);
      return { bytesLost: state.bytesLost };
    });
  });
});

describe("objects re-composed under keys with percent escapes, beside the keys they decode to", () => {
  // A copy source the server decodes once too often (Ceph RGW 16's UploadPartCopy) names the
  // twin: the parts of such a key are built from the old object's bytes, not copied from there.
  const KEYS = ["percent/big%2Fone", "percent/big%252Ftwo", "percent/big%41"];

  it.each(["direct", "workflow"])(
    "the %s engine writes each byte-exact and leaves each twin as it was",
    async (engine) => {
      await scenario(CATEGORY, `keys with escapes beside their decoded twins, ${engine} engine`, () =>
        withBucketPair("pct", async ({ src, dst, s, d }) => {
          const versions: Versions[] = [];
          for (const [i, key] of KEYS.entries()) {
            const data = seededBytes(`percent-big-${i}`, 3 * C + 1);
            const twin = decodeURIComponent(key);
            const twinData = seededBytes(`percent-twin-${i}`, 3 * C + 1);
            await putObject(src, s, twin, twinData);
            await putObject(dst, d, twin, twinData);
            const old = flipByte(data, 2 * C + 7);
            await putObject(src, s, key, data);
            await putObject(dst, d, key, old);
            versions.push({ key: twin, new: twinData, old: twinData }, { key, old, new: data });
          }
          const args = [`s3://${s}`, `s3://${d}`, ...SIDES, "--chunk-size", "5MiB", "--json"];
          const env = profileEnv();
          const out = await runCli(["sync", ...args, "--engine", engine], env);
          expect(out.code, out.stderr).toBe(0);
          const state = await oldOrNew(dst, d, versions);
          expect(state.mixed).toEqual([]);
          expect(state.updated.length).toBe(versions.length);
          const again = await runCli(["check", ...args], env);
          expect(again.code, again.stdout).toBe(0);
          expect((JSON.parse(again.stdout) as { objects: { identical: number } }).objects.identical).toBe(6);
          return { bytesLost: state.bytesLost };
        }),
      );
    },
  );
});

describe("the source prefix's own folder marker (a key relative to the prefix that is empty)", () => {
  // `s3://b/pre` means the keys under `pre/`, and `pre/` itself is one of them: its relative key
  // is "", so it maps to the destination prefix's own marker, and to no key at a bucket's root.
  const marker = seededBytes("prefix-marker", 9);
  const inside = seededBytes("prefix-inside", 5);

  async function fill(src: S3Client, s: string): Promise<void> {
    await putObject(src, s, "pre/", marker);
    await putObject(src, s, "pre/a", inside);
  }

  it.each(["direct", "workflow"])(
    "the %s engine copies it to the destination prefix's marker",
    async (engine) => {
      await scenario(
        CATEGORY,
        `the source prefix's marker under a destination prefix, ${engine} engine`,
        () =>
          withBucketPair("marker", async ({ src, dst, s, d }) => {
            await fill(src, s);
            const args = [`s3://${s}/pre`, `s3://${d}/dp`, ...SIDES, "--json"];
            const env = profileEnv();
            const out = await runCli(["sync", ...args, "--engine", engine], env);
            expect(out.code, out.stderr).toBe(0);
            expect(JSON.parse(out.stdout).objects).toMatchObject({ scanned: 2, missing: 2, failed: 0 });
            const versions: Versions[] = [
              { key: "dp/", new: marker },
              { key: "dp/a", new: inside },
            ];
            const state = await oldOrNew(dst, d, versions);
            expect(state.updated).toEqual(["dp/", "dp/a"]);
            const again = await runCli(["check", ...args], env);
            expect(again.code, again.stdout).toBe(0);
            expect(JSON.parse(again.stdout).objects.identical).toBe(2);
            return { bytesLost: state.bytesLost };
          }),
      );
    },
  );

  it.each(["direct", "workflow"])(
    "the %s engine deletes the destination prefix's own marker with --delete",
    async (engine) => {
      await scenario(CATEGORY, `the destination prefix's marker, destination only, ${engine} engine`, () =>
        withBucketPair("marker", async ({ src, dst, s, d }) => {
          await putObject(src, s, "pre/a", inside);
          await putObject(dst, d, "dp/", marker);
          const args = [`s3://${s}/pre`, `s3://${d}/dp`, ...SIDES, "--json"];
          const out = await runCli(["sync", ...args, "--delete", "--engine", engine], profileEnv());
          expect(out.code, out.stderr).toBe(0);
          expect(JSON.parse(out.stdout).objects).toMatchObject({ extra: 1, deleted: 1 });
          await expect(readAll(dst, d, "dp/")).rejects.toMatchObject({ name: "NoSuchKey" });
          const state = await oldOrNew(dst, d, [{ key: "dp/a", new: inside }]);
          expect(state.updated).toEqual(["dp/a"]);
          return { bytesLost: state.bytesLost };
        }),
      );
    },
  );

  it.each(["direct", "workflow"])(
    "the %s engine deletes the destination prefix's marker with --delete from a whole-bucket source",
    async (engine) => {
      // Its source key is "": no object, and a HEAD of it would be answered for the bucket.
      await scenario(CATEGORY, `the destination prefix's marker, whole-bucket source, ${engine} engine`, () =>
        withBucketPair("marker", async ({ src, dst, s, d }) => {
          await putObject(src, s, "a", inside);
          await putObject(dst, d, "dp/", marker);
          const args = [`s3://${s}`, `s3://${d}/dp`, ...SIDES, "--json"];
          const out = await runCli(["sync", ...args, "--delete", "--engine", engine], profileEnv());
          expect(out.code, out.stderr).toBe(0);
          expect(JSON.parse(out.stdout).objects).toMatchObject({ extra: 1, deleted: 1, failed: 0 });
          await expect(readAll(dst, d, "dp/")).rejects.toMatchObject({ name: "NoSuchKey" });
          const state = await oldOrNew(dst, d, [{ key: "dp/a", new: inside }]);
          expect(state.updated).toEqual(["dp/a"]);
          return { bytesLost: state.bytesLost };
        }),
      );
    },
  );

  it.each(["direct", "workflow"])("the %s engine's audit finds the marker's bytes differ", async (engine) => {
    await scenario(CATEGORY, `an audit of the prefix's marker, ${engine} engine`, () =>
      withBucketPair("marker", async ({ src, dst, s, d }) => {
        await fill(src, s);
        await putObject(dst, d, "dp/", flipByte(marker, 4));
        await putObject(dst, d, "dp/a", inside);
        const args = [`s3://${s}/pre`, `s3://${d}/dp`, ...SIDES, "--full", "--json"];
        const out = await runCli(["audit", ...args, "--engine", engine], profileEnv());
        expect(out.code, out.stdout).toBe(1);
        const report = JSON.parse(out.stdout);
        expect(report.objects).toMatchObject({ listed: 2, sampled: 2 });
        expect(report.differences).toEqual([
          { key: "", offset: 0, length: marker.length, status: "differs" },
        ]);
        return { bytesLost: 0 };
      }),
    );
  });

  it.each(["direct", "workflow"])(
    "the %s engine fails it by name, before reading it, where the destination is a bucket's root",
    async (engine) => {
      await scenario(CATEGORY, `the source prefix's marker into a bucket's root, ${engine} engine`, () =>
        withBucketPair("marker", async ({ src, dst, s, d }) => {
          await fill(src, s);
          const args = [`s3://${s}/pre`, `s3://${d}`, ...SIDES, "--json"];
          const env = profileEnv();
          for (const command of [["sync", "--engine", engine], ["check"]]) {
            const out = await runCli([...command, ...args], env);
            expect(out.code, out.stderr).toBe(2);
            const summary = JSON.parse(out.stdout);
            expect(summary.objects).toMatchObject({ scanned: 2, failed: 1 });
            expect(summary.failures).toEqual([
              {
                key: "pre/",
                code: "EMPTY_KEY",
                message: expect.stringContaining("destination key is empty"),
              },
            ]);
          }
          const state = await oldOrNew(dst, d, [{ key: "a", new: inside }]);
          expect(state.updated).toEqual(["a"]);
          expect(JSON.stringify(await pendingUploads(dst, d))).toBe("[]");
          return { bytesLost: state.bytesLost };
        }),
      );
    },
  );
});

describe("a destination-only key that no source key can be", () => {
  const kept = seededBytes("long-kept", 5);
  const extra = seededBytes("long-extra", 7);

  it.each(["direct", "workflow"])(
    "the %s engine deletes a destination-only key whose source key would be over 1,024 bytes",
    async (engine) => {
      // The source's prefix is the longer: no source object can have that key, and S3 refuses a HEAD of it.
      const sourcePrefix = "s".repeat(100);
      const relative = "r".repeat(1000);
      await scenario(CATEGORY, `a destination-only key too long for the source, ${engine} engine`, () =>
        withBucketPair("longkey", async ({ src, dst, s, d }) => {
          await putObject(src, s, `${sourcePrefix}/one`, kept);
          await putObject(dst, d, `dp/${relative}`, extra);
          const args = [`s3://${s}/${sourcePrefix}`, `s3://${d}/dp`, ...SIDES, "--delete", "--json"];
          const env = profileEnv();
          const plan = await runCli(["plan", ...args], env);
          expect(JSON.parse(plan.stdout).objects).toMatchObject({ extra: 1, failed: 0 });
          const out = await runCli(["sync", ...args, "--engine", engine], env);
          expect(out.code, out.stderr).toBe(0);
          expect(JSON.parse(out.stdout).objects).toMatchObject({ extra: 1, deleted: 1, failed: 0 });
          await expect(readAll(dst, d, `dp/${relative}`)).rejects.toMatchObject({ name: "NoSuchKey" });
          const state = await oldOrNew(dst, d, [{ key: "dp/one", new: kept }]);
          expect(state.updated).toEqual(["dp/one"]);
          return { bytesLost: state.bytesLost };
        }),
      );
    },
  );
});

describe("filters over keys with `.` and `..` segments and line breaks", () => {
  // A path glob never matches a `.` or `..` segment, nor `*` a line break: those keys fell
  // through every rule, so `--exclude '**'` still copied them, and `--delete` deleted them.
  const excludedOnSource = ["a/../b", "./dot", "new\nline"];
  const excludedOnDestination = ["x/../kept", "..", ".", "cr\nlf"];

  it.each(["direct", "workflow"])(
    "the %s engine neither copies nor deletes a key the rules leave out",
    async (engine) => {
      await scenario(CATEGORY, `filters over dot segments and line breaks, ${engine} engine`, () =>
        withBucketPair("dots", async ({ src, dst, s, d }) => {
          const jpg = seededBytes("dots-jpg", 7);
          await putObject(src, s, "keep.jpg", jpg);
          for (const key of excludedOnSource) await putObject(src, s, key, "source");
          for (const key of [...excludedOnDestination, "old.jpg"])
            await putObject(dst, d, key, "destination");
          const args = [
            `s3://${s}`,
            `s3://${d}`,
            ...SIDES,
            "--exclude",
            "**",
            "--include",
            "*.jpg",
            "--json",
          ];
          const out = await runCli(["sync", ...args, "--delete", "--engine", engine], profileEnv());
          expect(out.code, out.stderr).toBe(0);
          expect(JSON.parse(out.stdout).objects).toMatchObject({
            scanned: 1,
            missing: 1,
            extra: 1,
            deleted: 1,
          });
          const versions: Versions[] = [
            { key: "keep.jpg", new: jpg },
            ...excludedOnSource.map((key) => ({ key, new: Buffer.from("not synced") })),
            ...excludedOnDestination.map((key) => ({ key, new: Buffer.from("destination") })),
          ];
          const state = await oldOrNew(dst, d, versions);
          expect(state.updated).toEqual(["keep.jpg", ...excludedOnDestination]);
          expect(state.kept).toEqual(excludedOnSource);
          await expect(readAll(dst, d, "old.jpg")).rejects.toMatchObject({ name: "NoSuchKey" });
          return { bytesLost: state.bytesLost };
        }),
      );
    },
  );
});
