import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import {
  chunkRanges,
  DIGEST_ALGORITHMS,
  digestOf,
  drawPairingSecret,
  formatPairingSecret,
  planChunks,
} from "@chunksync/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import { scenario } from "../support/faultLedger.js";
import { FaultProxy } from "../support/faultProxy.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  localS3,
  putObject,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";

const MiB = 1024 * 1024;
const C = 5 * MiB;

/** Every way a digest could be printed. */
function encodings(digest: Buffer): string[] {
  const base64 = digest.toString("base64");
  return [
    digest.toString("hex"),
    digest.toString("hex").toUpperCase(),
    base64,
    base64.replace(/=+$/, ""),
    digest.toString("base64url"),
  ];
}

describe("no raw digest in anything a real CLI run prints or writes", () => {
  let src: S3Client;
  let dst: S3Client;
  let srcBucket: string;
  let dstBucket: string;
  let proxy: FaultProxy;
  const objects: Record<string, { source: Buffer; destination?: Buffer }> = {};

  beforeAll(async () => {
    src = s3Client("source");
    dst = s3Client("destination");
    srcBucket = uniqueBucketName("src-leak");
    dstBucket = uniqueBucketName("dst-leak");
    await createBucket(src, srcBucket);
    await createBucket(dst, dstBucket);
    const multi = seededBytes("leak-multi", 3 * C);
    objects["multi.bin"] = { source: multi, destination: flipByte(multi, C + 1) };
    objects["new.bin"] = { source: seededBytes("leak-new", 2 * C + 5) };
    objects["same.txt"] = {
      source: Buffer.from("same on both sides"),
      destination: Buffer.from("same on both sides"),
    };
    objects["small.txt"] = { source: Buffer.from("new small"), destination: Buffer.from("old small") };
    for (const [key, o] of Object.entries(objects)) {
      await putObject(src, srcBucket, key, o.source);
      if (o.destination) await putObject(dst, dstBucket, key, o.destination);
    }
    proxy = await FaultProxy.start({ upstream: localS3().endpoint });
  });

  afterAll(async () => {
    await proxy.stop();
    await emptyAndDeleteBucket(src, srcBucket);
    await emptyAndDeleteBucket(dst, dstBucket);
  });

  it("check, plan and sync (every algorithm, both variants, failures included): stdout, stderr and --report scanned", {
    timeout: 240_000,
  }, async () => {
    await scenario("5 attacks on the challenge", "raw digests in CLI output", async () => {
      const env = profileEnv();
      const dir = mkdtempSync(join(tmpdir(), "chunksync-leak-"));
      const secretFile = join(dir, "secret");
      writeFileSync(secretFile, formatPairingSecret(drawPairingSecret()));
      const S = `s3://${srcBucket}`;
      const D = `s3://${dstBucket}`;
      const common = [...SIDES, "--chunk-size", "5MiB", "--secret-file", secretFile];
      const texts: string[] = [];
      const run = async (args: string[], expected: number) => {
        const report = join(dir, `report-${texts.length}.json`);
        const out = await runCli([...args, "--report", report], env);
        expect(out.code, `${args.join(" ")}\n${out.stderr}`).toBe(expected);
        texts.push(out.stdout, out.stderr, readFileSync(report, "utf8"));
      };
      for (const [i, algorithm] of DIGEST_ALGORITHMS.entries()) {
        const variant = i % 2 === 0 ? "encode" : "decode";
        await run(["check", S, D, ...common, "--algorithm", algorithm, "--variant", variant, "--json"], 1);
      }
      await run(["plan", S, D, ...common, "--variant", "decode"], 0);
      // Failures: part uploads refused without end, so errors name objects and operations.
      // (500s, not 503s: the SDK backs off from throttling for longer, and the output is the point here.)
      proxy.setRules([
        { name: "500 on every part", action: "internalError", method: "PUT", query: "uploadId=" },
      ]);
      await run(["sync", S, D, ...common, "--dst-endpoint", proxy.url], 2);
      proxy.setRules([]);
      await run(["sync", S, D, ...common, "--verify", "full", "--json"], 0);
      await run(["check", S, D, ...common, "--verify", "full"], 0);

      const haystack = texts.join("\n");
      // The scan sees the runs' output: the failures and per-object lines are in it.
      expect(haystack).toContain("multi.bin");
      expect(haystack).toMatch(/internal error/i);
      let scanned = 0;
      for (const o of Object.values(objects)) {
        for (const data of [o.source, o.destination]) {
          if (!data) continue;
          const plan = planChunks(data.length, C);
          const pieces = [
            data,
            ...chunkRanges(plan).map((r) => data.subarray(r.offset, r.offset + r.length)),
          ];
          for (const piece of pieces) {
            for (const algorithm of DIGEST_ALGORITHMS) {
              for (const encoded of encodings(digestOf(algorithm, piece))) {
                scanned++;
                expect(haystack, `${algorithm} digest as ${encoded}`).not.toContain(encoded);
              }
            }
          }
        }
      }
      expect(scanned).toBeGreaterThan(100);
    });
  });
});
