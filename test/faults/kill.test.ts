import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import { scenario } from "../support/faultLedger.js";
import { FaultProxy, type SeenRequest } from "../support/faultProxy.js";
import { oldOrNew, pendingUploads, startCli, type Versions } from "../support/faultWorld.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  localS3,
  putObject,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";

const CATEGORY = "2 kill -9 mid-compose";
const MiB = 1024 * 1024;
const C = 5 * MiB;

const isPart = (r: SeenRequest) => r.method === "PUT" && r.query.includes("partNumber=");
const isComplete = (r: SeenRequest) => r.method === "POST" && r.query.includes("uploadId=");

describe("kill -9 of the CLI in the middle of a compose", () => {
  let src: S3Client;
  let dst: S3Client;
  let srcBucket: string;
  let dstBucket: string;
  let proxy: FaultProxy;
  let env: Record<string, string>;
  let versions: Versions[];

  beforeAll(async () => {
    src = s3Client("source");
    dst = s3Client("destination");
    srcBucket = uniqueBucketName("src-kill");
    dstBucket = uniqueBucketName("dst-kill");
    await createBucket(src, srcBucket);
    await createBucket(dst, dstBucket);
    const a = seededBytes("kill-a", 6 * C);
    const b = seededBytes("kill-b", 4 * C + 77);
    versions = [
      // Re-composed: chunks 1, 3 and 5 uploaded, the rest copied from the old object.
      { key: "compose/a.bin", old: a, new: flipByte(flipByte(flipByte(a, C + 1), 3 * C + 2), 5 * C + 3) },
      { key: "compose/b.bin", old: b, new: flipByte(b, 2 * C) },
      // Absent on the destination: one PutObject streamed from the source (its ETag is its MD5).
      { key: "new/c.bin", new: seededBytes("kill-c", 4 * C) },
      { key: "small.txt", old: Buffer.from("old"), new: Buffer.from("new small object") },
    ];
    for (const v of versions) {
      await putObject(src, srcBucket, v.key, v.new);
      if (v.old) await putObject(dst, dstBucket, v.key, v.old);
    }
    proxy = await FaultProxy.start({ upstream: localS3().endpoint });
    env = profileEnv();
  });

  afterAll(async () => {
    await proxy.stop();
    await emptyAndDeleteBucket(src, srcBucket);
    await emptyAndDeleteBucket(dst, dstBucket);
  });

  /** Runs sync through the proxy and SIGKILLs it when `at` says so (before that request is forwarded). */
  async function killWhen(at: (r: SeenRequest, parts: number) => boolean) {
    let parts = 0;
    let cli: ReturnType<typeof startCli> | undefined;
    let killed = false;
    proxy.setRules([
      {
        name: "kill",
        action: "hook",
        when: (r) => {
          if (isPart(r)) parts++;
          return !killed && at(r, parts);
        },
        hook: async () => {
          killed = true;
          cli?.kill("SIGKILL");
          await cli?.done;
        },
      },
    ]);
    cli = startCli(
      [
        "sync",
        `s3://${srcBucket}`,
        `s3://${dstBucket}`,
        ...SIDES,
        "--dst-endpoint",
        proxy.url,
        "--chunk-size",
        "5MiB",
      ],
      env,
    );
    const out = await cli.done;
    proxy.setRules([]);
    return { ...out, killed, parts };
  }

  const points: [string, (r: SeenRequest, parts: number) => boolean][] = [
    ["at the first part request", (r, parts) => isPart(r) && parts === 1],
    ["after 5 part requests", (r, parts) => isPart(r) && parts === 6],
    ["at the first CompleteMultipartUpload", (r) => isComplete(r)],
  ];

  it.each(points)("killed %s: every destination object is old or new, never mixed", async (name, at) => {
    await scenario(CATEGORY, `killed ${name}`, async () => {
      const run = await killWhen(at);
      expect(run.killed, run.stderr).toBe(true);
      expect(run.signal).toBe("SIGKILL");
      const state = await oldOrNew(dst, dstBucket, versions);
      expect(state.mixed).toEqual([]);
      return { bytesLost: state.bytesLost };
    });
  });

  it("cleanup lists the uploads the killed runs left, keeps them under --older-than 1h, aborts them with 0s", async () => {
    await scenario(CATEGORY, "cleanup after the kills", async () => {
      const left = await pendingUploads(dst, dstBucket);
      // Each killed run was stopped in the middle of at least one multipart upload.
      expect(left.length).toBeGreaterThanOrEqual(points.length);

      const keep = await runCli(["cleanup", `s3://${dstBucket}`, "--dst-profile", "dst", "--json"], env);
      expect(keep.code, keep.stderr).toBe(0);
      expect(JSON.parse(keep.stdout)).toMatchObject({ aborted: [], olderThanMs: 3_600_000 });
      expect((await pendingUploads(dst, dstBucket)).length).toBe(left.length);

      const dry = await runCli(
        ["cleanup", `s3://${dstBucket}`, "--dst-profile", "dst", "--older-than", "0s", "--dry-run"],
        env,
      );
      expect(dry.code, dry.stderr).toBe(0);
      for (const u of left) expect(dry.stdout).toContain(`would abort ${u.key} (upload ${u.uploadId}`);
      expect((await pendingUploads(dst, dstBucket)).length).toBe(left.length);
      // In JSON too: none is called aborted.
      const dryJson = await runCli(
        ["cleanup", `s3://${dstBucket}`, "--dst-profile", "dst", "--older-than", "0s", "--dry-run", "--json"],
        env,
      );
      const would = JSON.parse(dryJson.stdout) as { aborted?: unknown; wouldAbort: { uploadId: string }[] };
      expect(would.aborted).toBeUndefined();
      expect(would.wouldAbort.map((u) => u.uploadId).sort()).toEqual(left.map((u) => u.uploadId).sort());

      const abort = await runCli(
        ["cleanup", `s3://${dstBucket}`, "--dst-profile", "dst", "--older-than", "0s", "--json"],
        env,
      );
      expect(abort.code, abort.stderr).toBe(0);
      expect(JSON.parse(abort.stdout)).toMatchObject({ command: "cleanup", exitCode: 0 });
      const aborted = (JSON.parse(abort.stdout) as { aborted: { uploadId: string }[] }).aborted.map(
        (u) => u.uploadId,
      );
      expect(aborted.sort()).toEqual(left.map((u) => u.uploadId).sort());
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
    });
  });

  it("a rerun completes and the destination equals the source", async () => {
    await scenario(CATEGORY, "rerun after the kills", async () => {
      const rerun = await runCli(
        ["sync", `s3://${srcBucket}`, `s3://${dstBucket}`, ...SIDES, "--chunk-size", "5MiB"],
        env,
      );
      expect(rerun.code, rerun.stderr).toBe(0);
      const state = await oldOrNew(dst, dstBucket, versions);
      expect(state.updated.sort()).toEqual(versions.map((v) => v.key).sort());
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
      return { bytesLost: state.bytesLost };
    });
  });

  it("cleanup refuses a bad --older-than and a malformed DST, naming them", async () => {
    await scenario("4 bad input", "cleanup flags", async () => {
      const age = await runCli(
        ["cleanup", `s3://${dstBucket}`, "--dst-profile", "dst", "--older-than", "soon"],
        env,
      );
      expect(age.code).toBe(2);
      expect(age.stderr).toMatch(/--older-than: expected an age such as 0s, 90s, 15m, 1h or 2d, got "soon"/);
      const time = await runCli(
        ["cleanup", `s3://${dstBucket}`, "--dst-profile", "dst", "--started-before", "12:26"],
        env,
      );
      expect(time.code).toBe(2);
      expect(time.stderr).toMatch(
        /--started-before: expected an ISO 8601 time with its zone such as .*, got "12:26"/,
      );
      const url = await runCli(["cleanup", "http://x", "--dst-profile", "dst"], env);
      expect(url.code).toBe(2);
      expect(url.stderr).toMatch(/DST: expected an S3 URL/);
    });
  });
});
