import { BlockList } from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

const block = fc.record({
  gap: fc.nat({ max: 100 }),
  length: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
  digest: fc.uint8Array({ minLength: 16, maxLength: 16 }),
});

/** A list of `blocks`, each `gap` bytes after the one before. */
function listOf(blocks: { gap: number; length: number; digest: Uint8Array }[]): BlockList {
  const list = new BlockList(16, 1);
  let at = 0;
  for (const b of blocks) {
    at += b.gap;
    list.push(at, b.length, b.digest);
    at += b.length;
  }
  return list;
}

describe("BlockList", () => {
  test("holds what was pushed through growth, appends, and its JSON form", () => {
    fc.assert(
      fc.property(fc.array(block, { maxLength: 200 }), fc.array(block, { maxLength: 50 }), (a, b) => {
        const list = listOf(a);
        const expected = [...list];
        // Ascending offsets: each block is found where it starts.
        for (let i = 0; i < list.count; i++) expect(list.find(list.offset(i))).toBe(i);
        expect(expected.map((x) => x.length)).toEqual(a.map((x) => x.length));
        expect(expected.map((x) => x.digest)).toEqual(a.map((x) => Buffer.from(x.digest)));
        const other = listOf(b);
        list.append(other);
        expect([...list]).toEqual([...expected, ...other]);
        // A slice appended, and blocks dropped from the end.
        const from = Math.floor(b.length / 3);
        const to = Math.floor((2 * b.length) / 3);
        const sliced = listOf(a);
        sliced.append(other, from, to);
        expect([...sliced]).toEqual([...expected, ...[...other].slice(from, to)]);
        sliced.truncate(a.length);
        expect([...sliced]).toEqual(expected);
        expect([...BlockList.load(JSON.parse(JSON.stringify(list.store())))]).toEqual([...list]);
        for (let i = 0; i < list.count; i++) expect(list.sameBlock(i, list, i)).toBe(true);
      }),
    );
  });

  test("finds nothing where no block starts, and joins touching blocks into ranges", () => {
    const list = new BlockList(4);
    list.push(10, 5, Buffer.from("aaaa"));
    list.push(15, 5, Buffer.from("aaaa"));
    list.push(30, 1, Buffer.from("aaab"));
    expect(list.find(12)).toBe(-1);
    expect(list.find(30)).toBe(2);
    expect(list.ranges()).toEqual([
      { offset: 10, length: 10 },
      { offset: 30, length: 1 },
    ]);
    expect(list.sameBlock(0, list, 1)).toBe(true);
    expect(list.sameBlock(1, list, 2)).toBe(false);
    expect(() => list.push(31, 1, Buffer.alloc(3))).toThrow(/4 bytes/);
    expect(() => BlockList.load({ ...list.store(), digests: "" })).toThrow(/as many blocks/);
    // A list over arrays given holds them as they are.
    const over = BlockList.over(
      4,
      new Float64Array([10, 15]),
      new Uint32Array([5, 5]),
      Buffer.from("aaaabbbb"),
    );
    expect([...over].map((b) => [b.offset, b.length, b.digest.toString()])).toEqual([
      [10, 5, "aaaa"],
      [15, 5, "bbbb"],
    ]);
    expect(() => BlockList.over(4, new Float64Array(1), new Uint32Array(2), Buffer.alloc(8))).toThrow(
      /as many blocks/,
    );
  });
});
