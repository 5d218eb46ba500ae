import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterAll, expect, it } from "vitest";
import { STOPPING } from "../../packages/cli/src/interruptible.js";
import { profileEnv, runCli } from "../support/cli.js";
import { FaultProxy } from "../support/faultProxy.js";
import { type CliProcess, pendingUploads, startCli } from "../support/faultWorld.js";
import { localS3, readAll, s3Client, TestBuckets } from "../support/s3.js";

const dst = s3Client("destination");
const buckets = new TestBuckets();
afterAll(() => buckets.drop());

it("cleanup judges an upload's age by the server's clock: a machine whose clock runs 10 minutes ahead keeps another tool's fresh upload under --older-than 5m", async () => {
  const bucket = await buckets.make(dst, "dst-cleanclock");
  const { UploadId } = await dst.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: "theirs.bin" }),
  );
  const env = profileEnv();
  // Within the 15 minutes a signed request may be off by, so the server still answers.
  const ahead = join(env.XDG_CACHE_HOME!, "..", "ahead.cjs");
  writeFileSync(ahead, "const now = Date.now; Date.now = () => now() + 10 * 60 * 1000;\n");
  const run = await runCli(
    ["cleanup", `s3://${bucket}`, "--dst-profile", "dst", "--older-than", "5m", "--json"],
    {
      ...env,
      NODE_OPTIONS: `--require ${ahead}`,
    },
  );
  expect(run.code, run.stderr).toBe(0);
  expect(JSON.parse(run.stdout)).toMatchObject({
    aborted: [],
    kept: [{ key: "theirs.bin", uploadId: UploadId }],
  });
  expect(await pendingUploads(dst, bucket)).toEqual([{ key: "theirs.bin", uploadId: UploadId }]);
});

it("Ctrl-C while cleanup aborts: it stops after the abort in flight, says what it aborted and what it left, and exits 130", async () => {
  const bucket = await buckets.make(dst, "dst-cleanstop");
  for (const Key of ["a", "b", "c"])
    await dst.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
  const proxy = await FaultProxy.start({ upstream: localS3().endpoint });
  try {
    let cli: CliProcess | undefined;
    let aborts = 0;
    proxy.setRules([
      {
        name: "ctrl-c-at-second-abort",
        action: "hook",
        when: (r) => r.method === "DELETE" && r.query.includes("uploadId=") && ++aborts === 2,
        // The abort goes on only once the CLI said it took the Ctrl-C: its answer could
        // otherwise reach the CLI first, and the next abort start before the signal's turn.
        hook: () => cli?.interrupt(),
      },
    ]);
    cli = startCli(
      [
        "cleanup",
        `s3://${bucket}`,
        "--dst-profile",
        "dst",
        "--dst-endpoint",
        proxy.url,
        "--older-than",
        "0s",
        "--json",
      ],
      profileEnv(),
    );
    const out = await cli.done;
    expect(out.code, out.stderr).toBe(130);
    expect(out.stderr).toContain(`${STOPPING}\nchunksync: interrupted; aborted 2, left 1`);
    const report = JSON.parse(out.stdout);
    expect(report).toMatchObject({ command: "cleanup", exitCode: 130, interrupted: true, kept: [] });
    expect(report.aborted.map((u: { key: string }) => u.key)).toEqual(["a", "b"]);
    expect(await pendingUploads(dst, bucket)).toEqual(
      report.left.map((u: { key: string; uploadId: string }) => ({ key: u.key, uploadId: u.uploadId })),
    );
  } finally {
    await proxy.stop();
  }
});

it("cleanup aborts an upload whose key is only whitespace with a line break, which it used to list as no upload at all", async () => {
  const bucket = await buckets.make(dst, "dst-cleanspace");
  const created = new Map<string, string>();
  for (const Key of ["\n", "\t\n ", "k"]) {
    const { UploadId } = await dst.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
    created.set(Key, UploadId!);
  }
  const run = await runCli(
    ["cleanup", `s3://${bucket}`, "--dst-profile", "dst", "--older-than", "0s", "--json"],
    profileEnv(),
  );
  expect(run.code, run.stderr).toBe(0);
  const report = JSON.parse(run.stdout) as { aborted: { key: string; uploadId: string }[] };
  expect(report.aborted.map((u) => [u.key, u.uploadId]).sort()).toEqual([...created].sort());
  // URL-encoded keys: the SDK's own parser drops these keys from a plain listing too.
  const left = await dst.send(new ListMultipartUploadsCommand({ Bucket: bucket, EncodingType: "url" }));
  expect(left.Uploads ?? []).toEqual([]);
});

it("an upload its own run completes between cleanup's listing and its abort is not called aborted", async () => {
  const bucket = await buckets.make(dst, "dst-cleangone");
  const { UploadId } = await dst.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "done.bin" }));
  const { ETag } = await dst.send(
    new UploadPartCommand({ Bucket: bucket, Key: "done.bin", UploadId, PartNumber: 1, Body: "bytes" }),
  );
  const proxy = await FaultProxy.start({ upstream: localS3().endpoint });
  try {
    proxy.setRules([
      {
        name: "completed-before-abort",
        action: "hook",
        when: (r) => r.method === "DELETE" && r.query.includes("uploadId="),
        hook: async () => {
          await dst.send(
            new CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key: "done.bin",
              UploadId,
              MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] },
            }),
          );
        },
      },
    ]);
    const args = ["cleanup", `s3://${bucket}`, "--dst-profile", "dst", "--dst-endpoint", proxy.url];
    const run = await runCli([...args, "--older-than", "0s", "--json"], profileEnv());
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      aborted: [],
      gone: [{ key: "done.bin", uploadId: UploadId }],
    });
    expect((await readAll(dst, bucket, "done.bin")).toString()).toBe("bytes");
  } finally {
    await proxy.stop();
  }
});

it("an abort the server refuses is reported with the rest, and cleanup goes on to the next upload (exit 2)", async () => {
  const bucket = await buckets.make(dst, "dst-cleanrefused");
  for (const Key of ["a", "b", "c"])
    await dst.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
  const proxy = await FaultProxy.start({ upstream: localS3().endpoint });
  try {
    proxy.setRules([{ name: "deny-b", action: "forbidden", method: "DELETE", path: /\/b$/ }]);
    const args = ["cleanup", `s3://${bucket}`, "--dst-profile", "dst", "--dst-endpoint", proxy.url];
    const run = await runCli([...args, "--older-than", "0s", "--json"], profileEnv());
    expect(run.code, run.stderr).toBe(2);
    const report = JSON.parse(run.stdout);
    expect(report.aborted.map((u: { key: string }) => u.key)).toEqual(["a", "c"]);
    expect(report.failed).toEqual([expect.objectContaining({ key: "b", code: "ACCESS_DENIED" })]);
    expect((await pendingUploads(dst, bucket)).map((u) => u.key)).toEqual(["b"]);
  } finally {
    await proxy.stop();
  }
});
