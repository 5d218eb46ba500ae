import { randomBytes } from "node:crypto";
import {
  answerChallenge,
  type ChallengeExpectation,
  type ChallengeRequest,
  type ChallengeResponse,
  type CompareResult,
  chunkRanges,
  chunksToAnswer,
  createChallenge,
  DIGEST_ALGORITHMS,
  type Direction,
  digestOf,
  MIN_CHUNK_SIZE,
  MiB,
  type ObjectIdentity,
  objectIdentitySchema,
  parseChallengeExpectation,
  parseChallengeRequest,
  parseChallengeResponse,
  planChunks,
  VARIANTS,
  ValidationError,
  type Variant,
  verifyResponse,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { type ChallengePair, digestsOf, flipBit, pairFields } from "../../support/challengePair.js";

/** A pair in miniature (see ChallengePair), with a variant and a direction. */
interface World extends ChallengePair {
  variant: Variant;
  direction: Direction;
}

const world = (minChunks = 1): fc.Arbitrary<World> =>
  fc.integer({ min: minChunks, max: 8 }).chain((count) =>
    fc.record({
      ...pairFields(count),
      variant: fc.constantFrom(...VARIANTS),
      direction: fc.constantFrom<Direction>("source-to-destination", "destination-to-source"),
    }),
  );

/** A JSON round trip through the parsers, as a message crossing between the sides. */
const wire = <T>(message: T, parse: (input: unknown) => T): T => parse(JSON.stringify(message));

function challenge(w: World): { request: ChallengeRequest; expectation: ChallengeExpectation } {
  const { request, expectation } = createChallenge({ ...w, digests: digestsOf(w.algorithm, w.data) });
  return {
    request: wire(request, parseChallengeRequest),
    expectation: wire(expectation, parseChallengeExpectation),
  };
}

/** The destination's side: digests of its own data for the chunks it holds, then the answer. */
function answer(
  w: World,
  request: ChallengeRequest,
  options: { data?: readonly Buffer[]; size?: number; secret?: Buffer } = {},
): ChallengeResponse {
  const data = options.data ?? w.data;
  const size = options.size ?? w.plan.size;
  const digests = new Map(
    chunksToAnswer(request, size).map((range) => [
      range.index,
      digestOf(request.algorithm, data[range.index]!),
    ]),
  );
  const response = answerChallenge({
    secret: options.secret ?? w.secret,
    request,
    destination: { etag: w.destination.etag, size },
    digests,
  });
  return wire(response, parseChallengeResponse);
}

const statuses = (result: CompareResult) => result.chunks.map((chunk) => chunk.status);
const all = (w: World, status: string) => Array.from({ length: w.plan.count }, () => status);

describe("challenge protocol (both variants)", () => {
  test("identical data: every chunk equal", () => {
    fc.assert(
      fc.property(world(), (w) => {
        const { request, expectation } = challenge(w);
        const result = verifyResponse({ request, expectation, response: answer(w, request) });
        expect(statuses(result)).toEqual(all(w, "equal"));
        expect(result.destinationExtraBytes).toBe(0);
      }),
    );
  });

  test("one flipped bit anywhere: exactly that chunk differs", () => {
    fc.assert(
      fc.property(world(), fc.nat(), fc.nat(), (w, chunk, bit) => {
        const changed = chunk % w.plan.count;
        const { request, expectation } = challenge(w);
        const response = answer(w, request, { data: flipBit(w.data, changed, bit) });
        const expected = all(w, "equal");
        expected[changed] = "differs";
        expect(statuses(verifyResponse({ request, expectation, response }))).toEqual(expected);
      }),
    );
  });

  test("a response to another request (another nonce) fails, even relabelled", () => {
    fc.assert(
      fc.property(world(), (w) => {
        const first = challenge(w);
        const second = challenge(w);
        const old = answer(w, first.request);
        const { request, expectation } = second;
        expect(statuses(verifyResponse({ request, expectation, response: old }))).toEqual(all(w, "differs"));
        const relabelled = { ...old, requestId: request.id };
        expect(statuses(verifyResponse({ request, expectation, response: relabelled }))).toEqual(
          all(w, "differs"),
        );
      }),
    );
  });

  test("an answer presented for another chunk index fails", () => {
    fc.assert(
      fc.property(world(2), fc.nat(), (w, shift) => {
        // Even when every chunk holds the same data, answers are bound to their index.
        const same = w.data.map(() => w.data[0]!);
        const v = { ...w, data: same };
        const { request, expectation } = challenge(v);
        const response = answer(v, request);
        const by = 1 + (shift % (w.plan.count - 1));
        const rotated = {
          ...response,
          answers: response.answers.map((a, i) => ({
            index: a.index,
            value: response.answers[(i + by) % response.answers.length]!.value!,
          })),
        };
        expect(statuses(verifyResponse({ request, expectation, response: rotated }))).toEqual(
          all(v, "differs"),
        );
      }),
    );
  });

  const retargets: [string, (request: ChallengeRequest) => ChallengeRequest][] = [
    ["source bucket", (r) => ({ ...r, source: { ...r.source, bucket: `${r.source.bucket}x` } })],
    ["source key", (r) => ({ ...r, source: { ...r.source, key: `${r.source.key}x` } })],
    ["source etag", (r) => ({ ...r, source: { ...r.source, etag: `${r.source.etag}x` } })],
    ["source version", (r) => ({ ...r, source: { ...r.source, versionId: `${r.source.versionId ?? ""}x` } })],
    [
      "destination bucket",
      (r) => ({ ...r, destination: { ...r.destination, bucket: `${r.destination.bucket}x` } }),
    ],
    ["destination key", (r) => ({ ...r, destination: { ...r.destination, key: `${r.destination.key}x` } })],
    [
      "destination etag",
      (r) => ({ ...r, destination: { ...r.destination, etag: `${r.destination.etag}x` } }),
    ],
    [
      "destination version",
      (r) => ({ ...r, destination: { ...r.destination, versionId: `${r.destination.versionId ?? ""}x` } }),
    ],
    ["swapped objects", (r) => ({ ...r, source: r.destination, destination: r.source })],
    [
      "direction",
      (r) => ({
        ...r,
        direction:
          r.direction === "source-to-destination" ? "destination-to-source" : "source-to-destination",
      }),
    ],
  ];

  test.each(retargets)("an answer computed for another %s fails", (_, retarget) => {
    fc.assert(
      fc.property(world(), (w) => {
        const { request, expectation } = challenge(w);
        const forwarded = retarget(request);
        fc.pre(JSON.stringify(forwarded) !== JSON.stringify(request));
        // Another object holding the same data answers the altered request; the attacker relabels the answer.
        const elsewhere = answer(w, forwarded);
        const response = {
          ...elsewhere,
          destination: { ...elsewhere.destination, etag: request.destination.etag },
        };
        expect(statuses(verifyResponse({ request, expectation, response }))).toEqual(all(w, "differs"));
      }),
      { numRuns: 40 },
    );
  });

  test("an answer computed with another pairing secret fails", () => {
    fc.assert(
      fc.property(world(), fc.uint8Array({ minLength: 32, maxLength: 32 }), (w, other) => {
        fc.pre(!Buffer.from(other).equals(w.secret));
        const { request, expectation } = challenge(w);
        const response = answer(w, request, { secret: Buffer.from(other) });
        expect(statuses(verifyResponse({ request, expectation, response }))).toEqual(all(w, "differs"));
      }),
    );
  });

  type Tamper = (answers: ChallengeResponse["answers"], at: number) => unknown[];
  const flipValue = (value: string) => {
    const bytes = Buffer.from(value, "base64url");
    bytes[bytes.length - 1]! ^= 0x01;
    return bytes.toString("base64url");
  };
  const replace = (answers: ChallengeResponse["answers"], at: number, value: unknown) =>
    answers.map((a, i) => (i === at ? { index: a.index, value } : a));
  const tampers: [string, Tamper][] = [
    ["a flipped bit", (answers, at) => replace(answers, at, flipValue(answers[at]!.value!))],
    ["31 bytes", (answers, at) => replace(answers, at, randomBytes(31).toString("base64url"))],
    ["33 bytes", (answers, at) => replace(answers, at, randomBytes(33).toString("base64url"))],
    ["padded base64", (answers, at) => replace(answers, at, `${answers[at]!.value!}=`)],
    [
      "standard base64",
      (answers, at) => replace(answers, at, answers[at]!.value!.replace(/_/g, "/").replace(/-/g, "+")),
    ],
    ["not base64url", (answers, at) => replace(answers, at, "!".repeat(43))],
    ["a number", (answers, at) => replace(answers, at, 42)],
    ["null", (answers, at) => replace(answers, at, null)],
    ["an empty string", (answers, at) => replace(answers, at, "")],
    [
      "both value and missing",
      (answers, at) => answers.map((a, i) => (i === at ? { ...a, missing: true } : a)),
    ],
    [
      "a false 'missing'",
      (answers, at) => answers.map((a, i) => (i === at ? { index: a.index, missing: true } : a)),
    ],
    ["a dropped answer", (answers, at) => answers.filter((_, i) => i !== at)],
    ["a repeated answer", (answers, at) => [...answers, answers[at]!]],
    [
      "a repeated, conflicting answer",
      (answers, at) => [...answers, { index: at, value: flipValue(answers[at]!.value!) }],
    ],
    ["an answer that is not an object", (answers, at) => answers.map((a, i) => (i === at ? "x" : a))],
  ];

  test.each(tampers)("a response value with %s: that chunk differs, nothing throws", (_, tamper) => {
    fc.assert(
      fc.property(world(), fc.nat(), (w, pick) => {
        const at = pick % w.plan.count;
        const { request, expectation } = challenge(w);
        const response = answer(w, request);
        const tampered = { ...response, answers: tamper(response.answers, at) } as ChallengeResponse;
        fc.pre(JSON.stringify(tampered) !== JSON.stringify(response));
        const expected = all(w, "equal");
        expected[at] = "differs";
        expect(statuses(verifyResponse({ request, expectation, response: tampered }))).toEqual(expected);
      }),
      { numRuns: 30 },
    );
  });

  test("a response for another destination version, or not a response at all: every chunk differs", () => {
    fc.assert(
      fc.property(world(), fc.anything(), (w, junk) => {
        const { request, expectation } = challenge(w);
        const response = answer(w, request);
        const bad: unknown[] = [
          junk,
          { ...response, destination: { ...response.destination, etag: `${response.destination.etag}x` } },
          { ...response, destination: { ...response.destination, size: -1 } },
          { ...response, destination: null },
          { ...response, answers: {} },
          { ...response, v: 2 },
          { ...response, requestId: undefined },
        ];
        for (const candidate of bad) {
          const result = verifyResponse({ request, expectation, response: candidate as ChallengeResponse });
          expect(statuses(result)).toEqual(all(w, "differs"));
        }
      }),
      { numRuns: 50 },
    );
  });

  test("a shorter destination: chunks past its end are missing, the rest still compare", () => {
    fc.assert(
      fc.property(world(), fc.nat(), (w, cut) => {
        const size = cut % w.plan.size;
        const { request, expectation } = challenge(w);
        const response = answer(w, request, { size });
        const expected = chunkRanges(w.plan).map((r) => (r.offset + r.length <= size ? "equal" : "missing"));
        const result = verifyResponse({ request, expectation, response });
        expect(statuses(result)).toEqual(expected);
        expect(result.destinationExtraBytes).toBe(0);
        // "missing" is believed only for ranges really past the reported end.
        const lying = { ...response, destination: { ...response.destination, size: w.plan.size } };
        expect(statuses(verifyResponse({ request, expectation, response: lying }))).toEqual(
          expected.map((s) => (s === "missing" ? "differs" : s)),
        );
      }),
    );
  });

  test("a longer destination: chunks compare and the extra bytes are reported", () => {
    fc.assert(
      fc.property(world(), fc.integer({ min: 1, max: 64 * MiB }), (w, extra) => {
        const { request, expectation } = challenge(w);
        const response = answer(w, request, { size: w.plan.size + extra });
        const result = verifyResponse({ request, expectation, response });
        expect(statuses(result)).toEqual(all(w, "equal"));
        expect(result.destinationExtraBytes).toBe(extra);
      }),
    );
  });

  test("a subset of chunks can be challenged", () => {
    fc.assert(
      fc.property(world(), fc.array(fc.nat()), (w, picks) => {
        const indices = picks.map((p) => p % w.plan.count);
        const { request, expectation } = createChallenge({
          ...w,
          indices,
          digests: digestsOf(w.algorithm, w.data),
        });
        const wanted = [...new Set(indices)].sort((a, b) => a - b);
        expect(request.indices).toEqual(wanted);
        const result = verifyResponse({ request, expectation, response: answer(w, request) });
        expect(result.chunks).toEqual(wanted.map((index) => ({ index, status: "equal" })));
      }),
    );
  });

  test("real chunk data: a 12 MiB object with one changed byte", () => {
    const source = randomBytes(12 * MiB);
    const destination = Buffer.from(source);
    destination[7 * MiB]! ^= 0x80;
    const plan = planChunks(source.length, MIN_CHUNK_SIZE);
    for (const variant of VARIANTS) {
      for (const algorithm of DIGEST_ALGORITHMS) {
        const chunkDigests = (object: Buffer) =>
          new Map(
            chunkRanges(plan).map((r) => [
              r.index,
              digestOf(algorithm, object.subarray(r.offset, r.offset + r.length)),
            ]),
          );
        const secret = randomBytes(32);
        const ids = {
          source: { bucket: "s", key: "a/b", etag: '"1"' },
          destination: { bucket: "d", key: "a/b", etag: '"2"' },
        };
        const { request, expectation } = createChallenge({
          secret,
          variant,
          algorithm,
          plan,
          ...ids,
          digests: chunkDigests(source),
        });
        const response = answerChallenge({
          secret,
          request,
          destination: { etag: '"2"', size: destination.length },
          digests: chunkDigests(destination),
        });
        expect(statuses(verifyResponse({ request, expectation, response }))).toEqual([
          "equal",
          "differs",
          "equal",
        ]);
      }
    }
  });
});

describe("caller errors", () => {
  const plan = planChunks(2 * MIN_CHUNK_SIZE, MIN_CHUNK_SIZE);
  const ids = {
    source: { bucket: "s", key: "k", etag: "e" },
    destination: { bucket: "d", key: "k", etag: "f" },
  };
  const digests = new Map([0, 1].map((i) => [i, digestOf("sha256", Buffer.of(i))]));
  const base = {
    secret: randomBytes(32),
    variant: "encode" as const,
    algorithm: "sha256" as const,
    plan,
    ...ids,
    digests,
  };

  function fieldOf(fn: () => unknown): [string, string] {
    try {
      fn();
    } catch (error) {
      if (error instanceof ValidationError) return [error.name, error.field];
      throw error;
    }
    throw new Error("expected an error");
  }

  test("createChallenge names the offending input", () => {
    expect(fieldOf(() => createChallenge({ ...base, secret: randomBytes(16) }))).toEqual([
      "ValidationError",
      "secret",
    ]);
    expect(fieldOf(() => createChallenge({ ...base, digests: new Map([[0, digests.get(0)!]]) }))).toEqual([
      "ValidationError",
      "digests[1]",
    ]);
    expect(fieldOf(() => createChallenge({ ...base, algorithm: "sha1" }))).toEqual([
      "ValidationError",
      "digests[0]",
    ]);
    expect(fieldOf(() => createChallenge({ ...base, indices: [2] }))).toEqual(["ValidationError", "indices"]);
    expect(fieldOf(() => createChallenge({ ...base, plan: { ...plan, count: 3 } }))).toEqual([
      "ValidationError",
      "plan.count",
    ]);
    expect(
      fieldOf(() => createChallenge({ ...base, source: { ...ids.source, key: "k".repeat(1025) } })),
    ).toEqual(["InvalidMessageError", "source.key"]);
    const extra = { ...ids.destination, size: 1 } as ObjectIdentity;
    expect(fieldOf(() => createChallenge({ ...base, destination: extra }))).toEqual([
      "InvalidMessageError",
      "destination.size",
    ]);
    expect(fieldOf(() => createChallenge({ ...base, direction: "sideways" as Direction }))).toEqual([
      "InvalidMessageError",
      "direction",
    ]);
  });

  test("createChallenge accepts exactly the identities the destination's check accepts", () => {
    const text = (max: number) =>
      fc.oneof(
        fc.string({ minLength: 0, maxLength: 4 }),
        fc.string({ unit: "binary", minLength: 1, maxLength: 4 }),
        fc.constantFrom("\uDC00", "a\uD800b", "\uD83D\uDE00"),
        fc.integer({ min: max - 2, max: max + 1 }).map((n) => "x".repeat(n)),
        fc.integer({ min: Math.floor(max / 2) - 1, max: Math.floor(max / 2) + 1 }).map((n) => "é".repeat(n)),
        fc.constantFrom(undefined, 7, null),
      );
    const identity = fc.record(
      {
        bucket: text(255),
        key: text(1024),
        etag: text(256),
        versionId: text(1024),
        other: fc.constantFrom(undefined, "x"),
      },
      { requiredKeys: ["bucket", "key", "etag"] },
    );
    fc.assert(
      fc.property(identity, identity, (source, destination) => {
        const ok = [source, destination].every(
          (id) => objectIdentitySchema().safeParse(JSON.parse(JSON.stringify(id))).success,
        );
        const made = (() => {
          try {
            return createChallenge({
              ...base,
              source: source as ObjectIdentity,
              destination: destination as ObjectIdentity,
            });
          } catch (error) {
            // InvalidMessageError, or a ValidationError of the context's own check of the text.
            expect(error).toBeInstanceOf(ValidationError);
            return undefined;
          }
        })();
        expect(made !== undefined).toBe(ok);
        // What it made is what the destination's check of it on the wire gives.
        if (made) expect(made.request).toEqual(parseChallengeRequest(JSON.stringify(made.request)));
      }),
      { numRuns: 1000 },
    );
  });

  test("a request is kept as checked: frozen, and a copy is checked again", () => {
    const { request } = createChallenge(base);
    expect(Object.isFrozen(request) && Object.isFrozen(request.destination)).toBe(true);
    expect(Object.isFrozen(request.indices) && Object.isFrozen(request.plan)).toBe(true);
    expect(() => {
      (request.destination as { key: string }).key = "k".repeat(2000);
    }).toThrow(TypeError);
    const decode = createChallenge({ ...base, variant: "decode" }).request;
    expect(Object.isFrozen(decode.sealed) && Object.isFrozen(decode.sealed![0])).toBe(true);
    const destination = { etag: "f", size: plan.size };
    const copy = { ...request, destination: { ...request.destination, key: "k".repeat(2000) } };
    expect(
      fieldOf(() => answerChallenge({ secret: base.secret, request: copy, destination, digests })),
    ).toEqual(["InvalidMessageError", "destination.key"]);
  });

  test("answerChallenge re-checks the request and names a missing digest", () => {
    const { request } = createChallenge(base);
    const destination = { etag: "f", size: plan.size };
    expect(
      fieldOf(() =>
        answerChallenge({
          secret: base.secret,
          request: { ...request, indices: [1, 0] },
          destination,
          digests,
        }),
      ),
    ).toEqual(["InvalidMessageError", "indices[1]"]);
    expect(
      fieldOf(() =>
        answerChallenge({
          secret: base.secret,
          request,
          destination,
          digests: new Map([[1, digests.get(1)!]]),
        }),
      ),
    ).toEqual(["ValidationError", "digests[0]"]);
    expect(
      fieldOf(() =>
        answerChallenge({ secret: base.secret, request, destination: { etag: "f", size: -1 }, digests }),
      ),
    ).toEqual(["ValidationError", "destination.size"]);
    // The response carries the ETag as read; one the source would refuse fails here.
    expect(
      fieldOf(() =>
        answerChallenge({
          secret: base.secret,
          request,
          destination: { etag: "e".repeat(257), size: 1 },
          digests,
        }),
      ),
    ).toEqual(["InvalidMessageError", "destination.etag"]);
    // Chunks past the destination's end need no digest.
    const short = answerChallenge({
      secret: base.secret,
      request,
      destination: { etag: "f", size: 1 },
      digests: new Map(),
    });
    expect(short.answers).toEqual([
      { index: 0, missing: true },
      { index: 1, missing: true },
    ]);
  });

  test("verifyResponse refuses an expectation that belongs to another request", () => {
    const first = createChallenge(base);
    const second = createChallenge(base);
    const response = answerChallenge({
      secret: base.secret,
      request: first.request,
      destination: { etag: "f", size: plan.size },
      digests,
    });
    expect(
      fieldOf(() => verifyResponse({ request: first.request, expectation: second.expectation, response })),
    ).toEqual(["ValidationError", "expectation.requestId"]);
  });
});

describe("secrecy: no raw digest in any message, expectation or error", () => {
  function encodings(digest: Buffer): string[] {
    const base64 = digest.toString("base64");
    return [
      digest.toString("hex"),
      digest.toString("hex").toUpperCase(),
      base64,
      base64.replace(/=+$/, ""),
      digest.toString("base64url"),
    ];
  }

  function errorText(fn: () => unknown): string {
    try {
      fn();
    } catch (error) {
      const e = error as Error & { details?: unknown };
      return `${e.name} ${e.message} ${JSON.stringify(e.details ?? {})} ${String(e.stack)}`;
    }
    return "";
  }

  test("a scan of every message of a run finds none", () => {
    fc.assert(
      fc.property(world(), fc.nat(), fc.nat(), (w, chunk, bit) => {
        const changed = flipBit(w.data, chunk % w.plan.count, bit);
        const digests = [
          ...digestsOf(w.algorithm, w.data).values(),
          ...digestsOf(w.algorithm, changed).values(),
        ];
        const { request, expectation } = challenge(w);
        const response = answer(w, request, { data: changed, size: Math.max(0, w.plan.size - MiB) });
        const result = verifyResponse({ request, expectation, response });
        const sourceDigests = digestsOf(w.algorithm, w.data);
        const short = new Map([...sourceDigests].map(([i, d]) => [i, d.subarray(1)]));
        const texts = [
          JSON.stringify(request),
          JSON.stringify(expectation),
          JSON.stringify(response),
          JSON.stringify(result),
          // Errors that sit right next to digests must not carry them either.
          errorText(() => createChallenge({ ...w, digests: short })),
          errorText(() => createChallenge({ ...w, digests: new Map() })),
          errorText(() =>
            answerChallenge({
              secret: w.secret,
              request,
              destination: { etag: "e", size: w.plan.size },
              digests: short,
            }),
          ),
          errorText(() =>
            answerChallenge({
              secret: w.secret.subarray(0, 16),
              request,
              destination: { etag: "e", size: 0 },
              digests: sourceDigests,
            }),
          ),
        ];
        const haystack = texts.join("\n");
        for (const digest of digests) {
          for (const encoded of encodings(digest)) expect(haystack).not.toContain(encoded);
        }
        expect(texts.slice(4).every((text) => text.length > 0)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
