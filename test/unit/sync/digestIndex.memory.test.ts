import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MemoryObjectStore } from "@chunksync/storage";
import { type DirectoryIndexLocation, RunStats } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { flipByte, seededBytes } from "../../support/data.js";
import { memoryIndexes, movableClock, unconsulted } from "../../support/indexes.js";
import { bytesOf, syncWith } from "../../support/stores.js";

const MiB = 1024 * 1024;
const secret = Buffer.alloc(32, 7);

function setup() {
  const time = movableClock();
  const source = new MemoryObjectStore({ bucket: "src", now: time.now });
  const destination = new MemoryObjectStore({ bucket: "dst", now: time.now });
  const { source: sourceIndex, destination: destinationIndex } = memoryIndexes(secret);
  const index = { source: sourceIndex, destination: destinationIndex };
  const run = (overrides = {}) => syncWith(source, destination, { secret, index, ...overrides });
  return { time, source, destination, index, run };
}

async function put(store: MemoryObjectStore, key: string, data: Buffer) {
  await store.put(key, data, data.length, { metadata: {} }, undefined);
}

describe("digest index on in-memory stores", () => {
  const big = seededBytes("big", 12 * MiB);

  it("a second run over unchanged objects reads no byte on either side", async () => {
    const { time, source, run } = setup();
    await put(source, "a", big);
    await put(source, "b", seededBytes("b", 1000));
    // An empty object has no chunk, and an entry all the same.
    await put(source, "empty", Buffer.alloc(0));
    time.pass(2000);
    const first = await run();
    expect(first.objects.missing).toBe(3);
    expect(first.index?.source).toMatchObject({ found: "absent", written: 3 });
    expect(first.index?.destination).toMatchObject({ found: "absent", written: 3 });
    time.pass(2000);
    const stats = new RunStats();
    const second = await run({ stats });
    expect(second.objects.identical).toBe(3);
    // The work planned at the listing was all answered by the indexes: the bar reaches its end.
    expect(stats.answeredWork).toBe(stats.plannedWork);
    expect(stats.answeredWork).toBe(2 * (big.length + 1000));
    expect(stats.workDone).toBe(0);
    expect(second.bytes.sourceRead).toBe(0);
    expect(second.bytes.destinationRead).toBe(0);
    expect(second.index?.source).toMatchObject({ fromIndex: 3, read: 0, found: "loaded", written: 3 });
    expect(second.index?.destination).toMatchObject({ fromIndex: 3, read: 0, written: 3 });
  });

  it("a dry run (check, plan) against a destination that lacks the objects keeps the source's entries, with no request per object", async () => {
    const { time, source, destination, run } = setup();
    await put(source, "a", big);
    await put(source, "b", seededBytes("b", 1000));
    time.pass(2000);
    await run();
    time.pass(2000);
    // Another destination, or this one emptied: every key is missing there.
    for (const key of ["a", "b"]) await destination.delete(key);
    const heads = source.calls("head");
    const plan = await run({ dryRun: true });
    expect(plan.objects.missing).toBe(2);
    expect(plan.index?.source).toMatchObject({ found: "loaded", written: 2 });
    expect(source.calls("head") - heads).toBe(0);
    // The sync that follows reads nothing on the source for them but what it copies: no digest pass.
    time.pass(2000);
    const again = await run();
    expect(again.objects.missing).toBe(2);
    expect(again.bytes.sourceRead).toBe(big.length + 1000);
  });

  /** `big` synced, then its first 3 MiB rewritten on the source and a plan run, in the write's own second or after it. */
  async function plannedEdit(planLater: boolean) {
    const stores = setup();
    const { time, source, run } = stores;
    await put(source, "a", big);
    time.pass(2000);
    await run();
    time.pass(2000);
    const edited = Buffer.from(big);
    seededBytes("edit", 3 * MiB).copy(edited, 100);
    await put(source, "a", edited);
    if (planLater) time.pass(2000);
    expect((await run({ dryRun: true })).objects.changed).toBe(1);
    return { ...stores, edited };
  }

  it("a changed object that a plan read in the second it was written is confirmed by one HEAD: the sync after reads only its changed chunk", async () => {
    const { time, source, destination, run, edited } = await plannedEdit(false);
    time.pass(2000);
    const heads = source.calls("head");
    // The plan's entry was read within the version's second: its ETag proves the bytes, and one
    // HEAD a second later states the attributes a restatement in that second could have changed.
    const synced = await run();
    expect(synced.objects.changed).toBe(1);
    expect(source.calls("head") - heads).toBe(1);
    expect(synced.index?.source).toMatchObject({ fromIndex: 1, read: 0 });
    expect(synced.bytes.sourceRead).toBe(5 * MiB);
    expect((await bytesOf(destination, "a")).equals(edited)).toBe(true);
  });

  it("a changed object whose source entry stands (a plan looked at it) reads each changed chunk once: to cut it, to cut it finer and to send it", async () => {
    const { time, destination, run, edited } = await plannedEdit(true);
    time.pass(2000);
    const synced = await run();
    expect(synced.objects.changed).toBe(1);
    expect(synced.index?.source).toMatchObject({ fromIndex: 1, read: 0 });
    // Chunk 0 (5 MiB) holds the edit; the block round sends about what changed.
    expect(synced.bytes.sourceRead).toBe(5 * MiB);
    expect(synced.bytes.transferred).toBeLessThan(3.2 * MiB);
    expect((await bytesOf(destination, "a")).equals(edited)).toBe(true);
  });

  it("an object grown from an old one under 1 MiB is written at chunk level, its source read once", async () => {
    const { time, source, destination, run } = setup();
    await put(source, "a", Buffer.from("x"));
    time.pass(2000);
    await run();
    time.pass(2000);
    await put(source, "a", big);
    time.pass(2000);
    const synced = await run();
    expect(synced.objects.changed).toBe(1);
    expect(synced.bytes.sourceRead).toBe(big.length);
    expect(synced.bytes.transferred).toBe(big.length);
    expect((await bytesOf(destination, "a")).equals(big)).toBe(true);
  });

  it("a run stopped while an early key is in progress keeps the entries of the keys settled after it, and reads only that key again", async () => {
    const { time, source, run } = setup();
    await put(source, "a-big", big);
    const small = ["k1", "k2", "k3", "k4", "k5", "k6"];
    for (const key of small) await put(source, key, seededBytes(key, 1000));
    time.pass(2000);
    const stop = new AbortController();
    // The first object read waits for the stop (an early key: taken up first): the keys after it settle first.
    const stopped = new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve()));
    source.beforeNext("readFirst", () => stopped);
    let settled = 0;
    const first = run({
      concurrency: 4,
      signal: stop.signal,
      onResult: () => {
        if (++settled === small.length) stop.abort();
      },
    });
    await expect(first).rejects.toThrow();
    time.pass(2000);
    const rerun = await run();
    expect(rerun.objects).toMatchObject({ identical: small.length, missing: 1 });
    expect(rerun.index?.source).toMatchObject({ fromIndex: small.length, read: 0 });
    expect(rerun.index?.destination).toMatchObject({ fromIndex: small.length, read: 0 });
    const left = rerun.results.filter((r) => r.state === "missing");
    expect(rerun.bytes.sourceRead).toBe(left[0]?.size);
  });

  for (const blocks of [true, false]) {
    it(`changed objects smaller than a chunk are read once on the source: the write sends the bytes the digest read kept (blocks ${blocks})`, async () => {
      const { time, source, run } = setup();
      const keys = ["a", "b", "c", "d"];
      for (const key of keys) await put(source, key, seededBytes(`old-${key}`, 100_000));
      time.pass(2000);
      await run();
      for (const key of keys) await put(source, key, seededBytes(`new-${key}`, 100_000));
      time.pass(2000);
      const changed = await run({ blocks });
      expect(changed.objects.changed).toBe(4);
      expect(changed.bytes.sourceRead).toBe(4 * 100_000);
      expect(changed.bytes.transferred).toBe(4 * 100_000);
    });
  }

  it("with --no-blocks, a changed source object is read on the source only and re-composed", async () => {
    const { time, source, run } = setup();
    await put(source, "a", big);
    time.pass(2000);
    await run({ blocks: false });
    time.pass(2000);
    await put(source, "a", flipByte(big, 7 * MiB));
    time.pass(2000);
    const second = await run({ blocks: false });
    expect(second.objects.changed).toBe(1);
    expect(second.bytes.destinationRead).toBe(0);
    // The source digests its new version and keeps the bytes of the chunk its index says
    // changed: it sends them without reading them again.
    expect(second.bytes.sourceRead).toBe(big.length);
    expect(second.bytes.transferred).toBe(5 * MiB);
    time.pass(2000);
    const third = await run({ blocks: false });
    expect(third.objects.identical).toBe(1);
    expect(third.bytes.sourceRead + third.bytes.destinationRead).toBe(0);
  });

  /** `big` synced, then one byte of it changed on the source: each write in a second of its own. */
  async function syncedThenEdited() {
    const stores = setup();
    const { time, source, run } = stores;
    await put(source, "a", big);
    time.pass(2000);
    await run();
    time.pass(2000);
    await put(source, "a", flipByte(big, 7 * MiB));
    time.pass(2000);
    return stores;
  }

  it("with blocks, only the changed fine block crosses; the destination reads its own changed chunk once, never back; the next run reads nothing", async () => {
    const { time, run } = await syncedThenEdited();
    const second = await run();
    expect(second.objects.changed).toBe(1);
    // One fine block of at most 16 KiB crosses instead of the 5 MiB chunk.
    expect(second.bytes.transferred).toBeGreaterThan(0);
    expect(second.bytes.transferred).toBeLessThanOrEqual(16 * 1024);
    // The source digests its new version, keeping the bytes of the chunk its index says changed:
    // it cuts them into blocks, the one block left unmatched into fine blocks, and sends the
    // crossing one, all from those bytes.
    expect(second.bytes.sourceRead).toBe(big.length);
    // The destination reads no unchanged chunk: only the changed one, once, to cut it into
    // blocks; the later rounds and its part take the old bytes from that read. The part is that
    // chunk, digested as it was uploaded: its 5 MiB are not read back to verify it.
    expect(second.bytes.destinationRead).toBe(5 * MiB);
    time.pass(2000);
    const third = await run();
    expect(third.objects.identical).toBe(1);
    expect(third.bytes.sourceRead + third.bytes.destinationRead).toBe(0);
  });

  it("with blocks, a destination whose entry is not consulted is read once whole: the chunk the source's read found changed is kept from it for the block rounds and the part", async () => {
    const { index, run } = await syncedThenEdited();
    const second = await run({ index: { ...index, destination: { ...index.destination, consult: false } } });
    expect(second.objects.changed).toBe(1);
    expect(second.bytes.transferred).toBeLessThanOrEqual(16 * 1024);
    expect(second.bytes.sourceRead).toBe(big.length);
    // Every chunk is read to answer the challenge; the changed one's old bytes are not read again.
    expect(second.bytes.destinationRead).toBe(big.length);
  });

  /** Rewrites `key` in place (same bytes, so the same ETag and size) with other metadata. */
  async function replaceMetadata(store: MemoryObjectStore, key: string, metadata: Record<string, string>) {
    const head = await store.head(key);
    await store.copyObject(store.ref(key, head!.etag), key, { metadata }, { ifMatch: head!.etag });
  }

  it("a destination of another size, read where its chunks compare, is read whole once where its rest is smaller: the next check reads nothing", async () => {
    const { time, source, index, run } = setup();
    const longer = seededBytes("longer", 30 * MiB);
    await put(source, "grown", big);
    await put(source, "cut", longer);
    time.pass(2000);
    await run();
    time.pass(2000);
    // 12 MiB (chunks of 5, 5, 2) grown to 15 MiB; 30 MiB cut to 6 MiB (5, 1).
    await put(source, "grown", Buffer.concat([big, seededBytes("more", 3 * MiB)]));
    await put(source, "cut", longer.subarray(0, 6 * MiB));
    time.pass(2000);
    // `check --full`: the indexes are rebuilt from what is read, not consulted.
    const full = unconsulted(index);
    const first = await run({ dryRun: true, index: full });
    expect(first.objects.changed).toBe(2);
    // grown: its 2 chunks the source's compare with, then the 2 MiB left; cut: the 6 MiB the
    // source's 2 chunks compare with, the 24 MiB left unread.
    expect(first.bytes.destinationRead).toBe(12 * MiB + 6 * MiB);
    expect(first.index?.destination).toMatchObject({ written: 1 });
    time.pass(2000);
    const second = await run({ dryRun: true });
    expect(second.objects.changed).toBe(2);
    expect(second.index?.destination).toMatchObject({ fromIndex: 1, read: 1 });
    expect(second.bytes.destinationRead).toBe(6 * MiB);
  });

  it("a run that rebuilds the index without consulting it (check --full) removes the pieces it replaced", async () => {
    const { time, source, index, run } = setup();
    await put(source, "a", seededBytes("a", 1000));
    time.pass(2000);
    await run();
    await put(source, "a", seededBytes("a2", 1000));
    time.pass(2000);
    const full = unconsulted(index);
    await run({ dryRun: true, index: full });
    for (const side of [index.source, index.destination]) {
      const directory = (side.location as DirectoryIndexLocation).directory;
      const manifest = JSON.parse(readFileSync(join(directory, "manifest.json"), "utf8")) as {
        pieces: { name: string }[];
      };
      expect(readdirSync(directory).sort()).toEqual(
        ["manifest.json", ...manifest.pieces.map((p) => p.name)].sort(),
      );
    }
  });

  it("an entry read in its version's LastModified second stands for the next run after one HEAD, and with no request after that", async () => {
    const { time, source, run } = setup();
    await put(source, "a", big);
    // The run reads in the very second the version was written: a restatement of its
    // attributes could follow unseen (a rewrite of other bytes would change its ETag).
    const first = await run();
    expect(first.objects.missing).toBe(1);
    time.pass(2000);
    let heads = source.calls("head");
    const second = await run();
    expect(second.objects.identical).toBe(1);
    expect(second.index?.source).toMatchObject({ found: "loaded", fromIndex: 1, read: 0 });
    expect(second.bytes.sourceRead).toBe(0);
    expect(source.calls("head") - heads).toBe(1);
    // The HEAD, a second past the version's, made the entry one that stands on the listing alone.
    time.pass(2000);
    heads = source.calls("head");
    const third = await run();
    expect(third.index?.source).toMatchObject({ fromIndex: 1, read: 0 });
    expect(third.bytes.sourceRead).toBe(0);
    expect(source.calls("head") - heads).toBe(0);
  });

  it("an entry read in its version's second is read again where the HEAD still falls in that second", async () => {
    const { time, source, run } = setup();
    await put(source, "a", big);
    await run();
    // Less than a second on: the HEAD could not tell a restatement that is still to come.
    time.pass(100);
    const second = await run();
    expect(second.index?.source).toMatchObject({ fromIndex: 0, read: 1 });
    expect(second.bytes.sourceRead).toBe(big.length);
  });

  it("a source rewritten in place in the second its entry was read in is found (same ETag, other metadata)", async () => {
    const { time, source, destination, run } = setup();
    await put(source, "a", seededBytes("one part", 1000));
    await run();
    // Same second: same size, same ETag, same LastModified; only the metadata tells them apart.
    await replaceMetadata(source, "a", { m: "new" });
    time.pass(2000);
    const second = await run();
    expect(second.results[0]).toMatchObject({ state: "changed", action: "metadata" });
    expect((await destination.head("a"))?.metadata).toEqual({ m: "new" });
  });

  it("a destination rewritten in place in the second the run wrote it is found (same ETag, other metadata)", async () => {
    const { time, source, destination, run } = setup();
    await put(source, "a", seededBytes("one part", 1000));
    time.pass(2000);
    await run();
    // In the second of the run's write, another writer restates the object with other metadata.
    await replaceMetadata(destination, "a", { m: "theirs" });
    time.pass(2000);
    const second = await run();
    expect(second.results[0]).toMatchObject({ state: "changed", action: "metadata" });
    expect((await destination.head("a"))?.metadata).toEqual({});
  });

  it("among pairs both indexes answer for, decided together, the one that differs is found", async () => {
    const { time, source, run } = setup();
    // More pairs than are challenged together at once (256), the changed one in the second group.
    const keys = Array.from({ length: 300 }, (_, i) => `k/${String(i).padStart(3, "0")}`);
    for (const key of keys) await put(source, key, seededBytes(key, 100));
    await put(source, "large", big);
    time.pass(2000);
    await run();
    time.pass(2000);
    await put(source, "k/280", flipByte(seededBytes("k/280", 100), 50));
    await put(source, "large", flipByte(big, 9 * MiB));
    time.pass(2000);
    // The first check reads the new versions on the source and records their entries.
    const first = await run({ dryRun: true });
    expect(first.objects).toMatchObject({ identical: 299, changed: 2 });
    time.pass(2000);
    // Now both entries of every pair stand: no byte is read, and only the two differ.
    const second = await run({ dryRun: true });
    expect(second.bytes.sourceRead + second.bytes.destinationRead).toBe(0);
    expect(second.index?.source).toMatchObject({ fromIndex: 301, read: 0 });
    expect(second.objects).toMatchObject({ identical: 299, changed: 2 });
    const changed = second.results.filter((r) => r.state !== "identical").map((r) => r.sourceKey);
    expect(changed.sort()).toEqual(["k/280", "large"]);
  });

  it("an index of several pieces answers for every pair, while pairs are held to be decided together at each piece's start", async () => {
    const { time, source, run } = setup();
    // About 1.6 KB an entry: each side's index is cut into pieces by size, at about 2,600
    // entries, where pairs are held back (they are decided 256 at a time).
    const metadata = { pad: "x".repeat(1500) };
    for (let i = 0; i < 3000; i++) {
      const data = seededBytes(String(i), 64);
      await source.put(`k/${String(i).padStart(5, "0")}`, data, data.length, { metadata }, undefined);
    }
    time.pass(2000);
    await run();
    time.pass(2000);
    const second = await run();
    expect(second.objects.identical).toBe(3000);
    expect(second.index?.source).toMatchObject({ found: "loaded", fromIndex: 3000, read: 0 });
    expect(second.index?.destination).toMatchObject({ found: "loaded", fromIndex: 3000, read: 0 });
    expect(second.bytes.sourceRead + second.bytes.destinationRead).toBe(0);
  });
});
