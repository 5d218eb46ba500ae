import type { S3ObjectStore } from "@chunksync/storage";
import { describe, expect, it } from "vitest";
import { flipByte, seededBytes } from "../support/data.js";
import type { SeenRequest } from "../support/faultProxy.js";
import { oldOrNew, pendingUploads, proxiedWorld } from "../support/faultWorld.js";
import type { CollectedReport } from "../support/results.js";
import { putObject } from "../support/s3.js";
import { syncWith, workflowWith } from "../support/stores.js";

const MiB = 1024 * 1024;

type Engine = (source: S3ObjectStore, destination: S3ObjectStore) => Promise<CollectedReport>;

const ENGINES: Record<string, Engine> = {
  direct: (source, destination) => syncWith(source, destination),
  workflow: (source, destination) => workflowWith(source, destination),
};

/**
 * A PutObject (If-None-Match: *) that the server stored but whose answer never arrived (the
 * connection reset after the server's reply): the retry is refused with 412, since the object
 * now exists. That object is the run's own write, not another writer's.
 */
describe("a new object's PutObject whose answer is lost", () => {
  const world = proxiedWorld();

  for (const [name, engine] of Object.entries(ENGINES)) {
    it(`${name}: the retry's 412 is recognised as the run's own write; nothing is reported changed`, async () => {
      const { src, dst, proxy } = world;
      const { srcBucket, dstBucket, source, destination } = await world.pair(`lost-${name}`);
      const versions = [
        // Read whole with its head and sent as a Buffer (the adapter resends it).
        { key: "small.txt", new: Buffer.from(`small object of ${name}`) },
        // Streamed from the source with its ETag as Content-MD5 (the engine repeats it).
        { key: "streamed.bin", new: seededBytes(`lost-${name}`, 6 * MiB) },
      ];
      for (const v of versions) await putObject(src, srcBucket, v.key, v.new);
      const isPut = (r: SeenRequest) =>
        r.method === "PUT" &&
        r.query === "" &&
        r.path.startsWith(`/${dstBucket}/`) &&
        r.headers["x-amz-copy-source"] === undefined;
      proxy.setRules([{ name: `lose-${name}`, action: "lose", when: (r) => isPut(r) && r.attempt === 1 }]);
      const report = await engine(source, destination);
      proxy.setRules([]);
      expect(proxy.firedCount(`lose-${name}`)).toBe(2);
      expect(report.results.map((r) => [r.sourceKey, r.state, r.applied, r.error]).sort()).toEqual([
        ["small.txt", "missing", true, undefined],
        ["streamed.bin", "missing", true, undefined],
      ]);
      expect(report.objects.failed).toBe(0);
      const state = await oldOrNew(dst, dstBucket, versions);
      expect(state.updated.sort()).toEqual(["small.txt", "streamed.bin"]);
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
    });
  }
});

/**
 * A CreateMultipartUpload the server carried out but whose answer never arrived: the retry
 * makes a second upload, and the first, whose id the run never learnt, must not be left behind.
 */
describe("a CreateMultipartUpload whose answer is lost", () => {
  const world = proxiedWorld();

  for (const [name, engine] of Object.entries(ENGINES)) {
    it(`${name}: the upload the lost answer named is aborted; the object is written`, async () => {
      const { src, dst, proxy } = world;
      const { srcBucket, dstBucket, source, destination } = await world.pair(`lostcreate-${name}`);
      const old = seededBytes(`lostcreate-${name}`, 11 * MiB);
      const versions = [{ key: "changed.bin", old, new: flipByte(old, 6 * MiB) }];
      await putObject(src, srcBucket, "changed.bin", versions[0]!.new);
      await putObject(dst, dstBucket, "changed.bin", old);
      const isCreate = (r: SeenRequest) => r.method === "POST" && r.query === "uploads=";
      proxy.setRules([{ name: `lose-${name}`, action: "lose", when: (r) => isCreate(r) && r.attempt === 1 }]);
      const report = await engine(source, destination);
      proxy.setRules([]);
      expect(proxy.firedCount(`lose-${name}`)).toBe(1);
      // The write's creates, before its completion: the lost one and its retry. No other: the
      // run keeps no destination index, so neither engine probes x-amz-copy-source-if-match.
      const onKey = proxy.seen.filter((r) => r.path === `/${dstBucket}/changed.bin`);
      const completed = onKey.findIndex((r) => r.method === "POST" && r.query.startsWith("uploadId="));
      expect(completed).toBeGreaterThan(0);
      expect(onKey.slice(0, completed).filter(isCreate)).toHaveLength(2);
      expect(onKey.filter(isCreate)).toHaveLength(2);
      expect(report.results.map((r) => [r.sourceKey, r.state, r.applied, r.error])).toEqual([
        ["changed.bin", "changed", true, undefined],
      ]);
      expect((await oldOrNew(dst, dstBucket, versions)).updated).toEqual(["changed.bin"]);
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
    });
  }
});
