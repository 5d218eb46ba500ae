import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profileEnv, runCli, runCliOnFullDisk, SIDES } from "../support/cli.js";
import { FaultProxy } from "../support/faultProxy.js";
import { pendingUploads } from "../support/faultWorld.js";
import { readReportFile } from "../support/results.js";
import { localS3, putObject, readAll, s3Client, TestBuckets } from "../support/s3.js";

const ENGINES = ["direct", "workflow"] as const;
/** Both sides as one user, so that one bucket is readable and writable from either side. */
const ONE_USER = ["--src-profile", "src", "--dst-profile", "src"];

let lastReport = "";
/** A fresh path for a --report file; `lastReport` remembers it. */
function report(): string {
  lastReport = join(mkdtempSync(join(tmpdir(), "chunksync-report-")), "report.json");
  return lastReport;
}

async function keysOf(client: S3Client, bucket: string): Promise<string[]> {
  const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (page.Contents ?? []).map((o) => o.Key ?? "").sort();
}

/** A user error: exit 2, one line naming what was wrong, no stack trace. */
function expectUserError(result: { code: number; stdout: string; stderr: string }, ...names: string[]) {
  expect(result.code, result.stderr).toBe(2);
  expect(result.stdout).toBe("");
  for (const name of names) expect(result.stderr).toContain(name);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stderr).not.toContain("unexpected error");
}

describe("chunksync CLI refuses unsafe or unusable runs before touching storage", () => {
  let env: Record<string, string>;
  let src: S3Client;
  let dst: S3Client;
  const buckets = new TestBuckets();
  const bucket = (client: S3Client, name: string) => buckets.make(client, name);

  beforeAll(() => {
    env = profileEnv();
    src = s3Client("source");
    dst = s3Client("destination");
  });

  afterAll(async () => {
    await buckets.drop();
  });

  const overlapping = [
    ["sync", "keep", "", ["--delete"]],
    ["sync", "", "backup", []],
    ["sync", "", "", []],
    ["sync", "keep/", "keep", ["--delete"]],
    ["check", "", "", []],
  ] as const;

  describe.each(ENGINES)("overlapping sides (--engine %s)", (engine) => {
    // The workflow engine runs `sync` only.
    it.each(overlapping.filter(([command]) => engine === "direct" || command === "sync"))(
      "%s s3://b/%s -> s3://b/%s %j: exit 2 naming both URLs; nothing read, written or deleted",
      async (command, from, to, extra) => {
        const b = await bucket(src, "src-overlap");
        await putObject(src, b, "keep/one.txt", "one");
        const urls = [from ? `s3://${b}/${from}` : `s3://${b}`, to ? `s3://${b}/${to}` : `s3://${b}`];
        const result = await runCli([command, ...urls, ...ONE_USER, "--engine", engine, ...extra], env);
        expectUserError(result, urls[0]!, urls[1]!, "overlap");
        expect(await keysOf(src, b)).toEqual(["keep/one.txt"]);
        expect((await readAll(src, b, "keep/one.txt")).toString()).toBe("one");
      },
    );

    it("sends no request at all (a proxy in front of both sides sees nothing)", async () => {
      const proxy = await FaultProxy.start({ upstream: localS3().endpoint });
      try {
        const b = await bucket(src, "src-overlap-quiet");
        const result = await runCli(
          [
            "sync",
            `s3://${b}/keep`,
            `s3://${b}`,
            ...ONE_USER,
            "--src-endpoint",
            proxy.url,
            "--dst-endpoint",
            `${proxy.url}/`,
            "--engine",
            engine,
            "--delete",
          ],
          env,
        );
        expectUserError(result, `s3://${b}/keep`, `s3://${b}`);
        expect(proxy.seen).toEqual([]);
      } finally {
        await proxy.stop();
      }
    });

    it("one server under two names (localhost and 127.0.0.1): refused as overlapping, nothing deleted", async () => {
      const b = await bucket(src, "src-overlap-alias");
      await putObject(src, b, "a/x", "x");
      await putObject(src, b, "b/z", "z");
      const endpoint = new URL(localS3().endpoint);
      const names = ["localhost", "127.0.0.1"].filter((n) => n !== endpoint.hostname);
      const alias = `${endpoint.protocol}//${names[0]}:${endpoint.port}`;
      const result = await runCli(
        [
          "sync",
          `s3://${b}/a/`,
          `s3://${b}`,
          ...ONE_USER,
          "--dst-endpoint",
          alias,
          "--engine",
          engine,
          "--delete",
        ],
        env,
      );
      expectUserError(result, `s3://${b}/a/`, `s3://${b}`, "overlap");
      expect(await keysOf(src, b)).toEqual(["a/x", "b/z"]);
    });

    it("sibling prefixes of one bucket (photo and photos) do not overlap and sync", async () => {
      const b = await bucket(src, "src-siblings");
      await putObject(src, b, "photo/a.jpg", "a");
      const result = await runCli(
        ["sync", `s3://${b}/photo`, `s3://${b}/photos`, ...ONE_USER, "--engine", engine, "--json"],
        env,
      );
      expect(result.code, result.stderr).toBe(0);
      expect(await keysOf(src, b)).toEqual(["photo/a.jpg", "photos/a.jpg"]);
    });
  });

  it("two AWS profiles without an endpoint, in two regions, on one bucket name: one bucket, refused offline", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chunksync-aws-profiles-"));
    writeFileSync(
      join(dir, "config"),
      "[profile a]\nregion = eu-west-1\n\n[profile b]\nregion = us-east-1\n",
    );
    writeFileSync(
      join(dir, "credentials"),
      "[a]\naws_access_key_id = AKIDA\naws_secret_access_key = a\n\n[b]\naws_access_key_id = AKIDB\naws_secret_access_key = b\n",
    );
    const result = await runCli(
      [
        "sync",
        "s3://shared-name/keep",
        "s3://shared-name",
        "--src-profile",
        "a",
        "--dst-profile",
        "b",
        "--delete",
      ],
      { AWS_CONFIG_FILE: join(dir, "config"), AWS_SHARED_CREDENTIALS_FILE: join(dir, "credentials") },
    );
    expectUserError(result, "s3://shared-name/keep", "s3://shared-name", "overlap");
  });

  it("one bucket name on two different endpoints is two buckets: not refused", async () => {
    const proxy = await FaultProxy.start({ upstream: localS3().endpoint });
    try {
      const b = await bucket(src, "src-two-endpoints");
      await putObject(src, b, "x/one.txt", "one");
      // The proxy forwards to the same server, but by its endpoint it is other storage.
      const result = await runCli(
        ["plan", `s3://${b}/x`, `s3://${b}/x/y`, ...ONE_USER, "--dst-endpoint", proxy.url, "--json"],
        env,
      );
      expect(result.code, result.stderr).toBe(0);
      expect(proxy.seen.length).toBeGreaterThan(0);
    } finally {
      await proxy.stop();
    }
  });

  it.each(ENGINES)(
    "a destination key over 1,024 bytes fails alone before its source is read (--engine %s)",
    async (engine) => {
      const s = await bucket(src, "src-long-key");
      const d = await bucket(dst, "dst-long-key");
      const long = "x".repeat(30);
      const big = 1024 * 1024;
      await putObject(src, s, "s/ok.txt", "ok");
      await putObject(src, s, `s/${long}`, new Uint8Array(big));
      // 1,000 + 1 + 6 bytes for ok.txt; 1,000 + 1 + 30 = 1,031 for the other.
      const prefix = "p".repeat(1000);
      const result = await runCli(
        [
          "sync",
          `s3://${s}/s`,
          `s3://${d}/${prefix}`,
          ...SIDES,
          "--engine",
          engine,
          "--json",
          "--report",
          report(),
        ],
        env,
      );
      expect(result.code, result.stderr).toBe(2);
      const summary = JSON.parse(result.stdout) as {
        objects: { failed: number; missing: number };
        bytes: { sourceRead: number };
      };
      expect(summary.objects).toMatchObject({ scanned: 2, failed: 1, missing: 1 });
      expect(summary.bytes.sourceRead).toBeLessThan(big);
      expect(await keysOf(dst, d)).toEqual([`${prefix}/ok.txt`]);
      const failed = readReportFile(lastReport).results.filter((r) => r.state === "failed");
      expect(failed).toHaveLength(1);
      // Both engines' reports and messages name the whole destination key, prefix included.
      expect(failed[0]!.destinationKey).toBe(`${prefix}/${long}`);
      expect(failed[0]!.error?.code).toBe("KEY_TOO_LONG");
      expect(failed[0]!.error?.message).toContain("1,031 bytes long");
      expect(failed[0]!.error?.message).toContain(`${prefix}/${long}`);
    },
  );

  describe("input and output files are checked first", () => {
    it.each(ENGINES)(
      "--report in a missing directory (--engine %s): exit 2 naming --report and the path; nothing written",
      async (engine) => {
        const s = await bucket(src, "src-report");
        const d = await bucket(dst, "dst-report");
        await putObject(src, s, "one.txt", "one");
        const path = "/nonexistent/dir/r.json";
        const result = await runCli(
          ["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--engine", engine, "--report", path],
          env,
        );
        expectUserError(result, "--report", path);
        expect(await keysOf(dst, d)).toEqual([]);
      },
    );

    it("--report naming a directory: exit 2 naming --report and the path; nothing written", async () => {
      const s = await bucket(src, "src-report-dir");
      const d = await bucket(dst, "dst-report-dir");
      await putObject(src, s, "one.txt", "one");
      const path = mkdtempSync(join(tmpdir(), "chunksync-report-dir-"));
      const result = await runCli(["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--report", path], env);
      expectUserError(result, "--report", path);
      expect(await keysOf(dst, d)).toEqual([]);
    });

    it("--report - (aws-cli's standard output): exit 2 naming --report and /dev/stdout; no file named - written", async () => {
      const s = await bucket(src, "src-report-dash");
      const d = await bucket(dst, "dst-report-dash");
      await putObject(src, s, "one.txt", "one");
      const result = await runCli(["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--report", "-"], env);
      expectUserError(result, "--report", "/dev/stdout");
      expect(existsSync("-")).toBe(false);
      expect(await keysOf(dst, d)).toEqual([]);
    });

    it("a --report whose disk fails during the run (/dev/full): exit 2 naming --report and the path, no stack trace", async () => {
      const s = await bucket(src, "src-report-full");
      const d = await bucket(dst, "dst-report-full");
      await putObject(src, s, "one.txt", "one");
      const result = await runCli(["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--report", "/dev/full"], env);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain("--report: cannot write /dev/full");
      expect(result.stderr).not.toMatch(/unexpected error|\n\s+at /);
      // The run's work is done: its summary still says what it did.
      const json = await runCli(
        ["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--report", "/dev/full", "--json"],
        env,
      );
      expect(json.code).toBe(2);
      expect(JSON.parse(json.stdout)).toMatchObject({
        exitCode: 2,
        objects: { scanned: 1, identical: 1 },
        error: { code: "REPORT_WRITE_FAILED", message: expect.stringContaining("/dev/full") },
      });
    });

    it.each(ENGINES)(
      "--engine %s: standard error or output on a full disk (/dev/full): the run goes on to its end, leaves no upload, and ends 2",
      async (engine) => {
        const s = await bucket(src, `src-full-${engine}`);
        const d = await bucket(dst, `dst-full-${engine}`);
        const keys = ["a", "b", "c", "d", "e", "f"];
        for (const key of keys) await putObject(src, s, key, Buffer.alloc(6 * 1024 * 1024, key));
        const args = ["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--chunk-size", "5MiB", "--engine", engine];
        // stderr full: a line per object there (the first fails the stream), the run goes on.
        const noErrors = await runCliOnFullDisk(args, env, "stderr");
        expect(noErrors.code).toBe(2);
        expect(await keysOf(dst, d)).toEqual(keys);
        for (const key of keys)
          expect((await readAll(dst, d, key)).equals(await readAll(src, s, key))).toBe(true);
        expect(await pendingUploads(dst, d)).toEqual([]);
        // stdout full: check's verdict cannot be printed, so its exit code is no verdict either.
        const check = ["check", `s3://${s}`, `s3://${d}`, ...SIDES, "--chunk-size", "5MiB", "--json"];
        const verdict = await runCliOnFullDisk(check, env, "stdout");
        expect(verdict.code, verdict.stderr).toBe(2);
        expect(verdict.stderr).toContain("cannot write to standard output");
        expect(verdict.stderr).not.toMatch(/unexpected error|\n\s+at /);
      },
    );

    it.each([
      ["--secret-file", "/nonexistent/secret", "a readable file"],
      // A device that never ends is read no further than a secret's file could be.
      ["--secret-file", "/dev/zero", "at most 16 KiB"],
      ["--src-sse-c-key-file", "/nonexistent/src.key", "ENOENT"],
      ["--dst-sse-c-key-file", "/nonexistent/dst.key", "ENOENT"],
    ])(
      "%s %s that cannot be read, or is no secret's file: exit 2 naming the flag; nothing written",
      async (flag, path, why) => {
        const s = await bucket(src, "src-inputs");
        const d = await bucket(dst, "dst-inputs");
        await putObject(src, s, "one.txt", "one");
        const result = await runCli(["sync", `s3://${s}`, `s3://${d}`, ...SIDES, flag, path], env);
        expectUserError(result, flag, why);
        expect(await keysOf(dst, d)).toEqual([]);
      },
    );
  });

  it.each([
    ["SRC", ["./photos", "s3://some-bucket"]],
    ["DST", ["s3://some-bucket", "/home/me/photos"]],
  ])("a local path as %s is named as not supported yet", async (name, urls) => {
    const result = await runCli(["sync", ...urls, ...SIDES], env);
    expectUserError(result, name, "local paths are not supported yet");
  });

  it("the start-up probe lists the directory prefix (trailing /), and the run takes its page: one listing of the side", async () => {
    const proxy = await FaultProxy.start({ upstream: localS3().endpoint });
    try {
      const s = await bucket(src, "src-probe");
      const d = await bucket(dst, "dst-probe");
      await putObject(src, s, "photos/a.jpg", "a");
      await putObject(src, s, "photos-2019/b.jpg", "b");
      const result = await runCli(
        ["check", `s3://${s}/photos`, `s3://${d}`, ...SIDES, "--src-endpoint", proxy.url, "--json"],
        env,
      );
      expect(result.code, result.stderr).toBe(1); // photos/a.jpg is missing on the destination
      expect(JSON.parse(result.stdout.trim().split("\n").pop() ?? "{}").objects).toMatchObject({
        missing: 1,
      });
      const listings = proxy.seen.filter((r) => r.method === "GET" && r.query.includes("list-type=2"));
      expect(listings).toHaveLength(1);
      const first = new URLSearchParams(listings[0]?.query);
      expect(first.get("prefix")).toBe("photos/");
      expect(first.get("max-keys")).toBeNull();
    } finally {
      await proxy.stop();
    }
  });
});
