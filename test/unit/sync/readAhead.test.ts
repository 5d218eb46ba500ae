import { randomBytes } from "node:crypto";
import { planChunks } from "@chunksync/core";
import { MemoryObjectStore } from "@chunksync/storage";
import { changedChunks, DestinationSide, exchange, Limiter, SourceSide } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { seededBytes } from "../../support/data.js";
import { gate } from "../../support/gate.js";

const MiB = 1024 * 1024;
const CHUNK = 5 * MiB;
const old = seededBytes("ahead-old", 12 * MiB);
const next = Buffer.from(old);
seededBytes("ahead-edit", 1000).copy(next, 6 * MiB);
const plan = planChunks(next.length, CHUNK);
const secret = randomBytes(32);

/**
 * A source holding `next` and a destination holding `old`, each side counting what it reads;
 * `readsAhead`: the destination reads ahead, as where the challenge follows in one process.
 */
async function sides(readsAhead = false) {
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
  let destinationRead = 0;
  const destinationSide = new DestinationSide({
    store: destination,
    secret,
    limiter,
    readsAhead,
    onRead: (n) => {
      destinationRead += n;
    },
  });
  const dst = { key: "k", etag: old_.etag, size: old.length };
  return {
    source,
    destination,
    sourceSide,
    destinationSide,
    dst,
    read: () => read,
    destinationRead: () => destinationRead,
  };
}

/**
 * Holds the reads of every chunk after the first of `store`'s object, `probe`s it, then `forget`s
 * it: the forgetting settles only once those reads have.
 */
async function settlesBeforeForgetting(
  store: MemoryObjectStore,
  probe: () => Promise<unknown>,
  forget: () => Promise<void> | undefined,
) {
  const { held, release } = gate();
  for (let i = 1; i < plan.count; i++) store.beforeNext("read", () => held);
  await probe();
  let forgotten = false;
  const pending = forget();
  expect(pending).toBeDefined();
  const forgetting = Promise.resolve(pending).then(() => {
    forgotten = true;
  });
  await new Promise((r) => setImmediate(r));
  expect(forgotten).toBe(false);
  release();
  await forgetting;
  expect(forgotten).toBe(true);
}

describe("the source's first read and the reads of its other chunks (SourceSide.probe with the listed version)", () => {
  it("reads the other chunks while the first is still being read, and the challenge reads none of them again", async () => {
    const { source, sourceSide, destinationSide, dst, read } = await sides();
    const listed = await source.head("k");
    const { held, release } = gate();
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

  it("answers a challenge of its first chunks while a later chunk is still being read, and reads none of them again", async () => {
    const { source, sourceSide, destinationSide, dst, read } = await sides();
    const listed = await source.head("k");
    const { held, release } = gate();
    // The reads ahead start in order: chunk 1's goes on, chunk 2's waits.
    source.beforeNext("read", () => {});
    source.beforeNext("read", () => held);
    const head = await sourceSide.probe("k", CHUNK, listed);
    const id = { bucket: "s", key: "k", etag: head!.etag };
    // With chunk 2 still held, a challenge of chunks 0 and 1 is answered (it would wait forever
    // for the object's every read).
    const first = changedChunks(await exchange(sourceSide, destinationSide, id, dst, plan, [0, 1]));
    expect(first).toEqual([1]);
    release();
    const last = changedChunks(await exchange(sourceSide, destinationSide, id, dst, plan, [2]));
    expect(last).toEqual([]);
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
    await settlesBeforeForgetting(
      source,
      () => sourceSide.probe("k", CHUNK, listed),
      () => sourceSide.forget("k"),
    );
  });
});

describe("the destination's first read and the reads of its other chunks (DestinationSide.probe with the listed version)", () => {
  const all = Array.from({ length: plan.count }, (_, i) => i);

  it("where it reads ahead, reads the other chunks beside the source's reads, and the challenge reads none of them again", async () => {
    const { source, destination, sourceSide, destinationSide, dst, destinationRead } = await sides(true);
    const listed = await source.head("k");
    const listedDestination = await destination.head("k");
    // The source's reads of its other chunks wait until the destination's have started: without
    // reads ahead the destination reads only once the source's digests are all in.
    const { held: sourceHeld, release } = gate();
    for (let i = 1; i < plan.count; i++) source.beforeNext("read", () => sourceHeld);
    const head = await sourceSide.probe("k", CHUNK, listed);
    await destinationSide.probe("k", CHUNK, "sha256", listedDestination);
    await new Promise((r) => setImmediate(r));
    expect(destination.calls("read")).toBe(plan.count - 1);
    release();
    const id = { bucket: "s", key: "k", etag: head!.etag };
    expect(changedChunks(await exchange(sourceSide, destinationSide, id, dst, plan, all))).toEqual([1]);
    // Each chunk read once: the first by the probe, the others ahead of the challenge.
    expect(destination.calls("read")).toBe(plan.count - 1);
    expect(destinationRead()).toBe(old.length);
    expect(destinationSide.forget("k")).toBeUndefined();
    await sourceSide.forget("k");
  });

  it("reads only its first chunk where it does not read ahead (a workflow step that heads the object)", async () => {
    const { destination, destinationSide } = await sides(false);
    await destinationSide.probe("k", CHUNK, "sha256", await destination.head("k"));
    await new Promise((r) => setImmediate(r));
    expect(destination.calls("read")).toBe(0);
    expect(destinationSide.forget("k")).toBeUndefined();
  });

  it("drops what it read ahead of a version the listing named but the first read no longer finds, and answers for the version found", async () => {
    const { source, destination, sourceSide, destinationSide } = await sides(true);
    const listedDestination = await destination.head("k");
    // The destination is rewritten (to the source's bytes) between its listing and its first read.
    destination.beforeNext("readFirst", async () => {
      await destination.put("k", next, next.length, { metadata: {} }, { ifMatch: listedDestination!.etag });
    });
    const found = await destinationSide.probe("k", CHUNK, "sha256", listedDestination);
    expect(found!.etag).not.toBe(listedDestination!.etag);
    const head = await sourceSide.probe("k", CHUNK, await source.head("k"));
    const id = { bucket: "s", key: "k", etag: head!.etag };
    const dst = { key: "k", etag: found!.etag, size: found!.size };
    expect(changedChunks(await exchange(sourceSide, destinationSide, id, dst, plan, all))).toEqual([]);
    await Promise.all([sourceSide.forget("k"), destinationSide.forget("k")]);
  });

  it("settles its reads ahead before forgetting an object whose attempt ended before its challenge", async () => {
    const { destination, destinationSide } = await sides(true);
    const listed = await destination.head("k");
    await settlesBeforeForgetting(
      destination,
      () => destinationSide.probe("k", CHUNK, "sha256", listed),
      () => destinationSide.forget("k"),
    );
  });
});
