import { randomBytes } from "node:crypto";
import { type ObjectResult, RunStats } from "@chunksync/sync";
import { syncWithWorkflow } from "@chunksync/workflow";
import { describe, expect, it } from "vitest";
import { flipByte, seededBytes } from "../support/data.js";
import { type BucketPair, putObject, withBucketPair } from "../support/s3.js";
import { storeFor, syncWith } from "../support/stores.js";

const MiB = 1024 * 1024;

/** Three source objects (identical, changed in one 5 MiB chunk, missing) and two destination-only ones. */
async function fill({ src, dst, s, d }: BucketPair): Promise<void> {
  const same = seededBytes("same", 6 * MiB);
  await putObject(src, s, "same", same);
  await putObject(dst, d, "same", same);
  const changed = seededBytes("changed", 11 * MiB);
  await putObject(src, s, "changed", changed);
  await putObject(dst, d, "changed", flipByte(changed, 7 * MiB));
  await putObject(src, s, "new", seededBytes("new", 2 * MiB));
  await putObject(dst, d, "extra-1", "x");
  await putObject(dst, d, "extra-2", "y");
}

describe("RunStats as runSync feeds it (what a progress display reads)", () => {
  for (const [dryRun, blocks] of [
    [false, false],
    [true, false],
    [false, true],
  ] as const) {
    it(`${dryRun ? "dry run" : blocks ? "sync with blocks" : "sync"}: the listing is complete before the first object settles, and the work done meets the work planned`, async () => {
      await withBucketPair("stats", async ({ src, dst, s, d }) => {
        await fill({ src, dst, s, d });

        const stats = new RunStats();
        const seen: { listed: boolean; scanned: number; destinationOnly: number }[] = [];
        const report = await syncWith(await storeFor("source", s), await storeFor("destination", d), {
          stats,
          dryRun,
          blocks,
          // One object at a time: without reading the listing ahead, its end would be
          // reached only as the last source object starts.
          concurrency: 1,
          onResult: () => {
            seen.push({
              listed: stats.listed,
              scanned: stats.objects.scanned,
              destinationOnly: stats.destinationOnly,
            });
          },
        });
        expect(report.objects).toMatchObject({ scanned: 3, identical: 1, changed: 1, missing: 1, extra: 2 });
        expect(seen[0]).toEqual({ listed: true, scanned: 3, destinationOnly: 2 });
        expect(stats.done).toBe(5);
        expect(stats.destinationListed).toBe(4);
        // Each pair digested on both sides (17 MiB each); a sync also writes what crossed: the
        // new object (2 MiB sent) and the changed chunk (5 MiB sent, 6 MiB copied server-side).
        // Their verification reads nothing more: each side digested what it sent as it sent it,
        // and the destination checked each body against its Content-MD5.
        const digest = 2 * 17 * MiB;
        const writes = 2 * MiB + 11 * MiB;
        // With blocks the changed chunk is cut on both sides and its part built from the
        // destination's own bytes: the work differs, but is planned before it is done all the same.
        if (!blocks) expect(stats.plannedWork).toBe(dryRun ? digest : digest + writes);
        expect(stats.workDone).toBe(stats.plannedWork);
      });
    });
  }
});

describe("RunStats as the workflow engine feeds it", () => {
  it("counts what each step read and wrote, and hands over each object's result once", async () => {
    await withBucketPair("stats-wf", async (pair) => {
      await fill(pair);
      const stats = new RunStats();
      const settled: ObjectResult[] = [];
      const report = await syncWithWorkflow({
        source: await storeFor("source", pair.s),
        sourcePrefix: "",
        destination: await storeFor("destination", pair.d),
        destinationPrefix: "",
        secret: randomBytes(32),
        algorithm: "sha256",
        variant: "encode",
        chunkSize: 5 * MiB,
        verify: "changed",
        concurrency: 2,
        filters: [],
        delete: true,
        stats,
        onResult: (r) => {
          settled.push(r);
        },
      });
      // Each object once: the source's as they settle, then the destination-only ones from the report.
      expect(
        settled
          .slice(0, 3)
          .map((r) => `${r.destinationKey} ${r.state}`)
          .sort(),
      ).toEqual(["changed changed", "new missing", "same identical"]);
      expect(
        settled
          .slice(3)
          .map((r) => `${r.destinationKey} ${r.state} ${r.action} ${r.applied}`)
          .sort(),
      ).toEqual(["extra-1 extra delete true", "extra-2 extra delete true"]);
      expect(stats.objects).toMatchObject({ scanned: 3, identical: 1, changed: 1, missing: 1, extra: 2 });
      expect(stats.destinationOnly).toBe(2);
      expect(stats.done).toBe(5);
      expect(stats.sourceBytesScanned).toBe(19 * MiB);
      expect(stats.bytes).toEqual(report.bytes);
      expect(report.objects.deleted).toBe(2);
    });
  });
});
