import {
  answerChallenge,
  answerHeldChallenge,
  type ChunkPlan,
  changedHeldChunks,
  chunksToAnswer,
  createChallenge,
  digestOf,
  holdChallenge,
  MIN_CHUNK_SIZE,
  planChunks,
  ValidationError,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  type ChallengePair,
  digestsOf,
  flipBit,
  identityArb as identity,
  pairFields,
} from "../../support/challengePair.js";

type World = ChallengePair;
const world: fc.Arbitrary<World> = fc
  .integer({ min: 1, max: 6 })
  .chain((count) => fc.record(pairFields(count)));

const every = (plan: ChunkPlan) => Array.from({ length: plan.count }, (_, i) => i);

function hold(w: World) {
  return holdChallenge({ ...w, indices: every(w.plan), digests: digestsOf(w.algorithm, w.data) });
}

describe("a challenge both sides answer in one process", () => {
  test("its values are the message protocol's (encode) for the same nonce, on both sides", () => {
    fc.assert(
      fc.property(world, (w) => {
        const { challenge, expected } = hold(w);
        // The messages draw a request id, then the nonce: give them the held challenge's nonce.
        const random = (n: number) => (n === 32 ? Buffer.from(challenge.nonce) : Buffer.alloc(n, 7));
        const digests = digestsOf(w.algorithm, w.data);
        const { request, expectation } = createChallenge({ ...w, variant: "encode", digests, random });
        expect(expectation.values.map((v) => v.value)).toEqual(expected.map((e) => e.toString("base64url")));
        const response = answerChallenge({
          secret: w.secret,
          request,
          destination: { etag: w.destination.etag, size: w.plan.size },
          digests,
        });
        const answers = answerHeldChallenge(w.secret, challenge, w.plan.size, digests);
        expect(response.answers.map((a) => a.value)).toEqual(answers.map((a) => a?.toString("base64url")));
      }),
    );
  });

  test("identical digests: nothing changed; one flipped bit anywhere: exactly that chunk", () => {
    fc.assert(
      fc.property(world, fc.nat(), fc.nat(), (w, chunk, bit) => {
        const { challenge, expected } = hold(w);
        const same = answerHeldChallenge(w.secret, challenge, w.plan.size, digestsOf(w.algorithm, w.data));
        expect(changedHeldChunks(challenge, expected, same)).toEqual([]);
        const changed = chunk % w.plan.count;
        const other = digestsOf(w.algorithm, flipBit(w.data, changed, bit));
        const answers = answerHeldChallenge(w.secret, challenge, w.plan.size, other);
        expect(changedHeldChunks(challenge, expected, answers)).toEqual([changed]);
      }),
    );
  });

  test("another secret, or a destination shorter than a chunk's end, never matches", () => {
    fc.assert(
      fc.property(world, (w) => {
        const { challenge, expected } = hold(w);
        const digests = digestsOf(w.algorithm, w.data);
        const otherSecret = Buffer.from(w.secret.map((b) => b ^ 1));
        const foreign = answerHeldChallenge(otherSecret, challenge, w.plan.size, digests);
        expect(changedHeldChunks(challenge, expected, foreign)).toEqual(every(w.plan));
        // One byte short: the last chunk lies past the end and is not answered.
        const short = answerHeldChallenge(w.secret, challenge, w.plan.size - 1, digests);
        expect(short.at(-1)).toBeUndefined();
        expect(changedHeldChunks(challenge, expected, short)).toContain(w.plan.count - 1);
      }),
    );
  });

  test("each challenge draws a fresh nonce: its values cannot be prepared or replayed", () => {
    fc.assert(
      fc.property(world, (w) => {
        const first = hold(w);
        const second = hold(w);
        expect(first.challenge.nonce.equals(second.challenge.nonce)).toBe(false);
        expect(first.expected[0]!.equals(second.expected[0]!)).toBe(false);
        // An answer made for the first challenge does not pass the second.
        const old = answerHeldChallenge(
          w.secret,
          first.challenge,
          w.plan.size,
          digestsOf(w.algorithm, w.data),
        );
        expect(changedHeldChunks(second.challenge, second.expected, old)).toEqual(every(w.plan));
      }),
      { numRuns: 20 },
    );
  });

  test("the answers are bound to both identities: another pair's expected values do not match", () => {
    fc.assert(
      fc.property(world, identity, (w, elsewhere) => {
        fc.pre(JSON.stringify(elsewhere) !== JSON.stringify(w.destination));
        const { challenge, expected } = hold(w);
        const moved = { ...challenge, destination: elsewhere };
        const answers = answerHeldChallenge(w.secret, moved, w.plan.size, digestsOf(w.algorithm, w.data));
        expect(changedHeldChunks(challenge, expected, answers)).toEqual(every(w.plan));
      }),
    );
  });

  test("a missing digest or an index outside the plan is refused, naming no digest", () => {
    const w: World = {
      secret: Buffer.from(Array.from({ length: 32 }, (_, i) => i + 9)),
      algorithm: "sha256",
      source: { bucket: "s", key: "k", etag: '"e"' },
      destination: { bucket: "d", key: "k", etag: '"e"' },
      plan: planChunks(2 * MIN_CHUNK_SIZE, MIN_CHUNK_SIZE),
      data: [Buffer.from("a"), Buffer.from("b")],
    };
    const one = new Map([[0, digestOf("sha256", w.data[0]!)]]);
    expect(() => holdChallenge({ ...w, indices: [0, 1], digests: one })).toThrow(ValidationError);
    const digests = digestsOf("sha256", w.data);
    expect(() => holdChallenge({ ...w, indices: [2], digests })).toThrow(ValidationError);
    expect(() => holdChallenge({ ...w, indices: [1, 0], digests })).toThrow(ValidationError);
    const { challenge } = holdChallenge({ ...w, indices: [0, 1], digests });
    expect(() => answerHeldChallenge(w.secret, challenge, w.plan.size, one)).toThrow(ValidationError);
    // Chunks the destination would answer are the ones the message protocol names.
    const ranges = chunksToAnswer(challenge, w.plan.size - 1).map((r) => r.index);
    expect(ranges).toEqual([0]);
  });
});
