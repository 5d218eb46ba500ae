import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { formatBytes, MAX_REQUESTED_CHUNK_SIZE } from "@chunksync/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_BIN, cleanEnv, envWithBadProfiles, runCli, SIDES } from "../support/cli.js";
import { scenario } from "../support/faultLedger.js";
import { createBucket, emptyAndDeleteBucket, putObject, s3Client, uniqueBucketName } from "../support/s3.js";

const CATEGORY = "4 bad input";
/** Both sides at a port where nothing listens: a refusal after a request would name that, not the input. */
const NOWHERE = ["--src-endpoint", "http://127.0.0.1:9", "--dst-endpoint", "http://127.0.0.1:9"];

describe("bad input through the real CLI: exit 2 and a message naming the input and what was expected", () => {
  let src: S3Client;
  let dst: S3Client;
  let srcBucket: string;
  let dstBucket: string;
  let env: Record<string, string>;
  let shortSecret: string;
  let goodSecret: string;

  beforeAll(async () => {
    src = s3Client("source");
    dst = s3Client("destination");
    srcBucket = uniqueBucketName("src-bad");
    dstBucket = uniqueBucketName("dst-bad");
    await createBucket(src, srcBucket);
    await createBucket(dst, dstBucket);
    await putObject(src, srcBucket, "a.txt", "hello");
    env = envWithBadProfiles();
    shortSecret = join(mkdtempSync(join(tmpdir(), "chunksync-secret-")), "secret");
    writeFileSync(shortSecret, "ab".repeat(31));
    goodSecret = join(mkdtempSync(join(tmpdir(), "chunksync-secret-")), "secret");
    writeFileSync(goodSecret, randomBytes(32).toString("hex"));
  });

  afterAll(async () => {
    await emptyAndDeleteBucket(src, srcBucket);
    await emptyAndDeleteBucket(dst, dstBucket);
  });

  const S = () => `s3://${srcBucket}`;
  const D = () => `s3://${dstBucket}`;
  const cases: [string, () => string[], RegExp][] = [
    [
      "malformed SRC URL (http://)",
      () => ["sync", "http://bucket/x", D(), ...SIDES],
      /SRC: expected an S3 URL like s3:\/\/bucket or s3:\/\/bucket\/prefix, got "http:\/\/bucket\/x"/,
    ],
    [
      "malformed SRC URL (no scheme)",
      () => ["sync", "bucket", D(), ...SIDES],
      /SRC: expected an S3 URL .*got "bucket"/,
    ],
    [
      "DST URL without a bucket",
      () => ["sync", S(), "s3://", ...SIDES],
      /DST: expected a bucket name of 3-63 .* in "s3:\/\/"/,
    ],
    [
      "DST bucket name too short",
      () => ["sync", S(), "s3://A", ...SIDES],
      /DST: expected a bucket name of 3-63 .* in "s3:\/\/A"/,
    ],
    [
      "unknown source bucket",
      () => ["sync", "s3://no-such-bucket-chunksync", D(), ...SIDES],
      /source: .*s3:\/\/no-such-bucket-chunksync: the bucket does not exist \(check the bucket name, region and endpoint\)/,
    ],
    [
      "unknown destination bucket",
      () => ["sync", S(), "s3://no-such-bucket-chunksync", ...SIDES],
      /destination: .*s3:\/\/no-such-bucket-chunksync: the bucket does not exist/,
    ],
    [
      "destination user on the source bucket",
      () => ["sync", S(), D(), "--src-profile", "dst", "--dst-profile", "dst"],
      /source: .*s3:\/\/src-bad-[^:]*: access denied \(check this side's credentials, profile and bucket policy\)/,
    ],
    [
      "source user on the destination bucket",
      () => ["sync", S(), D(), "--src-profile", "src", "--dst-profile", "src"],
      /destination: .*s3:\/\/dst-bad-[^:]*: access denied/,
    ],
    [
      "wrong secret key (source)",
      () => ["sync", S(), D(), "--src-profile", "wrongsecret", "--dst-profile", "dst"],
      /source: .*: the server rejected the credentials \(SignatureDoesNotMatch: the secret key does not belong to this access key\); they are those of profile "wrongsecret" \(--src-profile\)/,
    ],
    [
      "unknown access key (destination)",
      () => ["sync", S(), D(), "--src-profile", "src", "--dst-profile", "nobody"],
      /destination: .*: the server rejected the credentials \(InvalidAccessKeyId: the server knows no such access key\); they are those of profile "nobody" \(--dst-profile\)/,
    ],
    [
      "chunk size 1MiB",
      () => ["sync", S(), D(), ...SIDES, "--chunk-size", "1MiB"],
      /chunk size 1\.0 MiB \(1048576 bytes\) is not allowed: it must be .* from 5\.0 MiB \(5242880 bytes\) to [45]\.0 GiB/,
    ],
    [
      "chunk size 6GiB",
      () => ["sync", S(), D(), ...SIDES, "--chunk-size", "6GiB"],
      /chunk size 6\.0 GiB \(6442450944 bytes\) is not allowed: .* from 5\.0 MiB \(5242880 bytes\) to [45]\.0 GiB/,
    ],
    [
      // S3 takes parts of 5 GiB; Node.js 20 holds no Buffer over 4 GiB, and a part read into memory is one.
      "chunk size one byte over the largest",
      () => ["sync", S(), D(), ...SIDES, "--chunk-size", String(MAX_REQUESTED_CHUNK_SIZE + 1)],
      new RegExp(
        `is not allowed: .* from 5\\.0 MiB \\(5242880 bytes\\) to ${formatBytes(MAX_REQUESTED_CHUNK_SIZE).replace(".", "\\.")} \\(${MAX_REQUESTED_CHUNK_SIZE} bytes\\)`,
      ),
    ],
    [
      "a region that is no host component",
      () => ["check", S(), D(), ...SIDES, "--src-region", "eu west"],
      /--src-region: expected a region such as eu-west-1, got "eu west"/,
    ],
    [
      "a value left out: the next option taken for it",
      () => ["check", S(), D(), ...SIDES, "--dst-region", "--quiet"],
      /--dst-region: expected a value for <region>, got the option --quiet \(was the value left out\?\)/,
    ],
    [
      "chunk size abc",
      () => ["plan", S(), D(), ...SIDES, "--chunk-size", "abc"],
      /--chunk-size: expected a size such as 8MiB, 512KiB, 1GiB or a plain number of bytes/,
    ],
    [
      "unknown algorithm",
      () => ["check", S(), D(), ...SIDES, "--algorithm", "blake9"],
      /option '--algorithm <name>' argument 'blake9' is invalid\. Allowed choices are sha256, sha1, md5, crc32c/,
    ],
    [
      "unknown variant",
      () => ["check", S(), D(), ...SIDES, "--variant", "both"],
      /option '--variant <name>' argument 'both' is invalid\. Allowed choices are encode, decode/,
    ],
    [
      "--concurrency 0",
      () => ["sync", S(), D(), ...SIDES, "--concurrency", "0"],
      /--concurrency: expected a whole number from 1 to 256, got "0"/,
    ],
    [
      "--concurrency many",
      () => ["sync", S(), D(), ...SIDES, "--concurrency", "many"],
      /--concurrency: expected a whole number from 1 to 256, got "many"/,
    ],
    [
      "--concurrency 100000",
      () => ["sync", S(), D(), ...SIDES, "--concurrency", "100000"],
      /--concurrency: expected a whole number from 1 to 256, got "100000"/,
    ],
    [
      "missing --secret-file",
      () => ["sync", S(), D(), ...SIDES, "--secret-file", "/nonexistent/secret"],
      /--secret-file: expected a readable file \(ENOENT/,
    ],
    [
      "malformed --src-endpoint",
      () => ["sync", S(), D(), ...SIDES, "--src-endpoint", "not a url"],
      /--src-endpoint: expected a URL such as http:\/\/127\.0\.0\.1:9000 \(scheme, host and port; no path, no user\), got "not a url"/,
    ],
    [
      "--dst-endpoint without http:// (a URL of scheme localhost:)",
      () => ["sync", S(), D(), ...SIDES, "--dst-endpoint", "localhost:9000"],
      /--dst-endpoint: expected a URL such as http:\/\/127\.0\.0\.1:9000 \(scheme, host and port; no path, no user\), got "localhost:9000"/,
    ],
    [
      "--src-endpoint of another scheme",
      () => ["check", S(), D(), ...SIDES, "--src-endpoint", "ftp://127.0.0.1:21"],
      /--src-endpoint: expected a URL such as http:\/\/127\.0\.0\.1:9000 \(scheme, host and port; no path, no user\), got "ftp:\/\/127\.0\.0\.1:21"/,
    ],
    [
      "--dst-endpoint with a path (requests go to /bucket/key on its host: the path would be dropped)",
      () => ["sync", S(), D(), ...SIDES, "--dst-endpoint", "http://127.0.0.1:9000/s3"],
      /--dst-endpoint: expected a URL such as http:\/\/127\.0\.0\.1:9000 \(scheme, host and port; no path, no user\), got "http:\/\/127\.0\.0\.1:9000\/s3"/,
    ],
    [
      "--dst-index that is no S3 location, refused before any request",
      () => ["sync", S(), D(), ...SIDES, ...NOWHERE, "--dst-index", "s3://"],
      /--dst-index: expected a bucket name of 3-63 .* in "s3:\/\/"/,
    ],
    [
      "--src-index inside the destination's location, refused before any request",
      () => ["sync", S(), D(), ...SIDES, ...NOWHERE, "--src-index", `${D()}/idx`],
      /--src-index: expected a location apart from the destination's s3:\/\//,
    ],
    [
      // Its only copy, it may be: a report written over it loses it.
      "--report naming the --secret-file the run reads",
      () => ["sync", S(), D(), ...SIDES, "--secret-file", goodSecret, "--report", goodSecret],
      /--report: expected a file apart from the --secret-file it reads, got ".*secret"/,
    ],
    [
      "audit of a location against a part of itself, with audit's reason",
      () => ["audit", S(), `${S()}/pre`, ...SIDES],
      /DST: expected a destination apart from the source, .* overlap on the same storage \(an audit proves that a second copy holds the source's bytes/,
    ],
    [
      "--secret-file too short",
      () => ["sync", S(), D(), ...SIDES, "--secret-file", shortSecret],
      /--secret-file: expected at least 32 random bytes/,
    ],
    [
      "--sse-kms-key-id without --sse aws:kms",
      () => ["sync", S(), D(), ...SIDES, "--sse-kms-key-id", "my-key"],
      /--sse-kms-key-id: expected --sse aws:kms with it .*got "my-key"/,
    ],
    [
      "--sse-kms-context with --sse AES256",
      () => ["sync", S(), D(), ...SIDES, "--sse", "AES256", "--sse-kms-context", '{"a":"b"}'],
      /--sse-kms-context: expected --sse aws:kms with it/,
    ],
    [
      "--sse-kms-context not an object of strings",
      () => ["sync", S(), D(), ...SIDES, "--sse", "aws:kms", "--sse-kms-context", '{"n":1}'],
      /--sse-kms-context: expected a JSON object of strings such as \{"project":"x"\}, got '\{"n":1\}'/,
    ],
  ];

  it.each(cases)("%s", async (name, args, message) => {
    await scenario(CATEGORY, name, async () => {
      const out = await runCli(args(), env);
      expect(out.code, out.stderr).toBe(2);
      expect(out.stderr).toMatch(message);
      // A clear message, not a stack trace.
      expect(out.stderr).not.toMatch(/^\s+at /m);
      expect(out.stdout).toBe("");
    });
  });

  it.each([
    [
      { AWS_ENDPOINT_URL: "127.0.0.1:9" },
      /AWS_ENDPOINT_URL: expected a URL such as .*, got "127\.0\.0\.1:9"/,
    ],
    [
      { AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9/some/path" },
      /AWS_ENDPOINT_URL_S3: expected a URL such as .*no path/,
    ],
    [{ AWS_PROFILE: "nope" }, /source \(AWS_PROFILE\): profile "nope" not found/],
    [{ AWS_REGION: "eu west" }, /AWS_REGION: expected a region such as eu-west-1, got "eu west"/],
    [
      { AWS_PROFILE: "nobody" },
      /the server rejected the credentials .*; they are those of profile "nobody" \(AWS_PROFILE\)/,
    ],
  ])(
    "settings from the environment (%j) are checked as flags are, named, before any request",
    async (vars, message) => {
      const out = await runCli(["check", S(), D(), "--dst-profile", "dst"], { ...env, ...vars });
      expect(out.code, out.stderr).toBe(2);
      expect(out.stderr).toMatch(message);
      expect(out.stderr).not.toMatch(/^\s+at /m);
    },
  );
});

describe("a --report that would write over what the run reads or prints", () => {
  it("is refused where it is the file --json's document goes to, and the file is left as it was", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chunksync-report-"));
    const out = join(dir, "out.json");
    writeFileSync(out, "before");
    const args = ["check", "s3://src-bucket", "s3://dst-bucket", "--json", "--report", "/dev/stdout"];
    // Standard output a file, as `> out.json` makes it: /dev/stdout names that very file.
    const quoted = [process.execPath, CLI_BIN, ...args].map((w) => `'${w}'`).join(" ");
    const run = spawnSync("sh", ["-c", `exec ${quoted} >> '${out}'`], { env: cleanEnv(), encoding: "utf8" });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(
      '--report: expected a file apart from the standard output --json prints its document on, got "/dev/stdout"',
    );
    const printed = readFileSync(out, "utf8");
    expect(printed.startsWith("before")).toBe(true);
    expect(JSON.parse(printed.slice("before".length))).toMatchObject({
      exitCode: 2,
      error: { code: "VALIDATION_FAILED" },
    });
  });
});
