import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { seededBytes } from "../support/data.js";
import { rotAtRest } from "../support/rados.js";
import { putObject, readAll, withBucketPair } from "../support/s3.js";

const MiB = 1024 * 1024;

interface AuditJson {
  exitCode: number;
  objects: Record<string, number>;
  ranges: Record<string, number>;
  bytes: Record<string, number>;
  differences: { key: string; offset?: number; length?: number; status: string }[];
  unseen: { fraction: number; probability: number }[];
}
interface ScrubJson {
  exitCode: number;
  objects: Record<string, number>;
  chunks: Record<string, number>;
  rotted: { key: string; chunks: { index: number; offset: number; length: number }[] }[];
  index: { found: string; marked: number; written?: number };
}
interface SyncJson {
  exitCode: number;
  objects: Record<string, number>;
  bytes: { sourceRead: number; destinationRead: number };
  failures: { key: string; code: string; message: string }[];
}

/** The CLI with a pairing secret of its own and `--json`: each run's JSON, its exit code and its stderr, empty unless it failed. */
function jsonCli() {
  const env = profileEnv();
  const secretFile = join(mkdtempSync(join(tmpdir(), "secret-")), "secret");
  writeFileSync(secretFile, seededBytes("audit-secret", 32).toString("hex"));
  const common = ["--secret-file", secretFile, "--json"];
  const json = async <T>(args: string[]): Promise<T & { code: number; stderr: string }> => {
    const r = await runCli([...args, ...common], env);
    if (r.code !== 2) expect(r.stderr).toBe("");
    return { ...(JSON.parse(r.stdout) as T), code: r.code, stderr: r.stderr };
  };
  /** A full scrub of `bucket` as the profile that owns it sees it, with the syncs' chunk size. */
  const scrub = (bucket: string, profile: string) =>
    json<ScrubJson>(["scrub", `s3://${bucket}`, "--profile", profile, "--chunk-size", "5MiB", "--full"]);
  return { json, scrub };
}

describe("audit and scrub against rot at rest (RADOS Gateway data pool)", () => {
  it("a sync from the indexes calls a rotted object identical; audit and scrub name it; the next sync repairs it", async () => {
    await withBucketPair("audit", async ({ src, dst, s, d }) => {
      const { json, scrub } = jsonCli();
      const audit = (...extra: string[]) =>
        json<AuditJson>(["audit", `s3://${s}`, `s3://${d}`, ...SIDES, ...extra]);
      const sync = () => json<SyncJson>(["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--chunk-size", "5MiB"]);

      const big = seededBytes("big", 12 * MiB);
      const small = seededBytes("small", 3000);
      for (const [client, bucket] of [
        [src, s],
        [dst, d],
      ] as const) {
        await putObject(client, bucket, "big.bin", big);
        await putObject(client, bucket, "small.txt", small);
      }

      // Identical sides: a sampled audit reads exactly the drawn ranges on each side and finds nothing.
      const clean = await audit("--sample", "5");
      expect(clean.code).toBe(0);
      expect(clean.ranges).toEqual({ sampled: 5, equal: 5, differs: 0, missing: 0 });
      expect(clean.differences).toEqual([]);
      expect(clean.bytes.sourceRead).toBe(clean.bytes.sampled);
      expect(clean.bytes.destinationRead).toBe(clean.bytes.sampled);
      expect(clean.unseen.find((u) => u.fraction === 0.1)?.probability).toBeCloseTo(0.9 ** 5, 10);

      // LastModified is stated in whole seconds: an index entry stands once its second has passed.
      await new Promise((r) => setTimeout(r, 1100));
      const first = await sync();
      expect(first.objects.identical).toBe(2);

      const head = () => dst.send(new HeadObjectCommand({ Bucket: d, Key: "big.bin" }));
      const before = await head();
      const at = 4 * MiB + 100;
      await rotAtRest(d, "big.bin", at, Buffer.from(big.subarray(at, at + 4).map((b) => b ^ 0xff)));
      const after = await head();
      // Nothing S3 states shows it: same ETag, same LastModified; only the bytes changed.
      expect(after.ETag).toBe(before.ETag);
      expect(after.LastModified).toEqual(before.LastModified);
      expect((await readAll(dst, d, "big.bin")).equals(big)).toBe(false);

      // The documented limit: a sync decided from both indexes reads nothing and calls it identical.
      const blind = await sync();
      expect(blind.objects.identical).toBe(2);
      expect(blind.bytes.sourceRead + blind.bytes.destinationRead).toBe(0);

      // The audit reads every range on both sides and names the one that rotted.
      const found = await audit("--full");
      expect(found.code).toBe(1);
      expect(found.ranges).toEqual({ sampled: 13, equal: 12, differs: 1, missing: 0 });
      expect(found.differences).toEqual([
        { key: "big.bin", offset: 4 * MiB, length: MiB, status: "differs" },
      ]);

      // Scrub tells which side rotted: the source still matches its index, the destination does not.
      const sourceScrub = await scrub(s, "src");
      expect(sourceScrub.code).toBe(0);
      expect(sourceScrub.chunks).toEqual({ sampled: 4, equal: 4, differs: 0 });
      const destinationScrub = await scrub(d, "dst");
      expect(destinationScrub.code).toBe(1);
      expect(destinationScrub.rotted).toEqual([
        { key: "big.bin", etag: before.ETag, chunks: [{ index: 0, offset: 0, length: 5 * MiB }] },
      ]);
      expect(destinationScrub.index).toMatchObject({ found: "loaded", marked: 1, written: 2 });

      // Its entry marked rotted, the next sync reads the destination's object and repairs it from the source.
      const repair = await sync();
      expect(repair.code).toBe(0);
      expect(repair.objects).toMatchObject({ identical: 1, changed: 1 });
      expect((await readAll(dst, d, "big.bin")).equals(big)).toBe(true);
      const clear = await audit("--full");
      expect(clear.code).toBe(0);
      expect(clear.differences).toEqual([]);
    });
  });

  it("a source object its scrub found rotted is not sent by either engine, the destination keeping its copy, until a sync back restores it", async () => {
    await withBucketPair("rot-source", async ({ src, dst, s, d }) => {
      const { json, scrub } = jsonCli();
      const sync = (from: string, to: string, sides: string[], ...extra: string[]) =>
        json<SyncJson>(["sync", `s3://${from}`, `s3://${to}`, ...sides, "--chunk-size", "5MiB", ...extra]);
      const forward = (...extra: string[]) => sync(s, d, SIDES, ...extra);
      const big = seededBytes("rot-source", 12 * MiB);
      await putObject(src, s, "big.bin", big);
      // LastModified is stated in whole seconds: an index entry stands once its second has passed.
      await new Promise((r) => setTimeout(r, 1100));
      expect((await forward()).objects.missing).toBe(1);

      const at = 6 * MiB + 100;
      await rotAtRest(s, "big.bin", at, Buffer.from(big.subarray(at, at + 4).map((b) => b ^ 0xff)));
      const found = await scrub(s, "src");
      expect(found.code).toBe(1);
      expect(found.rotted).toEqual([
        {
          key: "big.bin",
          etag: expect.any(String),
          chunks: [{ index: 1, offset: 5 * MiB, length: 5 * MiB }],
        },
      ]);
      expect(found.index).toMatchObject({ marked: 1, written: 1 });

      for (const engine of ["direct", "workflow"]) {
        const refused = await forward("--engine", engine);
        expect(refused.code).toBe(2);
        expect(refused.objects).toMatchObject({ failed: 1 });
        expect(refused.failures.map((f) => f.code)).toEqual(["SOURCE_ROTTED"]);
        expect(refused.stderr).toMatch(
          /^failed +big\.bin: source object big\.bin is not copied: a scrub found/,
        );
        expect(refused.bytes.sourceRead).toBe(0);
        expect((await readAll(dst, d, "big.bin")).equals(big)).toBe(true);
      }

      // The way back: the destination's copy restores the source, and the pair is whole again.
      const back = await sync(d, s, ["--src-profile", "dst", "--dst-profile", "src"]);
      expect(back.code).toBe(0);
      expect(back.objects).toMatchObject({ changed: 1 });
      expect((await readAll(src, s, "big.bin")).equals(big)).toBe(true);
      await new Promise((r) => setTimeout(r, 1100));
      const whole = await forward();
      expect(whole.code).toBe(0);
      expect(whole.objects).toMatchObject({ identical: 1, failed: 0 });
    });
  });

  it("both engines count the destination's objects that the source lacks", async () => {
    await withBucketPair("audit-extra", async ({ src, dst, s, d }) => {
      const same = seededBytes("same", 11 * MiB);
      await putObject(src, s, "same", same);
      await putObject(dst, d, "same", same);
      await putObject(dst, d, "extra", seededBytes("extra", 1000));
      const env = profileEnv();
      const audit = async (engine: string) => {
        const r = await runCli(
          ["audit", `s3://${s}`, `s3://${d}`, ...SIDES, "--json", "--full", "--engine", engine],
          env,
        );
        expect(r.stderr).toBe("");
        return { ...(JSON.parse(r.stdout) as AuditJson), code: r.code };
      };
      const [direct, workflow] = await Promise.all([audit("direct"), audit("workflow")]);
      expect(direct.objects).toEqual({ listed: 1, sampled: 1, missing: 0, resized: 0, extra: 1, failed: 0 });
      expect(workflow.objects).toEqual(direct.objects);
      expect([direct.code, workflow.code]).toEqual([0, 0]);
      // The text says so too (it named missing and resized objects only).
      const text = await runCli(["audit", `s3://${s}`, `s3://${d}`, ...SIDES, "--full"], env);
      expect(text.stdout).toMatch(/0 objects missing on destination, 0 of another size there, 1 only there/);
    });
  });

  it.each([
    [["--sample", "5", "--full"], "--sample: expected no value together with --full"],
    [["--sample", "150%"], "--sample: expected a number of ranges"],
    [["--range-size", "1KiB"], "--range-size: expected at least 4KiB"],
    [
      ["--sample", "5", "--engine", "workflow"],
      "--sample: expected a percentage or fraction with --engine workflow",
    ],
  ])("audit %j fails with exit 2 before any request", async (args, message) => {
    const r = await runCli(
      ["audit", "s3://no-such-src", "s3://no-such-dst", ...SIDES, ...args],
      profileEnv(),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe("");
  });
});
