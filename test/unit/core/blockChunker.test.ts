import { createCipheriv, createHash } from "node:crypto";
import {
  type Block,
  BlockChunker,
  blocksOf as blockListOf,
  blockParams,
  ChunksyncError,
  GiB,
  KiB,
  MAX_OBJECT_SIZE,
  MiB,
  TARGET_MAX_BLOCKS,
  TiB,
  ValidationError,
  validateBlockParams,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

const small = { min: 64, avg: 256, max: 1024 };

/** Deterministic random bytes (AES-CTR keystream of a seed). */
function seeded(seed: number, length: number): Buffer {
  const key = createHash("sha256").update(String(seed)).digest().subarray(0, 16);
  return createCipheriv("aes-128-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** The blocks of `data` as objects. */
const blocksOf = (...args: Parameters<typeof blockListOf>): Block[] => [...blockListOf(...args)];

/** `data` fed in pieces cut at `cuts`. */
function chunked(data: Uint8Array, cuts: number[], params = small, offset = 0): Block[] {
  const chunker = new BlockChunker(params, offset);
  const out: Block[] = [];
  let from = 0;
  for (const at of [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b)) {
    chunker.update(data.subarray(from, at));
    out.push(...chunker.take());
    from = at;
  }
  chunker.update(data.subarray(from));
  return [...out, ...chunker.end()];
}

const plain = (blocks: Block[]) => blocks.map((b) => [b.offset, b.length, b.digest.toString("hex")]);

describe("blockParams", () => {
  test("64 KiB blocks up to 64 GiB, then doubling so an object needs at most about 2^20 blocks", () => {
    expect(blockParams(0)).toEqual({ min: 16 * KiB, avg: 64 * KiB, max: 256 * KiB });
    expect(blockParams(64 * GiB).avg).toBe(64 * KiB);
    expect(blockParams(64 * GiB + 1).avg).toBe(128 * KiB);
    expect(blockParams(5 * TiB).avg).toBe(8 * MiB);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_OBJECT_SIZE }), (size) => {
        const { min, avg, max } = blockParams(size);
        expect(size / avg).toBeLessThanOrEqual(TARGET_MAX_BLOCKS);
        expect(avg === 64 * KiB || size / avg > TARGET_MAX_BLOCKS / 2).toBe(true);
        expect([min * 4, max / 4]).toEqual([avg, avg]);
      }),
    );
  });

  test("rejects a size that is not a whole number of bytes within the object limit", () => {
    for (const size of [-1, 1.5, Number.NaN, MAX_OBJECT_SIZE + 1])
      expect(() => blockParams(size)).toThrow(ValidationError);
  });

  test("rejects parameters a chunker cannot use, naming the field", () => {
    expect(() => validateBlockParams({ min: 64, avg: 300, max: 1024 })).toThrow(/blockParams\.avg/);
    expect(() => validateBlockParams({ min: 16, avg: 256, max: 1024 })).toThrow(/blockParams\.min/);
    expect(() => validateBlockParams({ min: 256, avg: 256, max: 1024 })).toThrow(/blockParams\.min/);
    expect(() => validateBlockParams({ min: 64, avg: 256, max: 255 })).toThrow(/blockParams\.max/);
    expect(() => new BlockChunker({ min: 64, avg: 256, max: 100 })).toThrow(ValidationError);
  });
});

describe("BlockChunker", () => {
  test("gives the same blocks however the bytes are cut into pieces", () => {
    fc.assert(
      fc.property(
        // Random bytes cut on content; runs of few values rarely hit and are cut at `max`.
        fc.oneof(
          fc.uint8Array({ maxLength: 12_000 }),
          fc.array(fc.constantFrom(0, 1), { maxLength: 12_000 }).map((a) => Uint8Array.from(a)),
          fc.integer({ min: 0, max: 12_000 }).map((n) => new Uint8Array(n)),
        ),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.nat({ max: 1e9 }),
        (data, cuts, offset) => {
          expect(plain(chunked(data, cuts, small, offset))).toEqual(plain(blocksOf(data, small, offset)));
        },
      ),
    );
  });

  test("blocks tile the chunk from its offset, within min and max, each with the SHA-256 of its bytes", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 31 }),
        fc.nat({ max: 40_000 }),
        fc.nat({ max: 1e9 }),
        (seed, length, offset) => {
          const data = seeded(seed, length);
          const blocks = blocksOf(data, small, offset);
          let at = offset;
          blocks.forEach((block, i) => {
            expect(block.offset).toBe(at);
            expect(block.length).toBeLessThanOrEqual(small.max);
            if (i < blocks.length - 1) expect(block.length).toBeGreaterThanOrEqual(small.min);
            const bytes = data.subarray(at - offset, at - offset + block.length);
            expect(block.digest.equals(createHash("sha256").update(bytes).digest())).toBe(true);
            at += block.length;
          });
          expect(at).toBe(offset + length);
        },
      ),
    );
  });

  test("cuts random data into blocks of about the average size", () => {
    const params = blockParams(0);
    const blocks = blocksOf(seeded(1, 16 * MiB), params);
    const mean = (16 * MiB) / blocks.length;
    expect(mean).toBeGreaterThan(0.8 * params.avg);
    expect(mean).toBeLessThan(1.4 * params.avg);
  });

  test("boundaries follow content: an insertion changes only the blocks around it", () => {
    const params = { min: 1 * KiB, avg: 4 * KiB, max: 16 * KiB };
    const old = seeded(2, 1 * MiB);
    for (const [at, length] of [
      [300 * KiB + 17, 100],
      [5, 1],
      [700 * KiB, 9 * KiB],
    ] as const) {
      const edited = Buffer.concat([old.subarray(0, at), seeded(3, length), old.subarray(at)]);
      const before = new Set(blocksOf(old, params).map((b) => b.digest.toString("hex")));
      const after = blocksOf(edited, params);
      const fresh = after.filter((b) => !before.has(b.digest.toString("hex")));
      // The block holding the insertion and the next one or two, while the cut chain falls back in step.
      expect(fresh.length).toBeLessThanOrEqual(3);
      expect(fresh.every((b) => b.offset + b.length > at && b.offset < at + length + 3 * params.max)).toBe(
        true,
      );
    }
  });

  test("cuts where it always has: both sides must agree, so the gear table and rules are a format", () => {
    const blocks = blocksOf(seeded(1, 1 * MiB), blockParams(0));
    expect(blocks.map((b) => b.length)).toEqual([
      71078, 41811, 49674, 71575, 92691, 99848, 65773, 78800, 78944, 72202, 68303, 66845, 71611, 66037, 37524,
      15860,
    ]);
    expect(blocks[0]?.digest.toString("hex")).toBe(
      "f406d10fb3edd0ede0470aef8dd92f636d20dbea40b12def9d57dd23c2c31751",
    );
  });

  test("a chunker that has ended refuses more bytes", () => {
    const chunker = new BlockChunker(small);
    chunker.update(Buffer.alloc(10));
    expect(chunker.end().count).toBe(1);
    expect(() => chunker.update(Buffer.alloc(1))).toThrow(ChunksyncError);
    expect(() => chunker.end()).toThrow(/already/);
  });

  test("bytes that never hit are cut at max", () => {
    expect(blocksOf(new Uint8Array(5000), small).map((b) => b.length)).toEqual([1024, 1024, 1024, 1024, 904]);
  });

  test("an empty chunk has no blocks", () => {
    expect(blocksOf(Buffer.alloc(0), small)).toEqual([]);
  });
});
