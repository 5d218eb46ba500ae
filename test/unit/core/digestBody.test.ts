import { createHash } from "node:crypto";
import {
  BodyDigestError,
  ChunkDigests,
  chunkRanges,
  collectDigested,
  DIGEST_ALGORITHMS,
  type DigestAlgorithm,
  digestOf,
  digestWhilePassing,
  InOrderDigests,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

const md5 = (data: Uint8Array) => createHash("md5").update(data).digest();

/** `data` cut at `cuts` (positions, in any order) into pieces, as a socket delivers a body. */
async function* pieces(data: Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  let from = 0;
  for (const at of [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b)) {
    yield data.subarray(from, at);
    from = at;
  }
  yield data.subarray(from);
}

const bodies = fc.record({
  data: fc.uint8Array({ maxLength: 4096 }),
  cuts: fc.array(fc.nat(), { maxLength: 8 }),
  algorithm: fc.constantFrom<DigestAlgorithm | undefined>(undefined, ...DIGEST_ALGORITHMS),
});

describe("collectDigested", () => {
  test("holds the bytes and their MD5 and chunk digest, however the body is cut", async () => {
    await fc.assert(
      fc.asyncProperty(bodies, async ({ data, cuts, algorithm }) => {
        const got = await collectDigested(pieces(data, cuts), data.length, algorithm);
        expect(got.data.equals(Buffer.from(data))).toBe(true);
        expect(got.length).toBe(data.length);
        expect(got.md5?.equals(md5(data))).toBe(true);
        expect(got.chunk?.toString("hex")).toBe(algorithm && digestOf(algorithm, data).toString("hex"));
      }),
    );
  });

  test("without the MD5 a caller sends no Content-MD5 for: the chunk digest alone, unless there is none", async () => {
    await fc.assert(
      fc.asyncProperty(bodies, async ({ data, cuts, algorithm }) => {
        const got = await collectDigested(pieces(data, cuts), data.length, algorithm, undefined, false);
        expect(got.data.equals(Buffer.from(data))).toBe(true);
        expect(got.chunk?.toString("hex")).toBe(algorithm && digestOf(algorithm, data).toString("hex"));
        // Without a chunk digest (or with MD5 as the chunk algorithm) the MD5 is the one digest.
        const md5Kept = algorithm === undefined || algorithm === "md5";
        expect(got.md5?.equals(md5(data))).toBe(md5Kept ? true : undefined);
      }),
    );
  });

  test("reads into a reused buffer: a larger one holds the body at its start, a smaller one is refused", async () => {
    await fc.assert(
      fc.asyncProperty(bodies, fc.nat({ max: 64 }), async ({ data, cuts, algorithm }, spare) => {
        const into = Buffer.alloc(data.length + spare, 0xa5);
        const got = await collectDigested(pieces(data, cuts), data.length, algorithm, into);
        expect(got.data.equals(Buffer.from(data))).toBe(true);
        expect(got.data.buffer).toBe(into.buffer);
        expect(got.md5?.equals(md5(data))).toBe(true);
      }),
    );
    const small = collectDigested(pieces(Buffer.from("0123456789"), []), 10, undefined, Buffer.alloc(9));
    await expect(small).rejects.toMatchObject({ code: "BUFFER_TOO_SMALL" });
  });

  test("fails when the body is shorter or longer than announced", async () => {
    const data = Buffer.from("0123456789");
    for (const announced of [9, 11]) {
      const got = collectDigested(pieces(data, [3]), announced);
      await expect(got).rejects.toBeInstanceOf(BodyDigestError);
      await expect(got).rejects.toMatchObject({ code: "BODY_LENGTH_MISMATCH" });
    }
  });
});

describe("digestWhilePassing", () => {
  test("passes every byte on unchanged and then knows their digests", async () => {
    await fc.assert(
      fc.asyncProperty(bodies, async ({ data, cuts, algorithm }) => {
        const passing = digestWhilePassing(pieces(data, cuts), algorithm);
        const out: Uint8Array[] = [];
        for await (const piece of passing.body) out.push(piece);
        expect(Buffer.concat(out).equals(Buffer.from(data))).toBe(true);
        const digests = passing.digests();
        expect(digests.length).toBe(data.length);
        expect(digests.md5?.equals(md5(data))).toBe(true);
        expect(digests.chunk?.toString("hex")).toBe(algorithm && digestOf(algorithm, data).toString("hex"));
      }),
    );
  });

  test("refuses to tell the digests of a body not read to its end", async () => {
    const passing = digestWhilePassing(pieces(Buffer.from("abcdef"), [2]), "sha256");
    const iterator = passing.body[Symbol.asyncIterator]();
    await iterator.next();
    expect(() => passing.digests()).toThrow(BodyDigestError);
    expect(() => passing.digests()).toThrow(expect.objectContaining({ code: "BODY_NOT_ENDED" }));
  });
});

describe("ChunkDigests", () => {
  test("holds the digest of each chunk, however the body is cut", async () => {
    await fc.assert(
      fc.asyncProperty(
        bodies,
        fc.integer({ min: 1, max: 1000 }),
        fc.constantFrom<DigestAlgorithm>(...DIGEST_ALGORITHMS),
        async ({ data, cuts }, chunkSize, algorithm) => {
          // A plan's chunks, at a test-sized chunk size (planChunks refuses those under 5 MiB).
          const ranges = chunkRanges({
            size: data.length,
            chunkSize,
            count: Math.ceil(data.length / chunkSize),
          });
          const chunks = new ChunkDigests(ranges, algorithm);
          for await (const piece of pieces(data, cuts)) chunks.update(piece);
          chunks.end();
          expect(chunks.digests.map((d) => d.toString("hex"))).toEqual(
            ranges.map((r) =>
              digestOf(algorithm, data.subarray(r.offset, r.offset + r.length)).toString("hex"),
            ),
          );
        },
      ),
    );
  });

  test("fails a body longer or shorter than its chunks", () => {
    const data = Buffer.from("0123456789");
    const ranges = [
      { index: 0, offset: 0, length: 4 },
      { index: 1, offset: 4, length: 4 },
    ];
    const long = new ChunkDigests(ranges, "sha256");
    expect(() => long.update(data)).toThrow(expect.objectContaining({ code: "BODY_LENGTH_MISMATCH" }));
    const short = new ChunkDigests(ranges, "sha256");
    short.update(data.subarray(0, 6));
    expect(() => short.end()).toThrow(expect.objectContaining({ code: "BODY_LENGTH_MISMATCH" }));
  });
});

describe("InOrderDigests", () => {
  test("a buffer filled piece by piece in any order has the digests of its bytes, once all are in", () => {
    fc.assert(
      fc.property(bodies, fc.array(fc.nat(), { maxLength: 20 }), ({ data, cuts, algorithm }, keys) => {
        // Pieces between the cuts, each filled in two steps (its first half, then the rest, as
        // a stream's bytes come), every piece's first step, then every second one, each in a
        // shuffled order.
        const at = [...new Set([0, ...cuts.map((c) => c % (data.length + 1)), data.length])].sort(
          (a, b) => a - b,
        );
        const first: [number, number][] = [];
        const second: [number, number][] = [];
        for (let i = 0; i + 1 < at.length; i++) {
          const mid = (at[i]! + at[i + 1]!) >> 1;
          first.push([at[i]!, mid]);
          second.push([mid, at[i + 1]!]);
        }
        const shuffled = (steps: [number, number][]) =>
          steps
            .map((step, k) => ({ step, key: keys[k % Math.max(1, keys.length)] ?? k }))
            .sort((a, b) => a.key - b.key)
            .map((x) => x.step);
        const buffer = new Uint8Array(data.length);
        const digests = new InOrderDigests(buffer, algorithm);
        for (const [from, to] of [...shuffled(first), ...shuffled(second)]) {
          buffer.set(data.subarray(from, to), from);
          digests.filled(from, to);
        }
        const got = digests.digests();
        expect(got.md5?.equals(md5(data))).toBe(true);
        expect(got.length).toBe(data.length);
        if (algorithm !== undefined) expect(got.chunk?.equals(digestOf(algorithm, data))).toBe(true);
      }),
    );
  });

  test("refuses to give digests before every byte is in", () => {
    const digests = new InOrderDigests(new Uint8Array(10));
    digests.filled(0, 4);
    digests.filled(6, 10);
    expect(() => digests.digests()).toThrow(BodyDigestError);
    digests.filled(4, 6);
    expect(digests.digests().md5?.equals(md5(new Uint8Array(10)))).toBe(true);
  });
});
