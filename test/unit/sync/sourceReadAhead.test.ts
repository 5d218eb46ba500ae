import { randomBytes } from "node:crypto";
import { planChunks } from "@chunksync/core";
import { MemoryObjectStore } from "@chunksync/storage";
import { changedChunks, DestinationSide, exchange, Limiter, SourceSide } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { seededBytes } from "../../support/data.js";

const MiB = 1024 * 1024;
const CHUNK = 5 * MiB;
const old = seededBytes("ahead-old", 12 * MiB);
const next = Buffer.from(old);
seededBytes("ahead-edit", 1000).copy(next, 6 * MiB);
const plan = planChunks(next.length, CHUNK);
const secret = randomBytes(32);

/** A source holding `next` and a destination holding `old`, each side counting what it reads. */
async function sides() {
  const source = new MemoryObjectStore({ bucket: "s" });
  const destination = new MemoryObjectStore({ bucket: "d" });
  const put = (store: MemoryObjectStore, data: Buffer) =>
    store.put("k", data, data.length, { metadata: {} }, { ifNoneMatch: "*" });
  await put(source, next);
  const old_ = await put(destination, old);
  const limiter = new Limiter(8);
  let read = 0;
  const sourceSide = new SourceSide({
    store: source,
    secret,
    algorithm: "sha256",
    variant: "encode",
    limiter,
    onRead: (n) => {
      read += n;
    },
  });
  const destinationSide = new DestinationSide({ store: destination, secret, limiter });
  const dst = { key: "k", etag: old_.etag, size: old.length };
  return { source, sourceSide, destinationSide, dst, read: () => read };
}

describe("the source's first read and the reads of its other chunks (SourceSide.probe with the listed version)", () => {
  it("reads the other chunks while the first is still being read, and the challenge reads none of them again", async () => {
    const { source, sourceSide, destinationSide, dst, read } = await sides();
    const listed = await source.head("k");
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    let readsWhileFirstHeld = -1;
    source.beforeNext("readFirst", async () => {
      // Let the reads queued beside it start before the first read goes on.
      await new Promise((r) => setImmediate(r));
      readsWhileFirstHeld = source.calls("read");
      await held;
    });
    const probing = sourceSide.probe("k", CHUNK, listed);
    await new Promise((r) => setImmediate(r));
    release();
    const head = await probing;
    expect(readsWhileFirstHeld).toBe(plan.count - 1);
    const id = { bucket: "s", key: "k", etag: head!.etag };
    const all = Array.from({ length: plan.count }, (_, i) => i);
    const changed = changedChunks(await exchange(sourceSide, destinationSide, id, dst, plan, all));
    expect(changed).toEqual([1]);
    // Each chunk read once: the first by the probe, the others ahead of the challenge.
    expect(source.calls("read")).toBe(plan.count - 1);
    expect(read()).toBe(next.length);
    await sourceSide.forget("k");
  });

  it("drops what it read ahead of a version the listing named but the first read no longer finds, and challenges the version found", async () => {
    const { source, sourceSide, destinationSide, dst } = await sides();
    const listed = await source.head("k");
    // The source is rewritten (to the old bytes) between its listing and its first read.
    source.beforeNext("readFirst", async () => {
      await source.put("k", old, old.length, { metadata: {} }, { ifMatch: listed!.etag });
    });
    const head = await sourceSide.probe("k", CHUNK, listed);
    expect(head!.etag).not.toBe(listed!.etag);
    const id = { bucket: "s", key: "k", etag: head!.etag };
    const all = Array.from({ length: plan.count }, (_, i) => i);
    // The bytes now equal the destination's: nothing read ahead of the listed version counts.
    expect(changedChunks(await exchange(sourceSide, destinationSide, id, dst, plan, all))).toEqual([]);
  });

  it("settles its reads ahead before forgetting an object whose attempt ended before its challenge", async () => {
    const { source, sourceSide } = await sides();
    const listed = await source.head("k");
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    for (let i = 1; i < plan.count; i++) source.beforeNext("read", () => held);
    await sourceSide.probe("k", CHUNK, listed);
    let forgotten = false;
    const pending = sourceSide.forget("k");
    expect(pending).toBeDefined();
    const forgetting = Promise.resolve(pending).then(() => {
      forgotten = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(forgotten).toBe(false);
    release();
    await forgetting;
    expect(forgotten).toBe(true);
  });
});
