import { randomBytes } from "node:crypto";
import { blockParams, type ChunkPlan, chunkRanges, createDigester, planChunks } from "@chunksync/core";
import { MemoryObjectStore } from "@chunksync/storage";
import { KeepRoom, Limiter, SourceSide } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { readBlocks } from "../../../packages/sync/src/blockReads.js";
import { type KeepTap, KeptChunks } from "../../../packages/sync/src/KeptChunks.js";
import { seededBytes } from "../../support/data.js";

const MiB = 1024 * 1024;
const CHUNK = 5 * MiB;

describe("KeptChunks", () => {
  it("never holds more than its capacity, reserved or kept, and gives room back as chunks go", () => {
    const kept = new KeptChunks(new KeepRoom(10));
    expect(kept.room.reserve(6)).toBe(true);
    expect(kept.room.reserve(5)).toBe(false);
    kept.keep("k", "e1", 0, Buffer.alloc(6, 1));
    expect(kept.room.reserve(4)).toBe(true);
    kept.room.release(4);
    kept.forget("k");
    expect(kept.room.reserve(10)).toBe(true);
  });

  it("has a read in flight wait for the room that reads in flight beside it hold, and give up once none holds any", async () => {
    const kept = new KeptChunks(new KeepRoom(10));
    /** Ends `tap` after its `length` bytes came, keeping them. */
    const keepAll = (tap: KeepTap | undefined, length: number) => {
      tap?.piece(Buffer.alloc(length));
      tap?.end(() => {});
    };
    const first = await kept.tapInFlight(6);
    expect(first).toBeDefined();
    const got: { second?: KeepTap | undefined } = {};
    const waiting = kept.tapInFlight(6).then((tap) => {
      got.second = tap;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect("second" in got).toBe(false);
    // The first read's chunk did not change: its room goes to the read that waited.
    first?.end();
    await waiting;
    expect(got.second).toBeDefined();
    // That one keeps its bytes: no read is in flight, so the next gives up at once.
    keepAll(got.second, 6);
    expect(await kept.tapInFlight(6)).toBeUndefined();
    // A read in flight that keeps its bytes leaves none for a read waiting beside it.
    const third = await kept.tapInFlight(4);
    expect(third).toBeDefined();
    const gaveUp = kept.tapInFlight(1);
    keepAll(third, 4);
    expect(await gaveUp).toBeUndefined();
    // Nor does a run that was stopped wait.
    const other = new KeptChunks(new KeepRoom(10));
    expect(await other.tapInFlight(10)).toBeDefined();
    expect(await other.tapInFlight(1, AbortSignal.abort())).toBeUndefined();
  });

  it("answers a range, across chunks, only where kept chunks of that very version cover all of it", () => {
    const kept = new KeptChunks(new KeepRoom(100));
    const text = (pieces: Buffer[] | undefined) => pieces && Buffer.concat(pieces).toString();
    kept.room.reserve(20);
    kept.keep("k", "e1", 10, Buffer.from("0123456789"));
    kept.keep("k", "e1", 20, Buffer.from("abcdefghij"));
    expect(text(kept.bytes("k", "e1", { offset: 12, length: 3 }))).toBe("234");
    expect(text(kept.bytes("k", "e1", { offset: 13, length: 9 }))).toBe("3456789ab");
    expect(text(kept.bytes("k", "e1", { offset: 10, length: 20 }))).toBe("0123456789abcdefghij");
    expect(kept.bytes("k", "e1", { offset: 25, length: 6 })).toBeUndefined();
    expect(kept.bytes("k", "e1", { offset: 8, length: 4 })).toBeUndefined();
    expect(kept.bytes("k", "e2", { offset: 12, length: 3 })).toBeUndefined();
    expect(kept.bytes("other", "e1", { offset: 12, length: 3 })).toBeUndefined();
    // Another version of the key replaces what was kept of the last one, and frees its room.
    kept.room.reserve(5);
    kept.keep("k", "e2", 0, Buffer.from("vwxyz"));
    expect(kept.bytes("k", "e1", { offset: 12, length: 3 })).toBeUndefined();
    expect(text(kept.bytes("k", "e2", { offset: 1, length: 3 }))).toBe("wxy");
    expect(kept.room.reserve(95)).toBe(true);
  });

  it("lands reads in buffers given back by reads before, never in one whose bytes are kept, and holds free ones only within its capacity", async () => {
    const kept = new KeptChunks(new KeepRoom(20));
    /** A read of `length` bytes through a tap, ended keeping them or not. */
    const read = async (length: number, keep: boolean, key = "k", offset = 0) => {
      const tap = (await kept.tapInFlight(length))!;
      tap.into.fill(offset + 1);
      tap.piece(tap.into);
      tap.end(keep ? (bytes) => kept.keep(key, "e1", offset, bytes) : undefined);
      return tap.into;
    };
    // A chunk that is not kept gives its buffer to the next read of that length.
    const first = await read(8, false);
    expect(await read(8, true, "k", 0)).toBe(first);
    // A kept chunk's buffer serves no other read while kept: the next one is fresh.
    const second = await read(8, false, "k", 8);
    expect(second).not.toBe(first);
    expect(Buffer.concat(kept.bytes("k", "e1", { offset: 0, length: 8 })!)).toEqual(Buffer.alloc(8, 1));
    // Once the key is forgotten its buffer serves reads again.
    kept.forget("k");
    const reused = [await read(8, true, "a"), await read(8, true, "b")];
    expect(reused).toContain(first);
    expect(reused).toContain(second);
    // With 16 bytes kept and 8 free, a read of 10 more lets the free buffer go: together they
    // would pass the capacity of 20.
    kept.forget("a");
    const ten = await read(10, false);
    kept.forget("b");
    expect(await read(10, false)).toBe(ten);
    const last = [await read(8, true, "c"), await read(8, true, "d")];
    expect(last.filter((b) => b === first || b === second)).toHaveLength(1);
  });
});

/** One digest per chunk of `data` on `plan`, as the source's index holds them. */
function digestsOf(data: Buffer, plan: ChunkPlan): Buffer[] {
  return chunkRanges(plan).map((r) => {
    const digester = createDigester("sha256");
    digester.update(data.subarray(r.offset, r.offset + r.length));
    return digester.digest();
  });
}

describe("SourceSide keeps the bytes of chunks its index says changed, from the read that digests them", () => {
  const old = seededBytes("kept-old", 17 * MiB);
  const plan = planChunks(old.length, CHUNK);
  const prior = digestsOf(old, plan);

  async function side(next: Buffer, keepBytes?: number) {
    const store = new MemoryObjectStore({ bucket: "s" });
    await store.put("k", next, next.length, { metadata: {} }, { ifNoneMatch: "*" });
    let read = 0;
    const sourceSide = new SourceSide({
      store,
      secret: randomBytes(32),
      algorithm: "sha256",
      variant: "encode",
      limiter: new Limiter(8),
      onRead: (n) => {
        read += n;
      },
      ...(keepBytes ? { keep: new KeepRoom(keepBytes) } : {}),
    });
    const listed = await store.head("k");
    const head = await sourceSide.probe("k", CHUNK, listed, prior);
    const id = { bucket: "s", key: "k", etag: head!.etag };
    const all = chunkRanges(plan).map((r) => r.index);
    await sourceSide.digest(id, plan, all);
    return { store, sourceSide, id, read: () => read };
  }

  /** A range of the source's version as the writer reads it for upload, into a buffer of its own. */
  const rangeOf = async (
    sourceSide: SourceSide,
    id: { key: string; etag: string },
    range: { offset: number; length: number },
  ) => {
    const into = Buffer.alloc(range.length);
    await sourceSide.readRange(id, range, { into });
    return into;
  };

  it("sends a changed chunk, and any range inside it, without reading it again; an unchanged one is read", async () => {
    const next = Buffer.from(old);
    next.fill(7, 6 * MiB, 6 * MiB + 1000);
    next.fill(9, 100, 200);
    const { store, sourceSide, id, read } = await side(next, 8 * CHUNK);
    expect(read()).toBe(next.length);
    const reads = store.calls("read");
    expect(
      (await rangeOf(sourceSide, id, { offset: 5 * MiB, length: CHUNK })).equals(
        next.subarray(5 * MiB, 10 * MiB),
      ),
    ).toBe(true);
    // The first chunk, read with the head, is kept too; a range across both kept chunks is whole.
    expect(
      (await rangeOf(sourceSide, id, { offset: 4 * MiB, length: 2 * MiB })).equals(
        next.subarray(4 * MiB, 6 * MiB),
      ),
    ).toBe(true);
    expect(store.calls("read")).toBe(reads);
    expect(read()).toBe(next.length);
    // Chunk 2 is as the index knew it: not kept, read again to send it.
    expect(
      (await rangeOf(sourceSide, id, { offset: 10 * MiB, length: 1000 })).equals(
        next.subarray(10 * MiB, 10 * MiB + 1000),
      ),
    ).toBe(true);
    expect(store.calls("read")).toBe(reads + 1);
    await sourceSide.forget("k");
    await rangeOf(sourceSide, id, { offset: 5 * MiB, length: 1000 });
    expect(store.calls("read")).toBe(reads + 2);
  });

  it("keeps a changed chunk whose read started while the reads beside it held all the room: it waits for their room", async () => {
    // Room for one chunk: the first chunk's read holds it while the reads of the three after it
    // start. Only the last chunk changed.
    const next = Buffer.from(old);
    next.fill(7, 16 * MiB, 16 * MiB + 1000);
    const { store, sourceSide, id, read } = await side(next, CHUNK);
    expect(read()).toBe(next.length);
    const reads = store.calls("read");
    expect(
      (await rangeOf(sourceSide, id, { offset: 15 * MiB, length: 2 * MiB })).equals(next.subarray(15 * MiB)),
    ).toBe(true);
    expect(store.calls("read")).toBe(reads);
  });

  it("names the chunks its reads found changed until the object settles, a read that ends after the forget began included", async () => {
    const next = Buffer.from(old);
    next.fill(7, 6 * MiB, 6 * MiB + 1000);
    const { sourceSide } = await side(next, 8 * CHUNK);
    expect([0, 1, 2, 3].map((i) => sourceSide.likelyChanged("k", i))).toEqual([false, true, false, false]);
    await sourceSide.forget("k");
    expect(sourceSide.likelyChanged("k", 1)).toBe(false);
    // Forgotten while its reads ahead are still in flight: none of them names a chunk after.
    const store = new MemoryObjectStore({ bucket: "s" });
    await store.put("k", next, next.length, { metadata: {} }, { ifNoneMatch: "*" });
    const early = new SourceSide({
      store,
      secret: randomBytes(32),
      algorithm: "sha256",
      variant: "encode",
      limiter: new Limiter(1),
    });
    await early.probe("k", CHUNK, await store.head("k"), prior);
    await early.forget("k");
    expect(early.likelyChanged("k", 1)).toBe(false);
  });

  it("keeps nothing without room for a whole chunk: the changed chunk is read again where it is needed", async () => {
    const next = Buffer.from(old);
    next.fill(7, 6 * MiB, 6 * MiB + 1000);
    const { store, sourceSide, id } = await side(next, CHUNK - 1);
    const reads = store.calls("read");
    expect(
      (await rangeOf(sourceSide, id, { offset: 5 * MiB, length: 1000 })).equals(
        next.subarray(5 * MiB, 5 * MiB + 1000),
      ),
    ).toBe(true);
    expect(store.calls("read")).toBe(reads + 1);
  });
});

describe("a block round's old bytes, kept for the next round and the assembled part", () => {
  it("are kept from a read that started while reads in flight beside it held all the room: it waits for their room", async () => {
    const bytes = seededBytes("kept-block-round", CHUNK);
    const store = new MemoryObjectStore({ bucket: "d" });
    const { etag } = await store.put("k", bytes, bytes.length, { metadata: {} }, { ifNoneMatch: "*" });
    const room = new KeepRoom(CHUNK);
    const kept = new KeptChunks(room);
    // A source read ahead of its challenge holds the whole room while it lands; its chunk turns
    // out unchanged, and its room is given back once it ended.
    const sourceRead = await new KeptChunks(room).tapInFlight(CHUNK);
    expect(sourceRead).toBeDefined();
    setTimeout(() => sourceRead?.end(), 5);
    const range = { offset: 0, length: CHUNK };
    await readBlocks(
      {
        store,
        side: "destination",
        limiter: new Limiter(4),
        keeping: (k, e, r) => kept.keeping(k, e, r),
      },
      "k",
      etag,
      [range],
      blockParams(CHUNK),
    );
    const reads = store.calls("read");
    expect(Buffer.concat(kept.bytes("k", etag, range) ?? []).equals(bytes)).toBe(true);
    expect(store.calls("read")).toBe(reads);
  });

  it("are not waited for where the read is larger than the whole room", async () => {
    const room = new KeepRoom(CHUNK);
    const inFlight = await new KeptChunks(room).tapInFlight(1);
    expect(inFlight).toBeDefined();
    // The read in flight never ends here: a wait for its room would never settle.
    expect(await new KeptChunks(room).keeping("k", "e", { offset: 0, length: CHUNK + 1 })).toBeUndefined();
  });
});
