import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { expect, it } from "vitest";
import { CLI_BIN, cleanEnv, profileEnv, SIDES } from "../support/cli.js";
import { seededBytes } from "../support/data.js";
import { withBucketPair } from "../support/s3.js";

const MiB = 1024 * 1024;

/** Peak resident set (VmHWM) of a running process, in bytes; 0 once it is gone. */
function peakRss(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs the CLI and samples its peak RSS until it exits. */
async function syncMeasuringRss(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; peak: number }> {
  const child = spawn(process.execPath, [CLI_BIN, ...args], {
    env: { ...cleanEnv(), ...env },
    stdio: "ignore",
  });
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, peakRss(child.pid!));
  }, 50);
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  clearInterval(timer);
  return { code, peak };
}

it("peak RSS of a 512 MiB sync at 8 MiB chunks and concurrency 4 stays far below the object size", async () => {
  await withBucketPair("memory", async ({ src, s, d }) => {
    // Uploaded in 64 MiB pieces so the test process itself stays small too.
    const { CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand } = await import(
      "@aws-sdk/client-s3"
    );
    const upload = await src.send(new CreateMultipartUploadCommand({ Bucket: s, Key: "big" }));
    const parts = [];
    for (let i = 0; i < 8; i++) {
      const part = await src.send(
        new UploadPartCommand({
          Bucket: s,
          Key: "big",
          UploadId: upload.UploadId,
          PartNumber: i + 1,
          Body: seededBytes(`part${i}`, 64 * MiB),
        }),
      );
      parts.push({ PartNumber: i + 1, ETag: part.ETag });
    }
    await src.send(
      new CompleteMultipartUploadCommand({
        Bucket: s,
        Key: "big",
        UploadId: upload.UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    await src.send(new PutObjectCommand({ Bucket: s, Key: "small", Body: "x" }));
    const env = profileEnv();
    const args = [
      "sync",
      `s3://${s}`,
      `s3://${d}`,
      ...SIDES,
      "--chunk-size",
      "8MiB",
      "--concurrency",
      "4",
      "--quiet",
    ];
    const { code, peak } = await syncMeasuringRss(args, env);
    expect(code).toBe(0);
    // Streams, never whole objects: the bound is concurrency x chunk size + the runtime, whatever the
    // object size (bench/ measures 2 GiB; the issue asks < 400 MB there).
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(400 * 1000 * 1000);
    console.log(`peak RSS of a 512 MiB sync: ${(peak / MiB).toFixed(0)} MiB`);
  });
});
