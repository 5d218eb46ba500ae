import {
  CopyObjectCommand,
  GetObjectTaggingCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import { listKeys } from "../support/faultWorld.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  putObject,
  readAll,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";

const MiB = 1024 * 1024;

interface JsonSummary {
  exitCode: number;
  objects: Record<"scanned" | "identical" | "changed" | "missing" | "extra" | "deleted" | "failed", number>;
  bytes: Record<"sourceRead" | "destinationRead" | "transferred" | "uploaded" | "copiedServerSide", number>;
  planned: { transfer: number; serverSide: number };
}

function parseJson(stdout: string): JsonSummary {
  const lines = stdout.trim().split("\n");
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as JsonSummary;
}

describe("chunksync CLI against the local S3 (profiles with endpoint_url, two users)", () => {
  let env: Record<string, string>;
  let src: S3Client;
  let dst: S3Client;
  const buckets: [S3Client, string][] = [];

  async function pair(name: string): Promise<{ s: string; d: string }> {
    const s = uniqueBucketName(`src-${name}`);
    const d = uniqueBucketName(`dst-${name}`);
    await createBucket(src, s);
    await createBucket(dst, d);
    buckets.push([src, s], [dst, d]);
    return { s, d };
  }

  beforeAll(() => {
    env = profileEnv();
    src = s3Client("source");
    dst = s3Client("destination");
  });

  afterAll(async () => {
    for (const [client, bucket] of buckets) await emptyAndDeleteBucket(client, bucket);
  });

  it("a one-byte change in a 64 MiB object at 8 MiB chunks: plan names its chunk, sync moves only the block around it; check exits 1 then 0", async () => {
    const { s, d } = await pair("64m");
    const data = seededBytes("sixty-four", 64 * MiB);
    await putObject(src, s, "big.bin", data);
    await putObject(dst, d, "big.bin", flipByte(data, 37 * MiB + 3));
    // Without digest indexes every run reads both sides whole (what the index saves is tested apart).
    const urls = [`s3://${s}`, `s3://${d}`, "--no-index"];

    const check = await runCli(["check", ...urls, ...SIDES, "--json"], env);
    expect(check.code, check.stderr).toBe(1);
    expect(parseJson(check.stdout).objects.changed).toBe(1);

    const plan = await runCli(["plan", ...urls, ...SIDES, "--json"], env);
    expect(plan.code, plan.stderr).toBe(0);
    expect(parseJson(plan.stdout).planned.transfer).toBe(8 * MiB);

    // Without the digest index check and plan left, the sync digests both sides whole.
    const sync = await runCli(["sync", ...urls, ...SIDES, "--json", "--no-index"], env);
    expect(sync.code, sync.stderr).toBe(0);
    const summary = parseJson(sync.stdout);
    // plan predicts at chunk level; the blocks of that chunk leave one block (at most 256 KiB) to cross.
    expect(summary.bytes.transferred).toBeGreaterThan(0);
    expect(summary.bytes.transferred).toBeLessThanOrEqual(256 * 1024);
    expect(summary.bytes.copiedServerSide + summary.bytes.uploaded).toBe(64 * MiB);
    expect(summary.bytes.sourceRead).toBeGreaterThanOrEqual(64 * MiB);
    expect(summary.bytes.destinationRead).toBeGreaterThanOrEqual(64 * MiB);
    expect(summary.objects).toEqual({
      scanned: 1,
      identical: 0,
      changed: 1,
      missing: 0,
      extra: 0,
      deleted: 0,
      failed: 0,
      unreadable: 0,
    });
    expect((await readAll(dst, d, "big.bin")).equals(data)).toBe(true);

    const after = await runCli(["check", ...urls, ...SIDES, "--json"], env);
    expect(after.code, after.stderr).toBe(0);
    expect(parseJson(after.stdout).objects.identical).toBe(1);
  });

  for (const variant of ["encode", "decode"] as const) {
    for (const algorithm of ["sha256", "sha1", "md5", "crc32c"] as const) {
      it(`--variant ${variant} --algorithm ${algorithm} finds exactly the changed chunk and syncs it`, async () => {
        const { s, d } = await pair(`${variant}-${algorithm}`);
        const data = seededBytes(`${variant}${algorithm}`, 15 * MiB);
        await putObject(src, s, "x", data);
        await putObject(dst, d, "x", flipByte(data, 11 * MiB));
        await putObject(src, s, "same", "same bytes");
        await putObject(dst, d, "same", "same bytes");
        const args = [`s3://${s}`, `s3://${d}`, ...SIDES, "--json", "--chunk-size", "5MiB"];
        const flags = ["--variant", variant, "--algorithm", algorithm];
        const sync = await runCli(["sync", ...args, ...flags], env);
        expect(sync.code, sync.stderr).toBe(0);
        // A checksum is no digest to trust: said before the run, for crc32c alone.
        expect(sync.stderr.includes("--algorithm crc32c is a 32-bit checksum")).toBe(algorithm === "crc32c");
        const summary = parseJson(sync.stdout);
        expect(summary.objects).toMatchObject({ changed: 1, identical: 1, failed: 0 });
        // encode matches the changed chunk's blocks, so about one block crosses; decode sends the chunk.
        if (variant === "decode") expect(summary.bytes.transferred).toBe(5 * MiB);
        else expect(summary.bytes.transferred).toBeLessThanOrEqual(256 * 1024);
        expect((await readAll(dst, d, "x")).equals(data)).toBe(true);
        const check = await runCli(["check", ...args, ...flags], env);
        expect(check.code, check.stderr).toBe(0);
      });
    }
  }

  it.each(["direct", "workflow"])(
    "--engine %s: prefixes map key to key, --include/--exclude select, --delete removes only selected destination-only keys",
    async (engine) => {
      const { s, d } = await pair(`prefix-${engine}`);
      await putObject(src, s, "photos/a.jpg", "a");
      await putObject(src, s, "photos/raw/b.cr2", "b");
      await putObject(src, s, "other/c.jpg", "c");
      await putObject(dst, d, "backup/old.jpg", "old");
      await putObject(dst, d, "backup/keep.txt", "keep");
      await putObject(dst, d, "backup/raw/old.cr2", "excluded: neither reported nor deleted");
      await putObject(dst, d, "elsewhere/x.jpg", "outside the prefix");
      // Parentheses and `[!...]` as in aws s3 sync: the literal characters, and "not in the set".
      await putObject(src, s, "photos/Trips (2019)/a.jpg", "excluded: not copied");
      await putObject(dst, d, "backup/Trips (2019)/b.jpg", "excluded: neither reported nor deleted");
      await putObject(dst, d, "backup/keep1.jpg", "excluded: neither reported nor deleted");
      // `|` and braces are characters too (no alternatives, no expansion); `[...]` takes an emoji as one.
      const kept = ["backup/a|b/old.jpg", "backup/v{1,2}/old.jpg", "backup/😀.jpg"];
      for (const key of kept) await putObject(dst, d, key, "excluded: neither reported nor deleted");
      const sync = await runCli(
        [
          "sync",
          `s3://${s}/photos`,
          `s3://${d}/backup/`,
          ...SIDES,
          "--json",
          "--exclude",
          "**",
          "--include",
          "**/*.jpg",
          "--exclude",
          "raw/**",
          "--exclude",
          "Trips (2019)/**",
          "--exclude",
          "keep[!a]*",
          "--exclude",
          "a|b/**",
          "--exclude",
          "v{1,2}/**",
          "--exclude",
          "[😀].jpg",
          "--delete",
          "--engine",
          engine,
        ],
        env,
      );
      expect(sync.code, sync.stderr).toBe(0);
      expect(parseJson(sync.stdout).objects).toMatchObject({
        scanned: 1,
        missing: 1,
        extra: 1,
        deleted: 1,
        failed: 0,
      });
      expect((await readAll(dst, d, "backup/a.jpg")).toString()).toBe("a");
      await expect(readAll(dst, d, "backup/raw/b.cr2")).rejects.toThrow();
      await expect(readAll(dst, d, "backup/old.jpg")).rejects.toThrow();
      expect((await readAll(dst, d, "backup/keep.txt")).toString()).toBe("keep");
      expect((await readAll(dst, d, "backup/raw/old.cr2")).length).toBeGreaterThan(0);
      expect((await readAll(dst, d, "elsewhere/x.jpg")).length).toBeGreaterThan(0);
      await expect(readAll(dst, d, "backup/Trips (2019)/a.jpg")).rejects.toThrow();
      expect((await readAll(dst, d, "backup/Trips (2019)/b.jpg")).length).toBeGreaterThan(0);
      expect((await readAll(dst, d, "backup/keep1.jpg")).length).toBeGreaterThan(0);
      for (const key of kept) expect((await readAll(dst, d, key)).length, key).toBeGreaterThan(0);
    },
  );

  it.each(["direct", "workflow"])(
    "--engine %s: sync --delete from a source prefix that lists nothing is refused before any work (a mistyped prefix)",
    async (engine) => {
      const { s, d } = await pair(`empty-src-${engine}`);
      await putObject(src, s, "photos/a.jpg", "a");
      await putObject(dst, d, "backup/a.jpg", "a");
      await putObject(dst, d, "backup/b.jpg", "b");
      const run = (from: string, ...extra: string[]) =>
        runCli(
          ["sync", `s3://${s}/${from}`, `s3://${d}/backup/`, ...SIDES, "--engine", engine, ...extra],
          env,
        );
      const refused = await run("fotos", "--delete");
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(
        /SRC: expected a prefix that holds objects, but nothing is listed under s3:\/\/.*\/fotos.*nothing was done/,
      );
      // Its dry run shows what the run would do: the same refusal, the same exit code.
      if (engine === "direct") {
        for (const dry of [
          await run("fotos", "--delete", "--dry-run"),
          await runCli(["plan", `s3://${s}/fotos`, `s3://${d}/backup/`, ...SIDES, "--delete"], env),
        ]) {
          expect(dry.code, dry.stdout).toBe(2);
          expect(dry.stderr).toMatch(/SRC: expected a prefix that holds objects.*nothing was done/);
        }
      }
      expect((await readAll(dst, d, "backup/b.jpg")).toString()).toBe("b");
      // Without --delete nothing is at stake: the run keeps the destination's objects, as before.
      const kept = await run("fotos");
      expect(kept.code, kept.stderr).toBe(0);
      expect((await readAll(dst, d, "backup/b.jpg")).toString()).toBe("b");
      // An index kept under that prefix is not an object of it: the prefix still lists nothing.
      const index = ["--src-index", `s3://${s}/fotos/.index`];
      const indexed = await run("fotos", ...index);
      expect(indexed.code, indexed.stderr).toBe(0);
      expect((await listKeys(src, s, "fotos/")).some((k) => k.includes("chunksync-digest-index."))).toBe(
        true,
      );
      const refusedAgain = await run("fotos", "--delete", ...index);
      expect(refusedAgain.code, refusedAgain.stdout).toBe(2);
      expect(refusedAgain.stderr).toMatch(/SRC: expected a prefix that holds objects.*nothing was done/);
      expect((await readAll(dst, d, "backup/b.jpg")).toString()).toBe("b");
      // A prefix that lists objects deletes what it should.
      const synced = await run("photos", "--delete");
      expect(synced.code, synced.stderr).toBe(0);
      await expect(readAll(dst, d, "backup/b.jpg")).rejects.toThrow();
    },
  );

  it("one identity for both sides copies server-side: no byte passes through the process", async () => {
    const s = uniqueBucketName("src-same");
    // Not "dst-": on MinIO that prefix is kept from the source user (see scripts/local-s3/minio.ts).
    const d = uniqueBucketName("same-account-target");
    await createBucket(src, s);
    await createBucket(src, d);
    buckets.push([src, s], [src, d]);
    const data = seededBytes("server-side", 20 * MiB);
    await putObject(src, s, "changed", data);
    await putObject(src, d, "changed", flipByte(data, 6 * MiB));
    await putObject(src, s, "new", data);
    const sync = await runCli(
      [
        "sync",
        `s3://${s}`,
        `s3://${d}`,
        "--src-profile",
        "src",
        "--dst-profile",
        "src",
        "--json",
        "--chunk-size",
        "5MiB",
      ],
      env,
    );
    expect(sync.code, sync.stderr).toBe(0);
    const summary = parseJson(sync.stdout);
    expect(summary.bytes.transferred).toBe(0);
    expect(summary.bytes.copiedServerSide).toBe(40 * MiB);
    expect((await readAll(src, d, "changed")).equals(data)).toBe(true);
    expect((await readAll(src, d, "new")).equals(data)).toBe(true);
  });

  it("prints a summary table without --json and writes the per-object report with --report", async () => {
    const { s, d } = await pair("report");
    await putObject(src, s, "k", "v");
    const { mkdtempSync, readFileSync } = await import("node:fs");
    const { readReportFile } = await import("../support/results.js");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const report = join(mkdtempSync(join(tmpdir(), "chunksync-report-")), "report.json");
    const sync = await runCli(["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--report", report], env);
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stdout).toMatch(/missing on destination\s+1/);
    expect(sync.stdout).toMatch(/transferred\s+1 B/);
    // JSON Lines: one line per object, then the run's totals.
    const lines = readFileSync(report, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ type: "object", sourceKey: "k", action: "copy", applied: true }),
      expect.objectContaining({
        type: "summary",
        objects: expect.objectContaining({ scanned: 1, missing: 1 }),
      }),
    ]);
    expect(readReportFile(report).summary?.bytes.transferred).toBe(1);
  });

  it("names the input and what was expected on bad input, with exit 2", async () => {
    const { s } = await pair("bad-input");
    const cases: [string[], RegExp][] = [
      [["sync", "s3:/nope", "s3://bucket-b"], /SRC: expected an S3 URL/],
      [["sync", "s3://bucket-a", "s3://b"], /DST: expected a bucket name/],
      [["sync", "s3://bucket-a", "s3://bucket-b", "--chunk-size", "1MiB"], /chunk size|--chunk-size/i],
      [
        ["sync", "s3://bucket-a", "s3://bucket-b", "--concurrency", "0"],
        /--concurrency: expected a whole number/,
      ],
      [["sync", "s3://bucket-a", "s3://bucket-b", "--algorithm", "sha512"], /--algorithm/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli([...args, ...SIDES], env);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(message);
    }
    const missing = await runCli(
      ["sync", `s3://no-such-bucket-${Date.now()}`, "s3://bucket-b", ...SIDES],
      env,
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/source: list s3:\/\/no-such-bucket-\d+: the bucket does not exist/);
    // One bucket, apart prefixes (the same prefix would be refused as overlapping before any request).
    const denied = await runCli(["sync", `s3://${s}/a`, `s3://${s}/b`, ...SIDES], env);
    expect(denied.code).toBe(2);
    expect(denied.stderr).toMatch(new RegExp(`destination: list s3://${s}/b/: access denied`));
  });

  it("keeps user metadata when an object is rewritten with the CLI", async () => {
    const { s, d } = await pair("meta");
    await src.send(
      new PutObjectCommand({
        Bucket: s,
        Key: "m",
        Body: "x",
        ContentType: "text/x-test",
        Metadata: { a: "1" },
      }),
    );
    const sync = await runCli(["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--json"], env);
    expect(sync.code, sync.stderr).toBe(0);
    const { HeadObjectCommand } = await import("@aws-sdk/client-s3");
    const head = await dst.send(new HeadObjectCommand({ Bucket: d, Key: "m" }));
    expect(head.ContentType).toBe("text/x-test");
    expect(head.Metadata).toEqual({ a: "1" });
  });

  it("with --tags, a tag-only difference is found by check (exit 1) and fixed by sync; without --tags it is ignored", async () => {
    const { s, d } = await pair("tags");
    // One object of one chunk (rewritten by a copy onto itself) and one of two chunks (re-composed).
    const objects = { small: seededBytes("tags-small", 1024), big: seededBytes("tags-big", 12 * MiB) };
    for (const [key, body] of Object.entries(objects)) {
      await src.send(new PutObjectCommand({ Bucket: s, Key: key, Body: body, Tagging: "team=red&tier=1" }));
      await dst.send(new PutObjectCommand({ Bucket: d, Key: key, Body: body, Tagging: "team=blue&tier=1" }));
    }
    // A source without tags: its destination's tags go.
    await src.send(new PutObjectCommand({ Bucket: s, Key: "untagged", Body: "u" }));
    await dst.send(new PutObjectCommand({ Bucket: d, Key: "untagged", Body: "u", Tagging: "team=blue" }));
    const urls = [`s3://${s}`, `s3://${d}`, ...SIDES, "--json"];
    const tagsOf = async (key: string) => {
      const out = await dst.send(new GetObjectTaggingCommand({ Bucket: d, Key: key }));
      return Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key, t.Value]));
    };

    const ignored = await runCli(["check", ...urls], env);
    expect(ignored.code, ignored.stderr).toBe(0);
    expect(parseJson(ignored.stdout).objects.identical).toBe(3);
    const untouched = await runCli(["sync", ...urls], env);
    expect(untouched.code, untouched.stderr).toBe(0);
    expect(parseJson(untouched.stdout).objects.identical).toBe(3);
    expect(await tagsOf("big")).toEqual({ team: "blue", tier: "1" });

    const check = await runCli(["check", ...urls, "--tags"], env);
    expect(check.code, check.stderr).toBe(1);
    expect(parseJson(check.stdout).objects.changed).toBe(3);

    const sync = await runCli(["sync", ...urls, "--tags"], env);
    expect(sync.code, sync.stderr).toBe(0);
    const summary = parseJson(sync.stdout);
    expect(summary.objects.changed).toBe(3);
    // Bytes were equal: the rewrite copies them inside the destination, none cross.
    expect(summary.bytes.transferred).toBe(0);
    for (const [key, body] of Object.entries(objects)) {
      expect(await tagsOf(key)).toEqual({ team: "red", tier: "1" });
      expect((await readAll(dst, d, key)).equals(body)).toBe(true);
    }
    expect(await tagsOf("untagged")).toEqual({});

    const after = await runCli(["check", ...urls, "--tags"], env);
    expect(after.code, after.stderr).toBe(0);
    expect(parseJson(after.stdout).objects.identical).toBe(3);

    // Without --tags, a change of other attributes alone keeps the destination's tags, though
    // Ceph RGW drops them on a copy whatever its tagging directive.
    for (const key of Object.keys(objects))
      await src.send(
        new CopyObjectCommand({
          Bucket: s,
          Key: key,
          CopySource: `${s}/${key}`,
          MetadataDirective: "REPLACE",
          Metadata: { m: "2" },
        }),
      );
    await dst.send(
      new PutObjectTaggingCommand({
        Bucket: d,
        Key: "big",
        Tagging: { TagSet: [{ Key: "kept", Value: "1" }] },
      }),
    );
    const restated = await runCli(["sync", ...urls], env);
    expect(restated.code, restated.stderr).toBe(0);
    expect(parseJson(restated.stdout).objects.changed).toBe(2);
    expect(await tagsOf("big")).toEqual({ kept: "1" });
    expect(await tagsOf("small")).toEqual({ team: "red", tier: "1" });
  });
});
