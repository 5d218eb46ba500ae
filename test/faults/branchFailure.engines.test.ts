import type { S3ObjectStore } from "@chunksync/storage";
import { describe, expect, it } from "vitest";
import { seededBytes } from "../support/data.js";
import type { SeenRequest } from "../support/faultProxy.js";
import { oldOrNew, pendingUploads, proxiedWorld } from "../support/faultWorld.js";
import type { CollectedReport } from "../support/results.js";
import { putObject } from "../support/s3.js";
import { syncWith, workflowWith } from "../support/stores.js";

const MiB = 1024 * 1024;
const C = 5 * MiB;

interface Engine {
  run: (source: S3ObjectStore, destination: S3ObjectStore) => Promise<CollectedReport>;
  /**
   * Whether the block round's read of the old object may race the upload's creation: the
   * direct engine creates the upload as the block round starts (see `writeEarly`), the
   * workflow once its block steps are done.
   */
  racesCreate: boolean;
}

const ENGINES: Record<string, Engine> = {
  direct: { run: (source, destination) => syncWith(source, destination), racesCreate: true },
  workflow: { run: (source, destination) => workflowWith(source, destination), racesCreate: false },
};

/**
 * A changed object whose unchanged chunks are copied while the rest is built: the copies run
 * beside the assembled part (in the direct engine from the block rounds on, see
 * `writeEarly`). Once its upload exists, every ranged read of the old object breaks, for good:
 * the branch that reads old bytes fails while the copies run, and the upload must be aborted
 * with the old object left as it was. Where the block round's read of the old object races the
 * creation, it is held until the upload exists, then broken too: otherwise, read first, its
 * bytes would serve the assembled part and no branch would fail. (The memory stores' parity
 * test fails a block round itself beside the copies.)
 */
describe("a branch that fails while the unchanged chunks are copied", () => {
  const world = proxiedWorld();

  for (const [name, engine] of Object.entries(ENGINES)) {
    it(`${name}: the object fails, its upload is aborted and the old object stays whole`, async () => {
      const { src, dst, proxy } = world;
      const { srcBucket, dstBucket, source, destination } = await world.pair(`branch-${name}`);
      const old = seededBytes(`branch-old-${name}`, 4 * C);
      // 1 MiB of new bytes inside chunk 2: blocks pay; chunks 0-1 and 3 are copied.
      const next = Buffer.from(old);
      seededBytes(`branch-edit-${name}`, MiB).copy(next, 2 * C + MiB);
      const key = "changed.bin";
      await putObject(src, srcBucket, key, next);
      await putObject(dst, dstBucket, key, old);
      const path = `/${dstBucket}/${key}`;
      let created = false;
      let create!: () => void;
      const creation = new Promise<void>((resolve) => {
        create = resolve;
      });
      // The probe reads each chunk once; a range read again is the block round's.
      const oldRead = (r: SeenRequest) =>
        (created || (engine.racesCreate && r.attempt > 1)) &&
        r.method === "GET" &&
        r.path === path &&
        !!r.headers.range;
      proxy.setRules([
        {
          name: `created-${name}`,
          action: "hook",
          method: "POST",
          path,
          query: "uploads",
          hook: () => {
            created = true;
            create();
          },
        },
        { name: `broken-${name}`, action: "reset", when: oldRead, hook: () => creation },
      ]);
      const report = await engine.run(source, destination);
      proxy.setRules([]);
      expect(proxy.firedCount(`broken-${name}`)).toBeGreaterThan(0);
      const into = proxy.seen.filter((r) => r.path === path && r.method !== "GET" && r.method !== "HEAD");
      expect(into.some((r) => r.headers["x-amz-copy-source"] !== undefined)).toBe(true);
      expect(into.some((r) => r.method === "DELETE" && r.query.includes("uploadId="))).toBe(true);
      expect(into.some((r) => r.method === "POST" && r.query.includes("uploadId="))).toBe(false);
      expect(report.results.map((r) => [r.sourceKey, r.state])).toEqual([[key, "failed"]]);
      expect(await oldOrNew(dst, dstBucket, [{ key, old, new: next }])).toMatchObject({
        kept: [key],
        mixed: [],
      });
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
    });
  }
});
