import type { S3ObjectStore } from "@chunksync/storage";
import type { SyncOptions } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { flipByte, seededBytes } from "../support/data.js";
import type { FaultRule, SeenRequest } from "../support/faultProxy.js";
import { oldOrNew, pendingUploads, proxiedWorld, type Versions } from "../support/faultWorld.js";
import { putMultipart } from "../support/multipart.js";
import type { CollectedReport } from "../support/results.js";
import { putObject } from "../support/s3.js";
import { syncWith, workflowWith } from "../support/stores.js";

const MiB = 1024 * 1024;
const C = 5 * MiB;

type Engine = (
  source: S3ObjectStore,
  destination: S3ObjectStore,
  verify: SyncOptions["verify"],
) => Promise<CollectedReport>;

const ENGINES: Record<string, Engine> = {
  direct: (source, destination, verify) => syncWith(source, destination, { verify }),
  workflow: (source, destination, verify) => workflowWith(source, destination, { verify }),
};

/**
 * New objects: one written by PutObject (its ETag its MD5: streamed into one PutObject), one
 * written by multipart upload (its ETag no MD5: streamed into one PutObject in signed chunks), a
 * small one (one PutObject); and a changed one (one chunk re-sent).
 */
function objects(seed: string): (Versions & { multipart?: true })[] {
  const old = seededBytes(`${seed}-old`, 2 * C);
  return [
    { key: "new/big.bin", new: seededBytes(`${seed}-big`, 2 * C + 100) },
    { key: "new/parts.bin", new: seededBytes(`${seed}-parts`, 2 * C + 100), multipart: true },
    { key: "new/small.txt", new: seededBytes(`${seed}-small`, 3000) },
    { key: "changed.bin", old, new: flipByte(old, C + 7) },
  ];
}

/** A body that crosses from this process into the destination bucket: PutObject or UploadPart, not a copy. */
const bodyInto = (bucket: string) => (r: SeenRequest) =>
  r.method === "PUT" && r.path.startsWith(`/${bucket}/`) && r.headers["x-amz-copy-source"] === undefined;

/**
 * One bit of a body inverted on its way into the destination, for both engines: every body
 * carries the Content-MD5 of the bytes read for it (a streamed one, the source's ETag) or is sent
 * in chunks signed by their SHA-256, so the server refuses an altered one and nothing altered is
 * ever stored or reported identical.
 */
describe("a bit flipped in flight on the engine's writes", () => {
  const proxied = proxiedWorld();

  async function world(seed: string) {
    const { src, dst } = proxied;
    const { srcBucket, dstBucket, source, destination } = await proxied.pair(seed);
    const versions = objects(seed);
    for (const v of versions) {
      if (v.multipart)
        await putMultipart(src, srcBucket, v.key, v.new.length, C, (at, n) => v.new.subarray(at, at + n));
      else await putObject(src, srcBucket, v.key, v.new);
      if (v.old) await putObject(dst, dstBucket, v.key, v.old);
    }
    return { dstBucket, versions, source, destination };
  }

  for (const [name, engine] of Object.entries(ENGINES)) {
    it(`${name}: the first attempt of every body is flipped and refused; each is sent again and the run ends byte-equal`, async () => {
      const { dst, proxy } = proxied;
      const { dstBucket, versions, source, destination } = await world(`flip1-${name}`);
      const into = bodyInto(dstBucket);
      proxy.setRules([{ name: `flip-${name}`, action: "flipBit", when: (r) => into(r) && r.attempt === 1 }]);
      const report = await engine(source, destination, "changed");
      proxy.setRules([]);
      // The streamed PutObject, the multipart-written object's PutObject in signed chunks, the
      // small one's PutObject, the changed chunk's part.
      expect(proxy.firedCount(`flip-${name}`)).toBe(4);
      for (const key of ["new/big.bin", "new/parts.bin"]) {
        const streamed = proxy.seen.filter((r) => into(r) && r.path === `/${dstBucket}/${key}`);
        expect(
          streamed.map((r) => r.attempt),
          key,
        ).toEqual([1, 2]);
      }
      // Refused for a chunk's signature, it is sent again with the MD5 read for it: an altered
      // chunk and a server that does not check signed chunks look alike.
      const signed = proxy.seen.filter((r) => into(r) && r.path === `/${dstBucket}/new/parts.bin`);
      expect(signed.map((r) => r.headers["x-amz-content-sha256"])).toEqual([
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "UNSIGNED-PAYLOAD",
      ]);
      expect(signed[1]?.headers["content-md5"]).toBeDefined();
      // The changed chunk is an assembled part (its old bytes and the one block that crossed),
      // refused like the others and sent again: the digest kept for it is of the bytes stored.
      const changed = report.results.find((r) => r.sourceKey === "changed.bin");
      expect(changed?.planned.transfer).toBeLessThan(C / 4);
      const assembled = proxy.seen.filter((r) => into(r) && r.path === `/${dstBucket}/changed.bin`);
      expect(assembled.map((r) => r.attempt)).toEqual([1, 2]);
      const states = Object.fromEntries(report.results.map((r) => [r.sourceKey, [r.state, r.applied]]));
      expect(states).toEqual({
        "new/big.bin": ["missing", true],
        "new/parts.bin": ["missing", true],
        "new/small.txt": ["missing", true],
        "changed.bin": ["changed", true],
      });
      expect(report.objects).toMatchObject({ identical: 0, failed: 0 });
      expect(await oldOrNew(dst, dstBucket, versions)).toMatchObject({ mixed: [], kept: [] });
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
    });

    /**
     * Syncs a world through `rule` (on the streamed object `new/big.bin`, once) and checks the
     * object ends written and byte-equal, with no failure and no upload left; gives back the
     * PUTs of that object as the proxy saw them.
     */
    async function streamedThrough(seed: string, rule: (dstBucket: string, key: string) => FaultRule) {
      const { dst, proxy } = proxied;
      const { dstBucket, versions, source, destination } = await world(`${seed}-${name}`);
      const key = "new/big.bin";
      const faulted = { ...rule(dstBucket, key), name: `${seed}-${name}`, times: 1 };
      proxy.setRules([faulted]);
      const report = await engine(source, destination, "changed");
      proxy.setRules([]);
      expect(proxy.firedCount(faulted.name)).toBe(1);
      expect(report.results.find((r) => r.sourceKey === key)).toMatchObject({
        state: "missing",
        applied: true,
      });
      expect(report.objects).toMatchObject({ failed: 0 });
      expect(await oldOrNew(dst, dstBucket, versions)).toMatchObject({ mixed: [], kept: [] });
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
      return proxy.seen.filter((r) => bodyInto(dstBucket)(r) && r.path === `/${dstBucket}/${key}`);
    }

    it(`${name}: a source read cut mid-way under a streamed PutObject is read again on its own before its bytes are sent: the put goes once, byte-equal`, async () => {
      const puts = await streamedThrough("cut", (dstBucket, key) => ({
        name: "",
        action: "truncate",
        method: "GET",
        when: (r) => r.path.endsWith(`/${key}`) && !r.path.startsWith(`/${dstBucket}/`),
      }));
      // The object is read in halves of a chunk's buffer, each read whole before it is sent.
      expect(puts.map((r) => r.attempt)).toEqual([1]);
    });

    it(`${name}: a streamed PutObject whose connection breaks mid-body is sent again whole, its buffer's halves read afresh: byte-equal`, async () => {
      const puts = await streamedThrough("reset", (dstBucket, key) => ({
        name: "",
        action: "reset",
        when: (r) => bodyInto(dstBucket)(r) && r.query === "" && r.path === `/${dstBucket}/${key}`,
      }));
      expect(puts.map((r) => r.attempt)).toEqual([1, 2]);
    });

    it(`${name}: a server without signed chunks (501): the object whose ETag is no MD5 is read for its MD5 and sent with it, byte-equal`, async () => {
      const { dst, proxy } = proxied;
      const { dstBucket, versions, source, destination } = await world(`nochunks-${name}`);
      const rule = `no-signed-chunks-${name}`;
      proxy.setRules([
        {
          name: rule,
          action: "signedChunksNotImplemented",
          when: (r) =>
            bodyInto(dstBucket)(r) &&
            r.headers["x-amz-content-sha256"] === "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        },
      ]);
      const report = await engine(source, destination, "changed");
      proxy.setRules([]);
      expect(proxy.firedCount(rule)).toBe(1);
      expect(report.objects).toMatchObject({ identical: 0, failed: 0 });
      expect(await oldOrNew(dst, dstBucket, versions)).toMatchObject({ mixed: [], kept: [] });
      const puts = proxy.seen.filter(
        (r) => bodyInto(dstBucket)(r) && r.path === `/${dstBucket}/new/parts.bin`,
      );
      expect(
        puts.map((r) => [r.headers["x-amz-content-sha256"], r.headers["content-md5"] !== undefined]),
      ).toEqual([
        ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD", false],
        ["UNSIGNED-PAYLOAD", true],
      ]);
    });

    it(`${name}: with every attempt flipped the writes fail with BAD_DIGEST, the old destination stays and no upload is left`, async () => {
      const { dst, proxy } = proxied;
      const { dstBucket, versions, source, destination } = await world(`flipall-${name}`);
      proxy.setRules([{ name: `flip-all-${name}`, action: "flipBit", when: bodyInto(dstBucket) }]);
      const report = await engine(source, destination, "changed");
      proxy.setRules([]);
      expect(proxy.firedCount(`flip-all-${name}`)).toBeGreaterThanOrEqual(3);
      for (const r of report.results) {
        expect(r, r.sourceKey).toMatchObject({
          state: "failed",
          applied: false,
          error: { code: "BAD_DIGEST" },
        });
      }
      expect(report.objects).toMatchObject({ identical: 0, failed: 4 });
      // Nothing written: the new keys are still absent and the changed one holds its old bytes.
      const after = await oldOrNew(dst, dstBucket, versions);
      expect(after.kept.sort()).toEqual(versions.map((v) => v.key).sort());
      expect(await pendingUploads(dst, dstBucket)).toEqual([]);
    });
  }
});
