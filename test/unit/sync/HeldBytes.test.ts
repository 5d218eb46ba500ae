import { blockParams, blockRequest, chunkRange, planChunks } from "@chunksync/core";
import { MemoryObjectStore } from "@chunksync/storage";
import { HeldBytes, Limiter, SourceSide } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { seededBytes } from "../../support/data.js";

const MiB = 1024 * 1024;

describe("HeldBytes, a side's reads kept for its later reads", () => {
  it("serves a range one held read covers, of that version only", () => {
    const held = new HeldBytes(100);
    const data = Buffer.from(Array.from({ length: 40 }, (_, i) => i));
    expect(held.reserve(40)).toBe(true);
    // Kept in the pieces the read gave; a range across them comes back in pieces.
    held.keep("k", '"v1"', 10, [data.subarray(0, 8), data.subarray(8, 30), data.subarray(30)]);
    const got = (offset: number, length: number) => {
      const pieces = held.get("k", "v1", { offset, length });
      return pieces && Buffer.concat(pieces);
    };
    expect(got(15, 10)).toEqual(data.subarray(5, 15));
    expect(got(10, 40)).toEqual(data);
    expect(got(48, 2)).toEqual(data.subarray(38, 40));
    // Past the read's end, before its start, another version, another key: not held.
    expect(held.get("k", "v1", { offset: 45, length: 10 })).toBeUndefined();
    expect(held.get("k", "v1", { offset: 5, length: 10 })).toBeUndefined();
    expect(held.get("k", "v2", { offset: 15, length: 10 })).toBeUndefined();
    expect(held.get("other", "v1", { offset: 15, length: 10 })).toBeUndefined();
  });

  it("holds no more than its budget, and frees the room of a failed read and of a forgotten key", () => {
    const held = new HeldBytes(100);
    expect(held.reserve(60)).toBe(true);
    expect(held.reserve(50)).toBe(false);
    held.release(60);
    expect(held.reserve(100)).toBe(true);
    held.keep("k", "v1", 0, [Buffer.alloc(100)]);
    expect(held.reserve(1)).toBe(false);
    held.forget("k");
    expect(held.get("k", "v1", { offset: 0, length: 1 })).toBeUndefined();
    expect(held.reserve(100)).toBe(true);
  });

  it("gives a key's room back when a read of another version replaces it", () => {
    const held = new HeldBytes(100);
    held.reserve(60);
    held.keep("k", "v1", 0, [Buffer.alloc(60)]);
    held.reserve(30);
    held.keep("k", "v2", 0, [Buffer.alloc(30)]);
    expect(held.get("k", "v1", { offset: 0, length: 1 })).toBeUndefined();
    expect(held.reserve(70)).toBe(true);
  });
});

describe("SourceSide's block reads, held", () => {
  it("cuts a range read once and sends a piece of it from memory, until the key is forgotten", async () => {
    const data = seededBytes("held-source", 12 * MiB);
    const store = new MemoryObjectStore({ bucket: "b" });
    const { etag } = await store.put("o", data, data.length, { metadata: {} }, { ifNoneMatch: "*" });
    let read = 0;
    const side = new SourceSide({
      store,
      secret: Buffer.alloc(32, 7),
      algorithm: "sha256",
      variant: "encode",
      limiter: new Limiter(2),
      onRead: (n) => {
        read += n;
      },
    });
    const plan = planChunks(data.length, 8 * MiB);
    const source = { bucket: "b", key: "o", etag };
    const request = blockRequest({
      source,
      destination: { bucket: "d", key: "o", etag: '"old"' },
      params: blockParams(data.length),
      cut: [chunkRange(plan, 1)],
    });
    const ranges = [chunkRange(plan, 1)];
    const first = await side.cutBlocks(source, request, ranges);
    expect(read).toBe(chunkRange(plan, 1).length);
    const again = await side.cutBlocks(source, request, ranges);
    expect(again.ranges()).toEqual(first.ranges());
    expect(read).toBe(chunkRange(plan, 1).length);

    const piece = { offset: 9 * MiB, length: MiB };
    const body: Buffer[] = [];
    for await (const p of await side.openRange(source, piece)) body.push(p as Buffer);
    expect(Buffer.concat(body).equals(data.subarray(piece.offset, piece.offset + piece.length))).toBe(true);
    expect(read).toBe(chunkRange(plan, 1).length);
    expect(store.calls("read")).toBe(1);

    side.forget("o");
    for await (const _ of await side.openRange(source, piece)) {
    }
    expect(store.calls("read")).toBe(2);
  });
});
