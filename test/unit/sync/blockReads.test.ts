import { createCipheriv, createHash } from "node:crypto";
import { Readable } from "node:stream";
import { type BlockList, blocksOf, type OldRange, sha256Block } from "@chunksync/core";
import { type ByteRange, MemoryObjectStore } from "@chunksync/storage";
import { Limiter } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { readBlocks, readBlocksAndWhole } from "../../../packages/sync/src/blockReads.js";

const params = { min: 1024, avg: 4096, max: 16_384 };
const data = createCipheriv("aes-128-ctr", Buffer.alloc(16, 7), Buffer.alloc(16)).update(
  Buffer.alloc(300_000),
);

/** A store whose bodies come in 3,000-byte pieces, and whose first read ends after `breakAfter` bytes. */
class BreakingStore extends MemoryObjectStore {
  readonly reads: ByteRange[] = [];

  constructor(readonly breakAfter: number) {
    super({ bucket: "b" });
  }

  override async read(key: string, range: ByteRange, etag: string, signal?: AbortSignal): Promise<Readable> {
    const body = Buffer.concat(await (await super.read(key, range, etag, signal)).toArray());
    const end = this.reads.length === 0 ? this.breakAfter : body.length;
    this.reads.push(range);
    const pieces: Buffer[] = [];
    for (let at = 0; at < end; at += 3000) pieces.push(body.subarray(at, Math.min(at + 3000, end)));
    return Readable.from(pieces);
  }
}

async function reading(breakAfter: number) {
  const store = new BreakingStore(breakAfter);
  await store.put("k", data, data.length, { metadata: {} }, undefined);
  const etag = (await store.head("k"))?.etag as string;
  return { store, etag, reader: { store, side: "destination" as const, limiter: new Limiter(2) } };
}

const plain = (blocks: BlockList) => [...blocks].map((b) => [b.offset, b.length, b.digest.toString("hex")]);

describe("block reads", () => {
  // Close enough to share one read (at most 64 KiB apart), given out of order.
  const ranges: OldRange[] = [
    { offset: 90_000, length: 40_000 },
    { offset: 10_000, length: 30_000 },
    { offset: 40_000, length: 20_000 },
    { offset: 180_000, length: 50_000 },
  ];

  it("cuts each range alone, in the order given, resuming a broken read at the first range not yet cut", async () => {
    const { store, etag, reader } = await reading(45_000);
    const blocks = await readBlocks(reader, "k", etag, ranges, params);
    const expected = ranges.flatMap((r) =>
      plain(blocksOf(data.subarray(r.offset, r.offset + r.length), params, r.offset)),
    );
    expect(plain(blocks)).toEqual(expected);
    // One read of all four broke 45,000 bytes in, inside the range at 40,000: the ranges before
    // it had ended, so the read again starts there.
    expect(store.reads).toEqual([
      { offset: 10_000, length: 220_000 },
      { offset: 40_000, length: 190_000 },
    ]);
  });

  it("refuses to cut overlapping ranges into one list", async () => {
    const { etag, reader } = await reading(300_000);
    const overlapping = [...ranges, { offset: 20_000, length: 16_000 }];
    await expect(readBlocks(reader, "k", etag, overlapping, params)).rejects.toMatchObject({
      code: "BLOCK_RANGES_OVERLAP",
    });
  });

  const sha256Hex = (r: OldRange) =>
    createHash("sha256")
      .update(data.subarray(r.offset, r.offset + r.length))
      .digest("hex");
  const wholeHex = (digests: Buffer, count: number) =>
    Array.from({ length: count }, (_, i) => digests.subarray(i * 32, (i + 1) * 32).toString("hex"));

  it("digests each whole range, overlapping ones too, in the order given", async () => {
    const { etag, reader } = await reading(70_000);
    const whole = [...ranges, { offset: 20_000, length: 16_000 }, { offset: 15_000, length: 4_000 }];
    const read = await readBlocksAndWhole(
      reader,
      "k",
      etag,
      { ranges: [], params, digest: sha256Block },
      {
        ranges: whole,
        digest: sha256Block,
      },
    );
    expect(read.blocks.count).toBe(0);
    expect(wholeHex(read.whole, whole.length)).toEqual(whole.map(sha256Hex));
  });

  it("reads a byte that both the ranges to cut and the whole ranges name once, for both", async () => {
    const { store, etag, reader } = await reading(300_000);
    // A fine round's cut and the first round's guesses: the same old range, and one inside another.
    const cut = [
      { offset: 10_000, length: 30_000 },
      { offset: 200_000, length: 20_000 },
    ];
    const whole = [
      { offset: 200_000, length: 20_000 },
      { offset: 12_000, length: 5_000 },
    ];
    const read = await readBlocksAndWhole(
      reader,
      "k",
      etag,
      { ranges: cut, params, digest: sha256Block },
      {
        ranges: whole,
        digest: sha256Block,
      },
    );
    expect(plain(read.blocks)).toEqual(plain(await readBlocks(reader, "k", etag, cut, params)));
    expect(wholeHex(read.whole, whole.length)).toEqual(whole.map(sha256Hex));
    // One read of each place, then the separate cut's own two for the comparison above.
    expect(store.reads).toEqual([
      { offset: 10_000, length: 30_000 },
      { offset: 200_000, length: 20_000 },
      { offset: 10_000, length: 30_000 },
      { offset: 200_000, length: 20_000 },
    ]);
  });

  it("resumes a read that broke in a range to cut, inside a whole range around it, from the whole range", async () => {
    const { store, etag, reader } = await reading(25_000);
    const cut = [{ offset: 20_000, length: 30_000 }];
    const whole = [{ offset: 10_000, length: 16_000 }];
    const read = await readBlocksAndWhole(
      reader,
      "k",
      etag,
      { ranges: cut, params, digest: sha256Block },
      {
        ranges: whole,
        digest: sha256Block,
      },
    );
    expect(plain(read.blocks)).toEqual(plain(blocksOf(data.subarray(20_000, 50_000), params, 20_000)));
    expect(wholeHex(read.whole, 1)).toEqual(whole.map(sha256Hex));
    // Broken 25,000 bytes in (at 35,000): the whole range had ended at 26,000, the cut had not.
    expect(store.reads).toEqual([
      { offset: 10_000, length: 40_000 },
      { offset: 20_000, length: 30_000 },
    ]);
  });
});
