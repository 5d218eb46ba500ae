import { createCipheriv, createHash } from "node:crypto";
import { BlockChunker, type BlockParams, blockParams, KiB, MiB } from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { MAX_CUT_PIECE } from "../../../packages/core/src/blocks/gearCuts.js";
import { GEAR } from "../../../packages/core/src/blocks/gearTable.js";

type Plain = [offset: number, length: number, digest: string];

/**
 * The oracle: FastCDC's cut rules written plainly in JavaScript over a whole chunk. Past `min`
 * bytes, each byte rolls the gear hash and a block ends after it when the hash's top bits under
 * the mask are zero: a harder mask while the block is at most `avg` long, an easier one after;
 * a block never passes `max`.
 */
function oracle(data: Uint8Array, { min, avg, max }: BlockParams, offset = 0): Plain[] {
  const bits = Math.log2(avg);
  const top = (b: number) => (b >= 32 ? -1 : -1 << (32 - b));
  const [hard, easy] = [top(bits + 2), top(bits - 2)];
  const blocks: Plain[] = [];
  for (let start = 0; start < data.length; ) {
    const limit = Math.min(data.length, start + max);
    let end = limit;
    let fp = 0;
    for (let pos = Math.min(start + min, limit); pos < limit; ) {
      fp = ((fp << 1) + (GEAR[data[pos++] as number] as number)) | 0;
      if ((fp & (pos - start <= avg ? hard : easy)) === 0) {
        end = pos;
        break;
      }
    }
    const digest = createHash("sha256").update(data.subarray(start, end)).digest("hex");
    blocks.push([offset + start, end - start, digest]);
    start = end;
  }
  return blocks;
}

/** Deterministic random bytes (AES-CTR keystream of a seed). */
function seeded(seed: number, length: number): Buffer {
  const key = createHash("sha256").update(String(seed)).digest().subarray(0, 16);
  return createCipheriv("aes-128-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** The production chunker fed `data` in pieces ending at `ends` (sorted, within the data). */
function chunked(data: Uint8Array, params: BlockParams, ends: number[], offset = 0): Plain[] {
  const chunker = new BlockChunker(params, offset);
  const blocks = [];
  let from = 0;
  for (const to of [...ends, data.length]) {
    chunker.update(data.subarray(from, to));
    blocks.push(...chunker.take());
    from = to;
  }
  blocks.push(...chunker.end());
  return blocks.map((b) => [b.offset, b.length, b.digest.toString("hex")]);
}

const fine = { min: 1 * KiB, avg: 4 * KiB, max: 16 * KiB };

/** Parameters validateBlockParams accepts: the ones blockParams and the fine mode give, and others. */
const params: fc.Arbitrary<BlockParams> = fc.oneof(
  fc.constantFrom(fine, blockParams(0), blockParams(100 * 1024 * MiB)),
  fc.integer({ min: 8, max: 17 }).chain((bits) =>
    fc.record({
      min: fc.integer({ min: 64, max: 2 ** bits - 1 }),
      avg: fc.constant(2 ** bits),
      max: fc.integer({ min: 2 ** bits, max: 2 ** (bits + 3) }),
    }),
  ),
);

/** Random bytes cut on content; runs of two values and zeros rarely or never hit and are cut at `max`. */
const bytes = (length: number) =>
  fc
    .tuple(fc.constantFrom("random", "two values", "zeros"), fc.nat())
    .map(([kind, seed]) =>
      kind === "zeros"
        ? new Uint8Array(length)
        : kind === "two values"
          ? seeded(seed, length).map((b) => b & 1)
          : seeded(seed, length),
    );

/** Where pieces end: at random places, or every `size` bytes as a read delivers them. */
const pieceEnds = (length: number) =>
  fc.oneof(
    fc
      .array(fc.nat({ max: length }), { maxLength: 30 })
      .map((ends) => [...new Set(ends)].sort((a, b) => a - b)),
    fc
      .integer({ min: 1, max: 128 * KiB })
      .map((size) => Array.from({ length: Math.ceil(length / size) }, (_, i) => (i + 1) * size).slice(0, -1)),
  );

describe("the WebAssembly cut loop", () => {
  test("gives the oracle's blocks for any parameters, bytes and pieces", () => {
    fc.assert(
      fc.property(
        params.chain((p) =>
          fc
            .nat({ max: 4 * p.max })
            .chain((length) => fc.tuple(fc.constant(p), bytes(length), pieceEnds(length))),
        ),
        fc.nat({ max: 1e9 }),
        ([p, data, ends], offset) => {
          expect(chunked(data, p, ends, offset)).toEqual(oracle(data, p, offset));
        },
      ),
    );
  });

  test("cuts a piece larger than one call takes in slices, with the same blocks", () => {
    const data = seeded(4, 2 * MAX_CUT_PIECE + 12_345);
    for (const p of [fine, blockParams(0)]) expect(chunked(data, p, [])).toEqual(oracle(data, p));
  });

  test("chunkers fed in turn share the loop without sharing state", () => {
    const [a, b] = [seeded(5, 3 * MiB), seeded(6, 3 * MiB)];
    const [ca, cb] = [new BlockChunker(fine), new BlockChunker(blockParams(0), 7)];
    // B's third piece is large: its bytes cover A's in the module's memory.
    const sizesB = [40 * KiB, 40 * KiB, 2 * MiB];
    for (let i = 0, atA = 0, atB = 0; atA < a.length || atB < b.length; i++) {
      const [toA, toB] = [atA + 48 * KiB, atB + (sizesB[i] ?? 40 * KiB)];
      ca.update(a.subarray(atA, toA));
      cb.update(b.subarray(atB, toB));
      [atA, atB] = [toA, toB];
    }
    const plain = (c: BlockChunker) =>
      [...c.end()].map((x): Plain => [x.offset, x.length, x.digest.toString("hex")]);
    expect(plain(ca)).toEqual(oracle(a, fine));
    expect(plain(cb)).toEqual(oracle(b, blockParams(0), 7));
  });
});
