import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import { scenario } from "../support/faultLedger.js";
import { FaultProxy, type SeenRequest } from "../support/faultProxy.js";
import { oldOrNew, pendingUploads, storeVia, type Versions } from "../support/faultWorld.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  localS3,
  putObject,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";
import { syncWith } from "../support/stores.js";

const CATEGORY = "1 network faults";
const MiB = 1024 * 1024;
const C = 5 * MiB;

/** New objects (absent on the destination), changed ones (re-composed) and small ones (one PutObject). */
function objects(seed: string): Versions[] {
  const a = seededBytes(`${seed}-a`, 4 * C);
  const b = seededBytes(`${seed}-b`, 3 * C);
  return [
    { key: "new/big.bin", new: seededBytes(`${seed}-big`, 3 * C + 100) },
    { key: "changed/a.bin", old: a, new: flipByte(flipByte(a, C + 3), 3 * C + 9) },
    { key: "changed/b.bin", old: b, new: flipByte(b, 17) },
    { key: "changed/tail.bin", old: b, new: Buffer.concat([b, seededBytes(`${seed}-tail`, MiB)]) },
    ...Array.from({ length: 5 }, (_, i) => ({
      key: `new/small-${i}.txt`,
      new: seededBytes(`${seed}-s${i}`, 10_000 + i),
    })),
    { key: "changed/small.txt", old: seededBytes(`${seed}-o`, 4000), new: seededBytes(`${seed}-n`, 4000) },
  ];
}

describe("network faults between chunksync and both sides", () => {
  let src: S3Client;
  let dst: S3Client;
  const buckets: [S3Client, string][] = [];
  const proxies: FaultProxy[] = [];

  async function world(seed: string) {
    const srcBucket = uniqueBucketName(`src-${seed}`);
    const dstBucket = uniqueBucketName(`dst-${seed}`);
    await createBucket(src, srcBucket);
    await createBucket(dst, dstBucket);
    buckets.push([src, srcBucket], [dst, dstBucket]);
    const versions = objects(seed);
    for (const v of versions) {
      await putObject(src, srcBucket, v.key, v.new);
      if (v.old) await putObject(dst, dstBucket, v.key, v.old);
    }
    return { srcBucket, dstBucket, versions };
  }

  async function proxy() {
    const p = await FaultProxy.start({ upstream: localS3().endpoint, seed: 7 });
    proxies.push(p);
    return p;
  }

  beforeAll(() => {
    src = s3Client("source");
    dst = s3Client("destination");
  });

  afterAll(async () => {
    for (const p of proxies) await p.stop();
    for (const [client, bucket] of buckets) await emptyAndDeleteBucket(client, bucket);
  });

  it("retries through delays, 503 SlowDown, 500s, resets mid-body and truncated bodies, and ends byte-equal", async () => {
    await scenario(CATEGORY, "transient faults on both sides", async () => {
      const { srcBucket, dstBucket, versions } = await world("flaky");
      const srcProxy = await proxy();
      // Every request is faulted at most on its first attempt (a part upload: its first two,
      // one from each side), and each kind of fault hits about half of the requests it can:
      // within the SDK's 6 attempts and the engine's 4 per streamed step, so the run must finish.
      const first = (r: SeenRequest) => r.attempt === 1;
      srcProxy.setRules([
        {
          name: "src: reset ranged GET",
          action: "reset",
          ranged: true,
          when: (r) => first(r) && r.parity === 0,
        },
        {
          name: "src: truncate ranged GET",
          action: "truncate",
          ranged: true,
          when: (r) => first(r) && r.parity === 1,
        },
        // Every first HEAD: the direct engine heads only objects the GET that reads a small
        // new object whole cannot stand in for.
        { name: "src: 503 on HEAD", action: "slowDown", method: "HEAD", when: first },
        { name: "src: delay", action: "delay", probability: 0.2, delayMs: 150 },
      ]);
      const dstProxy = await proxy();
      const part = (r: SeenRequest) => r.method === "PUT" && r.query.includes("uploadId=");
      dstProxy.setRules([
        {
          name: "dst: 503 on part PUT",
          action: "slowDown",
          when: (r) => part(r) && first(r) && r.parity === 0,
        },
        {
          name: "dst: reset mid part body",
          action: "reset",
          copy: false,
          when: (r) => part(r) && first(r) && r.parity === 1,
        },
        {
          name: "dst: 500 on UploadPartCopy",
          action: "internalError",
          copy: true,
          when: (r) => part(r) && first(r),
        },
        {
          name: "dst: 500 on complete",
          action: "internalError",
          method: "POST",
          query: "uploadId=",
          when: first,
        },
        {
          name: "dst: reset ranged GET",
          action: "reset",
          ranged: true,
          when: (r) => first(r) && r.parity === 0,
        },
        {
          name: "dst: truncate ranged GET",
          action: "truncate",
          ranged: true,
          when: (r) => first(r) && r.parity === 1,
        },
        // Non-streamed requests only: the SDK repeats those itself.
        {
          name: "dst: 500 anywhere else",
          action: "internalError",
          when: (r) => !part(r) && r.headers.range === undefined,
          probability: 0.05,
        },
        { name: "dst: delay", action: "delay", probability: 0.2, delayMs: 150 },
      ]);
      const report = await syncWith(
        await storeVia("source", srcBucket, srcProxy.url),
        await storeVia("destination", dstBucket, dstProxy.url),
      );
      const failures = report.results
        .filter((r) => r.error)
        .map((r) => `${r.sourceKey}: ${r.error?.message}`);
      const state = await oldOrNew(dst, dstBucket, versions);
      const leftover = await pendingUploads(dst, dstBucket);
      expect(failures).toEqual([]);
      expect(state.mixed).toEqual([]);
      expect(state.updated.sort()).toEqual(versions.map((v) => v.key).sort());
      expect(leftover).toEqual([]);
      // Every kind of fault really happened, so the run really survived each one.
      for (const p of [srcProxy, dstProxy]) {
        for (const [name] of p.matched) expect(p.firedCount(name), name).toBeGreaterThan(0);
      }
      return { bytesLost: state.bytesLost };
    });
  });

  // The SDK backs off from 503 SlowDown for up to 20 s a retry: giving up takes a while by design.
  it("with faults that never stop it fails clearly; each object is old or new; no upload is left behind", {
    timeout: 180_000,
  }, async () => {
    await scenario(CATEGORY, "permanent faults on part uploads (CLI)", async () => {
      const { srcBucket, dstBucket, versions } = await world("forever");
      const dstProxy = await proxy();
      dstProxy.setRules([
        // Never stops: no `times`, probability 1.
        {
          name: "dst: 503 on every UploadPart",
          action: "slowDown",
          method: "PUT",
          query: "uploadId=",
          copy: false,
        },
        {
          name: "dst: 500 on every UploadPartCopy",
          action: "internalError",
          method: "PUT",
          query: "uploadId=",
          copy: true,
        },
      ]);
      const cli = await runCli(
        [
          "sync",
          `s3://${srcBucket}`,
          `s3://${dstBucket}`,
          ...SIDES,
          "--dst-endpoint",
          dstProxy.url,
          "--chunk-size",
          "5MiB",
          "--json",
        ],
        profileEnv(),
      );
      expect(cli.code, cli.stderr).toBe(2);
      const summary = JSON.parse(cli.stdout) as {
        failures: { key: string; code: string; message: string }[];
      };
      const failedKeys = summary.failures.map((f) => f.key).sort();
      // Multipart writes failed (a replacement is always multipart: see syncObject's write);
      // new objects whose ETag is their MD5 are one PutObject each (a small one, or a larger one
      // streamed) and went through.
      expect(failedKeys).toEqual(["changed/a.bin", "changed/b.bin", "changed/small.txt", "changed/tail.bin"]);
      for (const f of summary.failures) {
        expect(["SLOW_DOWN", "STORAGE_UNAVAILABLE"]).toContain(f.code);
        // Names the operation, the object and what happened.
        expect(f.message).toMatch(/upload part/);
        expect(f.message).toContain(`s3://${dstBucket}/${f.key}`);
        expect(f.message).toMatch(/503 SlowDown|throttl|internal error|InternalError/i);
      }
      const state = await oldOrNew(dst, dstBucket, versions);
      expect(state.mixed).toEqual([]);
      expect(state.kept.sort()).toEqual(failedKeys);
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
      return { bytesLost: state.bytesLost };
    });
  });

  it("a source whose reads are always cut mid-body: every object fails with a clear error, none hangs or half-writes", async () => {
    await scenario(CATEGORY, "permanent resets of source reads (engine)", async () => {
      const { srcBucket, dstBucket, versions } = await world("cut");
      const srcProxy = await proxy();
      srcProxy.setRules([
        { name: "src: reset every ranged GET", action: "reset", method: "GET", ranged: true },
      ]);
      const report = await syncWith(
        await storeVia("source", srcBucket, srcProxy.url),
        await storeVia("destination", dstBucket, localS3().endpoint),
      );
      const failed = report.results.filter((r) => r.error);
      expect(failed.map((r) => r.sourceKey).sort()).toEqual(versions.map((v) => v.key).sort());
      for (const r of failed) {
        expect(r.error?.code).toBe("STORAGE_UNAVAILABLE");
        // Cut inside the body (the engine's check) or, for a small body, as the response arrives (the SDK's).
        expect(r.error?.message).toContain(`read s3://${srcBucket}/${r.sourceKey}: `);
        expect(r.error?.message).toMatch(/the connection broke mid-body|ECONNRESET/);
      }
      const state = await oldOrNew(dst, dstBucket, versions);
      expect(state.mixed).toEqual([]);
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
      return { bytesLost: state.bytesLost };
    });
  });
});
