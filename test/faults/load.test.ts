import { readFileSync } from "node:fs";
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profileEnv, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import { scenario } from "../support/faultLedger.js";
import { pendingUploads, startCli } from "../support/faultWorld.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  putObject,
  readAll,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";

const MiB = 1024 * 1024;

/**
 * The issue asks for 20,000 small objects and 20 of 256 MiB at concurrency 16. On a 2-core
 * machine whose in-memory RGW other test runs share, the default suite runs a tenth of the
 * count and a quarter of the size (2,000 small + 4 x 64 MiB); CHUNKSYNC_LOAD=full runs the
 * issue's size. Both sides then hold over 12 GiB (old destination versions and copied parts
 * included), more than an in-memory RGW fits on a 24 GiB machine, so run it with the server's
 * objects on disk: `LOCAL_S3_STORE=disk CHUNKSYNC_LOAD=full npx vitest run test/faults/load.test.ts`.
 */
const FULL = process.env.CHUNKSYNC_LOAD === "full";
const SMALL = FULL ? 20_000 : 2_000;
const LARGE = FULL ? 20 : 4;
const LARGE_SIZE = (FULL ? 256 : 64) * MiB;
const CONCURRENCY = 16;
/** Peak RSS the CLI may reach: streaming keeps it to chunks in flight, not object or listing sizes. */
const RSS_LIMIT = 600 * MiB;

async function pool<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

const smallKey = (i: number) => `small/${String(Math.floor(i / 100)).padStart(3, "0")}/obj-${i}.txt`;
const smallData = (i: number) => seededBytes(`small-${i}`, 200 + (i % 3000));
const largeKey = (i: number) => `large/obj-${i}.bin`;
const largeData = (i: number) => seededBytes(`large-${i}`, LARGE_SIZE + i * 1000);

describe(`load: ${SMALL} small objects and ${LARGE} x ${LARGE_SIZE / MiB} MiB at concurrency ${CONCURRENCY}`, () => {
  let src: S3Client;
  let dst: S3Client;
  let srcBucket: string;
  let dstBucket: string;

  beforeAll(async () => {
    src = s3Client("source");
    dst = s3Client("destination");
    srcBucket = uniqueBucketName("src-load");
    dstBucket = uniqueBucketName("dst-load");
    await createBucket(src, srcBucket);
    await createBucket(dst, dstBucket);
    const small = Array.from({ length: SMALL }, (_, i) => i);
    await pool(small, 32, async (i) => {
      await putObject(src, srcBucket, smallKey(i), smallData(i));
      // Every tenth small object exists on the destination with other bytes.
      if (i % 10 === 0) await putObject(dst, dstBucket, smallKey(i), smallData(i + 1));
    });
    for (let i = 0; i < LARGE; i++) {
      const data = largeData(i);
      await putObject(src, srcBucket, largeKey(i), data);
      // Half the large objects exist with one changed byte: re-composed, one chunk crosses.
      if (i % 2 === 0)
        await putObject(dst, dstBucket, largeKey(i), flipByte(data, Math.floor(data.length / 2)));
    }
  }, 600_000);

  afterAll(async () => {
    await emptyAndDeleteBucket(src, srcBucket);
    await emptyAndDeleteBucket(dst, dstBucket);
  }, 600_000);

  it("completes, every object is equal afterwards, and the CLI's peak RSS stays bounded", {
    timeout: 900_000,
  }, async () => {
    await scenario("7 load", `${SMALL} small + ${LARGE} x ${LARGE_SIZE / MiB} MiB`, async () => {
      const started = Date.now();
      const cli = startCli(
        [
          "sync",
          `s3://${srcBucket}`,
          `s3://${dstBucket}`,
          ...SIDES,
          "--concurrency",
          String(CONCURRENCY),
          "--json",
        ],
        profileEnv(),
      );
      // VmHWM is the process's peak resident set so far; the last reading before exit is the peak.
      let peak = 0;
      const poll = setInterval(() => {
        try {
          const status = readFileSync(`/proc/${cli.pid}/status`, "utf8");
          const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
          peak = Math.max(peak, kib * 1024);
        } catch {
          // The process has exited.
        }
      }, 100);
      const out = await cli.done;
      clearInterval(poll);
      const seconds = (Date.now() - started) / 1000;
      expect(out.code, out.stderr).toBe(0);
      const summary = JSON.parse(out.stdout) as {
        objects: Record<string, number>;
        bytes: Record<string, number>;
      };
      console.log(
        `load: ${SMALL} small + ${LARGE} x ${LARGE_SIZE / MiB} MiB in ${seconds.toFixed(1)} s, ` +
          `peak RSS ${(peak / MiB).toFixed(0)} MiB, ${JSON.stringify(summary.objects)}`,
      );
      expect(summary.objects.scanned).toBe(SMALL + LARGE);
      expect(summary.objects.failed).toBe(0);
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThan(RSS_LIMIT);

      let lost = 0;
      const unequal: string[] = [];
      await pool(
        Array.from({ length: SMALL }, (_, i) => i),
        16,
        async (i) => {
          const want = smallData(i);
          if (!(await readAll(dst, dstBucket, smallKey(i))).equals(want)) {
            unequal.push(smallKey(i));
            lost += want.length;
          }
        },
      );
      for (let i = 0; i < LARGE; i++) {
        const want = largeData(i);
        if (!(await readAll(dst, dstBucket, largeKey(i))).equals(want)) {
          unequal.push(largeKey(i));
          lost += want.length;
        }
      }
      expect(unequal).toEqual([]);
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
      return { bytesLost: lost };
    });
  });
});
