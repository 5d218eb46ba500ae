import { randomBytes } from "node:crypto";
import { chunkRange, digestOf, planChunks } from "@chunksync/core";
import { MemoryObjectStore, StorageUnavailableError } from "@chunksync/storage";
import {
  changedChunks,
  DestinationSide,
  type DigestSource,
  Limiter,
  ObjectChangedError,
  RangedReadDigests,
  SourceSide,
} from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { flipByte, seededBytes } from "../../support/data.js";

const MiB = 1024 * 1024;
const data = seededBytes("digest-source", 12 * MiB);
const plan = planChunks(data.length, 5 * MiB);
const ranges = [2, 0, 1].map((i) => chunkRange(plan, i));

async function storeWith(bytes: Buffer): Promise<{ store: MemoryObjectStore; etag: string }> {
  const store = new MemoryObjectStore({ bucket: "b" });
  const { etag } = await store.put("o", bytes, bytes.length, { metadata: {} }, { ifNoneMatch: "*" });
  return { store, etag };
}

describe("RangedReadDigests, the digest source of ranged reads", () => {
  it("digests each range of the pinned version, in the order asked, counting every byte read", async () => {
    const { store, etag } = await storeWith(data);
    let read = 0;
    const source = new RangedReadDigests({
      store,
      side: "source",
      limiter: new Limiter(2),
      onRead: (n) => {
        read += n;
      },
    });
    const got = await source.digests({ key: "o", etag }, ranges, "sha256");
    const expected = ranges.map((r) => digestOf("sha256", data.subarray(r.offset, r.offset + r.length)));
    expect(got).toEqual(expected);
    expect(read).toBe(data.length);
    expect(store.calls("read")).toBe(3);
  });

  it("repeats a read that broke, and reports a replaced version as changed on its side", async () => {
    const { store, etag } = await storeWith(data);
    const source = new RangedReadDigests({ store, side: "destination", limiter: new Limiter(1) });
    store.failNext("read", new StorageUnavailableError({ operation: "read", bucket: "b" }, "reset"));
    expect(await source.digests({ key: "o", etag }, ranges.slice(0, 1), "sha256")).toHaveLength(1);
    expect(store.calls("read")).toBe(2);

    await store.put("o", Buffer.from("new"), 3, { metadata: {} }, { ifMatch: etag });
    const stale = source.digests({ key: "o", etag }, ranges, "sha256");
    await expect(stale).rejects.toBeInstanceOf(ObjectChangedError);
    await expect(stale).rejects.toMatchObject({ code: "DESTINATION_CHANGED" });
  });

  it("is the port both sides read digests through: another source answers a challenge without a read", async () => {
    const { store: src, etag: srcEtag } = await storeWith(flipByte(data, 6 * MiB));
    const { store: dst, etag: dstEtag } = await storeWith(data);
    const secret = randomBytes(32);
    const limiter = new Limiter(2);
    /** Digests known ahead (as a persistent index would hold them), asked for by range. */
    const known = (bytes: Buffer): DigestSource & { asked: number } => ({
      asked: 0,
      async digests(_object, asked, algorithm) {
        this.asked += asked.length;
        return asked.map((r) => digestOf(algorithm, bytes.subarray(r.offset, r.offset + r.length)));
      },
    });
    const srcDigests = known(flipByte(data, 6 * MiB));
    const dstDigests = known(data);
    const sourceSide = new SourceSide({
      store: src,
      secret,
      algorithm: "sha256",
      variant: "encode",
      limiter,
      digests: srcDigests,
    });
    const destinationSide = new DestinationSide({ store: dst, secret, limiter, digests: dstDigests });
    const all = [0, 1, 2];
    const { request, expectation } = await sourceSide.challenge(
      { bucket: "b", key: "o", etag: srcEtag },
      { bucket: "b", key: "o", etag: dstEtag },
      plan,
      all,
    );
    const response = await destinationSide.answer(request, { key: "o", etag: dstEtag, size: data.length });
    expect(changedChunks({ request, expectation, response })).toEqual([1]);
    expect([srcDigests.asked, dstDigests.asked]).toEqual([3, 3]);
    expect([src.calls("read"), dst.calls("read")]).toEqual([0, 0]);
  });
});
