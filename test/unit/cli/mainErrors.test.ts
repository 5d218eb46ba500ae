import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../../packages/cli/src/main.js";

// An error no part of chunksync expected, carrying a server's text: thrown where the first URL is read.
vi.mock("../../../packages/cli/src/parseS3Url.js", async (original) => {
  const real = await original<typeof import("../../../packages/cli/src/parseS3Url.js")>();
  return {
    parseS3Url: (text: string, name: string) => {
      if (text === "s3://unexpected/") throw new TypeError("server said \x1b[2J\ncleared");
      return real.parseS3Url(text, name);
    },
  };
});

/** What main writes to stderr for these arguments, and its exit code. */
async function stderrOf(args: string[]): Promise<{ code: number; stderr: string }> {
  const writes: string[] = [];
  vi.spyOn(process.stderr, "write").mockImplementation((s) => writes.push(String(s)) > 0);
  const code = await main(args);
  return { code, stderr: writes.join("") };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("main's error line", () => {
  it("escapes what the message quotes, on one line", async () => {
    const { code, stderr } = await stderrOf(["check", "photos/\x1b[2J\nx", "s3://dst-bucket"]);
    expect(code).toBe(2);
    expect(stderr).toBe(
      'chunksync: error: SRC: expected an S3 URL like s3://bucket or s3://bucket/prefix (local paths are not supported yet), got "photos/\\x1b[2J\\nx"\n',
    );
  });

  it("escapes an unexpected error's first line and keeps its stack frames on their own lines", async () => {
    const { code, stderr } = await stderrOf(["check", "s3://unexpected/", "s3://dst-bucket"]);
    expect(code).toBe(2);
    const [first, ...frames] = stderr.trimEnd().split("\n");
    expect(first).toBe("chunksync: error: unexpected error: TypeError: server said \\x1b[2J\\ncleared");
    expect(frames.length).toBeGreaterThan(0);
    for (const frame of frames) expect(frame).toMatch(/^ {4}at /);
    expect(stderr).not.toContain("\x1b");
  });
});

describe("a glob that cannot be compiled", () => {
  // Nothing listens on port 9: a glob checked only once the run starts would fail on the connection instead.
  const sides = ["--src-endpoint", "http://127.0.0.1:9", "--dst-endpoint", "http://127.0.0.1:9"];
  it.each([
    ["check", "s3://src-bucket", "s3://dst-bucket", ...sides],
    ["plan", "s3://src-bucket", "s3://dst-bucket", ...sides],
    ["sync", "s3://src-bucket", "s3://dst-bucket", ...sides, "--engine", "workflow"],
    ["audit", "s3://src-bucket", "s3://dst-bucket", ...sides],
    ["scrub", "s3://src-bucket", "--endpoint", "http://127.0.0.1:9"],
  ])("%s: exit 2 naming the option and the glob, before any request or --report file", async (...args) => {
    const report = join(mkdtempSync(join(tmpdir(), "chunksync-glob-")), "report.jsonl");
    const withReport = args[0] === "scrub" || args[0] === "audit" ? [] : ["--report", report];
    for (const [option, glob] of [
      ["--exclude", ""],
      ["--include", "*".repeat(70_000)],
    ] as const) {
      const { code, stderr } = await stderrOf([...args, "--exclude", "**", option, glob, ...withReport]);
      expect(code).toBe(2);
      expect(stderr).toMatch(
        new RegExp(`^chunksync: error: ${option}: expected a glob such as '\\*\\*/\\*\\.jpg', got "`),
      );
      expect(stderr).not.toContain("unexpected");
      expect(existsSync(report)).toBe(false);
    }
  });
});

describe("an option given an empty value", () => {
  // Nothing listens on port 9: a run that took the empty value for no value would fail on the connection.
  const sides = ["--src-endpoint", "http://127.0.0.1:9", "--dst-endpoint", "http://127.0.0.1:9"];
  const run = ["s3://src-bucket", "s3://dst-bucket", ...sides];
  it.each([
    ["sync", ...run, "--dst-sse-c-key-file", "", "--dst-sse-c-key-file", "<path>"],
    ["sync", ...run, "--engine", "workflow", "--dst-account-id", "", "--dst-account-id", "<id>"],
    ["sync", ...run, "--sse", "aws:kms", "--sse-kms-key-id", "", "--sse-kms-key-id", "<id>"],
    ["sync", ...run, "--storage-class", "", "--storage-class", "<class>"],
    ["check", ...run, "--src-profile", "", "--src-profile", "<name>"],
    ["plan", ...run, "--src-index", "", "--src-index", "<dir|s3-url>"],
    ["audit", ...run, "--src-region", "", "--src-region", "<region>"],
    [
      "scrub",
      "s3://src-bucket",
      "--endpoint",
      "http://127.0.0.1:9",
      "--index",
      "",
      "--index",
      "<dir|s3-url>",
    ],
  ])("%s: exit 2 naming the option, before any request", async (...args) => {
    const [flag, value] = args.slice(-2);
    const { code, stderr } = await stderrOf(args.slice(0, -2));
    expect(code).toBe(2);
    expect(stderr).toBe(`chunksync: error: ${flag}: expected a value for ${value}, got an empty string\n`);
  });
});

describe("--sse with a customer key", () => {
  const sides = ["--src-endpoint", "http://127.0.0.1:9", "--dst-endpoint", "http://127.0.0.1:9"];
  it.each(["AES256", "aws:kms"])(
    "--sse %s and --dst-sse-c-key-file: exit 2 before any request",
    async (sse) => {
      const keyFile = join(mkdtempSync(join(tmpdir(), "chunksync-ssec-")), "key");
      writeFileSync(keyFile, Buffer.alloc(32, 7));
      const args = [
        "sync",
        "s3://src-bucket",
        "s3://dst-bucket",
        ...sides,
        "--sse",
        sse,
        "--dst-sse-c-key-file",
        keyFile,
      ];
      const { code, stderr } = await stderrOf(args);
      expect(code).toBe(2);
      expect(stderr).toBe(
        `chunksync: error: --sse: expected no value together with --dst-sse-c-key-file (an object is encrypted with the customer's key or the server's, not both), got "${sse}"\n`,
      );
    },
  );
});

describe("--concurrency", () => {
  const sides = ["--src-endpoint", "http://127.0.0.1:9", "--dst-endpoint", "http://127.0.0.1:9"];
  it.each(["0x10", "1e2", "8.0", " 8", "+8"])("%j: exit 2 before any request", async (value) => {
    const { code, stderr } = await stderrOf([
      "plan",
      "s3://src-bucket",
      "s3://dst-bucket",
      ...sides,
      "--concurrency",
      value,
    ]);
    expect(code).toBe(2);
    expect(stderr).toBe(
      `chunksync: error: --concurrency: expected a whole number from 1 to 256, got "${value}"\n`,
    );
  });
});

describe("--chunk-size out of S3's part size limits", () => {
  const sides = ["--src-endpoint", "http://127.0.0.1:9", "--dst-endpoint", "http://127.0.0.1:9"];
  it.each([
    ["sync", "s3://src-bucket", "s3://dst-bucket", ...sides, "--chunk-size", "4MiB"],
    ["scrub", "s3://src-bucket", "--endpoint", "http://127.0.0.1:9", "--chunk-size", "6GiB"],
  ])("%s: exit 2 naming the flag, before any request", async (...args) => {
    const { code, stderr } = await stderrOf(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^chunksync: error: --chunk-size: chunk size \d\.0 [MG]iB \(\d+ bytes\) is not allowed: /,
    );
  });

  it("one byte is said as one byte", async () => {
    const { stderr } = await stderrOf([
      "sync",
      "s3://src-bucket",
      "s3://dst-bucket",
      ...sides,
      "--chunk-size",
      "1",
    ]);
    expect(stderr).toMatch(/^chunksync: error: --chunk-size: chunk size 1 byte is not allowed: /);
  });
});

describe("an endpoint with a path, an account ID that is none: refused before any request", () => {
  // Nothing listens on port 9: a value passed on would fail on the connection.
  const dst = ["--dst-endpoint", "http://127.0.0.1:9"];
  it.each([
    [
      ["--src-endpoint", "http://127.0.0.1:9/some/path", ...dst],
      '--src-endpoint: expected a URL such as http://127.0.0.1:9000 (scheme, host and port; no path, no user), got "http://127.0.0.1:9/some/path"',
    ],
    [
      ["--src-endpoint", "http://user:pw@127.0.0.1:9", ...dst],
      '--src-endpoint: expected a URL such as http://127.0.0.1:9000 (scheme, host and port; no path, no user), got "http://user:***@127.0.0.1:9"',
    ],
    [
      ["--src-endpoint", "http://127.0.0.1:0", ...dst],
      '--src-endpoint: expected a URL such as http://127.0.0.1:9000 (scheme, host and port; no path, no user), got "http://127.0.0.1:0"',
    ],
    [
      ["--src-endpoint", "http://127.0.0.1:9/", ...dst, "--dst-account-id", "abc"],
      '--dst-account-id: expected a 12-digit account ID, got "abc"',
    ],
  ])("%j", async (flags, message) => {
    const { code, stderr } = await stderrOf(["sync", "s3://src-bucket", "s3://dst-bucket", ...flags]);
    expect(code).toBe(2);
    expect(stderr).toBe(`chunksync: error: ${message}\n`);
  });
});

describe("a one-side command's errors name its URL, as the two-side commands name SRC and DST", () => {
  it("scrub with a profile in no shared file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chunksync-profiles-"));
    writeFileSync(join(dir, "config"), "[profile other]\nregion = eu-west-1\n");
    vi.stubEnv("AWS_CONFIG_FILE", join(dir, "config"));
    vi.stubEnv("AWS_SHARED_CREDENTIALS_FILE", join(dir, "credentials"));
    try {
      const { code, stderr } = await stderrOf(["scrub", "s3://some-bucket", "--profile", "nope"]);
      expect(code).toBe(2);
      expect(stderr).toMatch(/^chunksync: error: URL \(--profile\): profile "nope" not found: /);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe("--exclude '*'", () => {
  const sides = ["--src-endpoint", "http://127.0.0.1:9", "--dst-endpoint", "http://127.0.0.1:9"];
  it.each([
    ["sync", "s3://src-bucket", "s3://dst-bucket", ...sides],
    ["audit", "s3://src-bucket", "s3://dst-bucket", ...sides],
    ["scrub", "s3://src-bucket", "--endpoint", "http://127.0.0.1:9"],
  ])("%s warns that it leaves out top-level keys only", async (...args) => {
    const { stderr } = await stderrOf([...args, "--exclude", "*", "--concurrency", "0"]);
    expect(stderr).toContain("chunksync: warning: --exclude '*' leaves out top-level keys only");
  });
});

describe("--json's one object for a command refused after its options were read", () => {
  it.each([
    [["cleanup", "s3://b", "--dry-run", "--json", "--started-before", "yesterday"], "cleanup"],
    [["sync", "s3://a", "s3://b", "--dry-run", "--json", "--chunk-size", "1KiB"], "plan"],
    // Refused as they were read: an option of another tool, an empty value.
    [["sync", "s3://a", "s3://b", "--profile", "src", "--json"], "sync"],
    [["check", "s3://a", "s3://b", "--json", "--dst-region="], "check"],
    [["cleanup", "s3://b", "--profile", "dst", "--json"], "cleanup"],
  ])("%j names %s", async (args, command) => {
    const out: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    vi.spyOn(process.stdout, "write").mockImplementation((s) => out.push(String(s)) > 0);
    expect(await main(args)).toBe(2);
    expect(JSON.parse(out.join(""))).toMatchObject({ command, exitCode: 2 });
  });
});
