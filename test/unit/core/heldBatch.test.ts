import {
  answerHeldBatch,
  DIGEST_ALGORITHMS,
  encodeAnswer,
  heldBatchEqual,
  holdBatch,
  MIN_CHUNK_SIZE,
  PROTOCOL_VERSION,
  planChunks,
  ValidationError,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { digestsOf, flipBit, identityArb as identity } from "../../support/challengePair.js";

/** Pairs of one run (one secret, one algorithm), each with its chunks' stand-in data. */
const batchWorld = fc.record({
  secret: fc.uint8Array({ minLength: 32, maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  algorithm: fc.constantFrom(...DIGEST_ALGORITHMS),
  pairs: fc.array(
    fc.integer({ min: 1, max: 3 }).chain((count) =>
      fc.record({
        source: identity,
        destination: identity,
        plan: fc.constant(planChunks(count * MIN_CHUNK_SIZE, MIN_CHUNK_SIZE)),
        data: fc.array(
          fc.uint8Array({ minLength: 1, maxLength: 32 }).map((bytes) => Buffer.from(bytes)),
          { minLength: count, maxLength: count },
        ),
      }),
    ),
    { minLength: 1, maxLength: 5 },
  ),
});
type World = typeof batchWorld extends fc.Arbitrary<infer T> ? T : never;

function hold(w: World) {
  const digests = w.pairs.map((p) => digestsOf(w.algorithm, p.data));
  return holdBatch({ secret: w.secret, algorithm: w.algorithm, pairs: w.pairs, digests: (i) => digests[i]! });
}

const answer = (w: World, secret: Buffer, batch: ReturnType<typeof hold>["batch"], data: Buffer[][]) => {
  const digests = data.map((d) => digestsOf(w.algorithm, d));
  return answerHeldBatch(secret, batch, (i) => digests[i]!);
};

describe("pairs challenged together in one process", () => {
  test("equal where every chunk of every pair is; a flipped bit in any chunk of any pair makes them differ", () => {
    fc.assert(
      fc.property(batchWorld, fc.nat(), fc.nat(), fc.nat(), (w, p, c, bit) => {
        const { batch, expected } = hold(w);
        const data = w.pairs.map((pair) => pair.data);
        expect(heldBatchEqual(expected, answer(w, w.secret, batch, data))).toBe(true);
        const at = p % w.pairs.length;
        const flipped = data.map((d, i) => (i === at ? flipBit(d, c % d.length, bit) : d));
        expect(heldBatchEqual(expected, answer(w, w.secret, batch, flipped))).toBe(false);
      }),
    );
  });

  test("another secret, or digests moved to another pair, never answer", () => {
    fc.assert(
      fc.property(batchWorld, (w) => {
        const { batch, expected } = hold(w);
        const data = w.pairs.map((pair) => pair.data);
        const other = Buffer.from(w.secret);
        other[0]! ^= 1;
        expect(heldBatchEqual(expected, answer(w, other, batch, data))).toBe(false);
        // The same digests, each answered for the pair after it (two pairs of one chunk count).
        const same = w.pairs.filter((pair) => pair.plan.count === w.pairs[0]!.plan.count);
        fc.pre(same.length === w.pairs.length && w.pairs.length > 1);
        const moved = data.map((_, i) => data[(i + 1) % data.length]!);
        fc.pre(moved.some((d, i) => !d.every((chunk, j) => chunk.equals(data[i]![j]!))));
        expect(heldBatchEqual(expected, answer(w, w.secret, batch, moved))).toBe(false);
      }),
    );
  });

  test("each batch draws its own nonce, and its value never stands for one chunk's answer", () => {
    fc.assert(
      fc.property(batchWorld, (w) => {
        const first = hold(w);
        const second = hold(w);
        expect(first.batch.nonce.equals(second.batch.nonce)).toBe(false);
        expect(first.expected.equals(second.expected)).toBe(false);
        const pair = w.pairs[0]!;
        const { plan } = pair;
        const context = {
          version: PROTOCOL_VERSION,
          direction: first.batch.direction,
          algorithm: w.algorithm,
          source: pair.source,
          destination: pair.destination,
          index: 0,
          offset: 0,
          length: plan.chunkSize,
        };
        const lone = encodeAnswer(
          w.secret,
          context,
          first.batch.nonce,
          digestsOf(w.algorithm, pair.data).get(0)!,
        );
        expect(lone.equals(first.expected)).toBe(false);
      }),
    );
  });

  test("refuses no pair, and a chunk whose digest a side does not hold", () => {
    const secret = Buffer.alloc(32, 1);
    const pair = {
      source: { bucket: "s", key: "k", etag: "e" },
      destination: { bucket: "d", key: "k", etag: "e" },
    };
    const plan = planChunks(2 * MIN_CHUNK_SIZE, MIN_CHUNK_SIZE);
    const one = new Map([[0, Buffer.alloc(32)]]);
    expect(() => holdBatch({ secret, algorithm: "sha256", pairs: [], digests: () => one })).toThrow(
      ValidationError,
    );
    expect(() =>
      holdBatch({ secret, algorithm: "sha256", pairs: [{ ...pair, plan }], digests: () => one }),
    ).toThrow(ValidationError);
    const both = new Map([
      [0, Buffer.alloc(32)],
      [1, Buffer.alloc(32)],
    ]);
    const { batch } = holdBatch({
      secret,
      algorithm: "sha256",
      pairs: [{ ...pair, plan }],
      digests: () => both,
    });
    expect(() => answerHeldBatch(secret, batch, () => one)).toThrow(ValidationError);
  });
});
