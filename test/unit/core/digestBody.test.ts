import { createHash } from "node:crypto";
import {
  BodyDigestError,
  collectDigested,
  DIGEST_ALGORITHMS,
  type DigestAlgorithm,
  digestOf,
  digestWhilePassing,
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
        expect(got.md5.equals(md5(data))).toBe(true);
        expect(got.chunk?.toString("hex")).toBe(algorithm && digestOf(algorithm, data).toString("hex"));
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
        expect(got.md5.equals(md5(data))).toBe(true);
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
        expect(digests.md5.equals(md5(data))).toBe(true);
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
