import {
  type ChallengeExpectation,
  type ChallengeRequest,
  type ChallengeResponse,
  createChallenge,
  digestOf,
  InvalidMessageError,
  MAX_MESSAGE_BYTES,
  MIN_CHUNK_SIZE,
  parseChallengeExpectation,
  parseChallengeRequest,
  parseChallengeResponse,
  planChunks,
  ValidationError,
  type Variant,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

const parsers = {
  request: parseChallengeRequest,
  response: parseChallengeResponse,
  expectation: parseChallengeExpectation,
} as const;
type Kind = keyof typeof parsers;

function sample(variant: Variant): {
  request: ChallengeRequest;
  response: ChallengeResponse;
  expectation: ChallengeExpectation;
} {
  const plan = planChunks(3 * MIN_CHUNK_SIZE - 1, MIN_CHUNK_SIZE);
  const digests = new Map([0, 1, 2].map((i) => [i, digestOf("sha256", Buffer.of(i))]));
  const { request, expectation } = createChallenge({
    secret: Buffer.alloc(32, 9),
    variant,
    algorithm: "sha256",
    source: { bucket: "src", key: "dir/file", etag: '"abc"', versionId: "v1" },
    destination: { bucket: "dst", key: "dir/file", etag: '"def"' },
    plan,
    digests,
  });
  const response: ChallengeResponse = {
    v: 1,
    requestId: request.id,
    destination: { etag: '"def"', size: 2 * MIN_CHUNK_SIZE },
    answers: [
      { index: 0, value: expectation.values[0]!.value },
      { index: 1, value: expectation.values[1]!.value },
      { index: 2, missing: true },
    ],
  };
  return { request, response, expectation };
}
const samples = { encode: sample("encode"), decode: sample("decode") };

/** Runs a parser and returns the error, which must be an InvalidMessageError naming a field. */
function refusal(kind: Kind, input: unknown): InvalidMessageError | undefined {
  try {
    parsers[kind](input);
    return undefined;
  } catch (error) {
    if (!(error instanceof InvalidMessageError)) throw error;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.code).toBe("INVALID_MESSAGE");
    expect(error.name).toBe("InvalidMessageError");
    expect(error.field.length).toBeGreaterThan(0);
    expect(error.message.startsWith(`${error.field}: expected `)).toBe(true);
    // Nothing the sender chose is echoed at length.
    expect(error.message.length).toBeLessThan(400);
    return error;
  }
}

const kinds: Kind[] = ["request", "response", "expectation"];

describe("valid messages", () => {
  test.each(["encode", "decode"] as const)("%s messages round-trip as objects and as JSON", (variant) => {
    const messages = samples[variant];
    for (const kind of kinds) {
      expect(parsers[kind](messages[kind])).toEqual(messages[kind]);
      expect(parsers[kind](JSON.stringify(messages[kind]))).toEqual(messages[kind]);
    }
  });
});

describe("invalid messages", () => {
  test.each([
    ["request", (m: ChallengeRequest) => ({ ...m, v: 2 }), "v"],
    ["request", (m: ChallengeRequest) => ({ ...m, v: "1" }), "v"],
    ["response", (m: ChallengeResponse) => ({ ...m, v: 0 }), "v"],
    ["expectation", (m: ChallengeExpectation) => ({ ...m, v: 2 }), "v"],
  ] as const)("wrong version in a %s names the supported one", (kind, mutate, field) => {
    const error = refusal(kind, (mutate as (m: unknown) => unknown)(samples.encode[kind]));
    expect(error?.field).toBe(field);
    expect(error?.message).toContain("protocol version 1");
  });

  const request = samples.encode.request;
  const decodeRequest = samples.decode.request;
  const response = samples.encode.response;
  test.each(
    (
      [
        ["request", { ...request, id: "short" }, "id"],
        ["request", { ...request, variant: "other" }, "variant"],
        ["request", { ...request, algorithm: "sha512" }, "algorithm"],
        ["request", { ...request, direction: "sideways" }, "direction"],
        ["request", { ...request, source: { ...request.source, key: "k".repeat(1025) } }, "source.key"],
        ["request", { ...request, source: { ...request.source, key: "é".repeat(513) } }, "source.key"],
        ["request", { ...request, source: { ...request.source, key: "\uD800" } }, "source.key"],
        ["request", { ...request, source: { ...request.source, key: "" } }, "source.key"],
        [
          "request",
          { ...request, destination: { ...request.destination, etag: "e".repeat(257) } },
          "destination.etag",
        ],
        ["request", { ...request, destination: { ...request.destination, extra: 1 } }, "destination.extra"],
        ["request", { ...request, plan: { ...request.plan, count: 2 } }, "plan.count"],
        ["request", { ...request, plan: { ...request.plan, chunkSize: 1024 } }, "plan.chunkSize"],
        ["request", { ...request, indices: [0, 0, 1] }, "indices[1]"],
        ["request", { ...request, indices: [2, 1] }, "indices[1]"],
        ["request", { ...request, indices: [0, 3] }, "indices[1]"],
        ["request", { ...request, indices: [0, 1.5] }, "indices[1]"],
        ["request", { ...request, nonce: undefined }, "nonce"],
        ["request", { ...request, nonce: `${request.nonce}A` }, "nonce"],
        ["request", { ...request, sealed: decodeRequest.sealed }, "sealed"],
        ["request", { ...decodeRequest, nonce: request.nonce }, "nonce"],
        ["request", { ...decodeRequest, sealed: undefined }, "sealed"],
        ["request", { ...decodeRequest, sealed: decodeRequest.sealed!.slice(1) }, "sealed"],
        ["request", { ...decodeRequest, sealed: [...decodeRequest.sealed!].reverse() }, "sealed[0].index"],
        [
          "request",
          { ...decodeRequest, sealed: [{ ...decodeRequest.sealed![0]!, iv: "x" }] },
          "sealed[0].iv",
        ],
        ["response", { ...response, answers: [{ index: 0 }] }, "answers[0]"],
        [
          "response",
          { ...response, answers: [{ index: 0, value: response.answers[0]!.value, missing: true }] },
          "answers[0]",
        ],
        ["response", { ...response, answers: [{ index: 0, missing: false }] }, "answers[0].missing"],
        ["response", { ...response, answers: [{ index: 0, value: "A".repeat(44) }] }, "answers[0].value"],
        ["response", { ...response, answers: [...response.answers].reverse() }, "answers[1]"],
        ["response", { ...response, answers: [{ index: -1, missing: true }] }, "answers[0].index"],
        ["response", { ...response, destination: { etag: "e", size: -1 } }, "destination.size"],
        ["response", { ...response, destination: { etag: "e" } }, "destination.size"],
        ["response", { ...response, requestId: 7 }, "requestId"],
        [
          "response",
          { ...response, ["a very long key ".repeat(100)]: 1 },
          `["${"a very long key ".repeat(4)}..."]`,
        ],
        ["response", [], "challengeResponse"],
        ["response", "null", "challengeResponse"],
        ["response", "{", "challengeResponse"],
        ["response", undefined, "challengeResponse"],
        [
          "expectation",
          { ...samples.encode.expectation, values: [{ index: 0, value: "x" }] },
          "values[0].value",
        ],
        ["expectation", { ...samples.encode.expectation, variant: "both" }, "variant"],
      ] as [Kind, unknown, string][]
    ).map(([kind, input, field]) => [kind, field, input] as const),
  )("%s: a bad %s is refused, naming it", (kind, field, input) => {
    const error = refusal(kind, input);
    expect(error?.field).toBe(field);
  });

  test("missing fields say so", () => {
    const { id: _, ...rest } = request;
    expect(refusal("request", rest)?.message).toMatch(/^id: expected .*missing/);
  });

  test("oversize messages are refused before parsing", () => {
    const big = JSON.stringify({ ...response, padding: "x".repeat(MAX_MESSAGE_BYTES) });
    expect(refusal("response", big)?.message).toMatch(/at most 4.0 MiB/);
    expect(refusal("response", { ...response, padding: "x".repeat(MAX_MESSAGE_BYTES) })?.field).toBe(
      "challengeResponse",
    );
    // Multi-byte characters count as bytes, not as characters.
    const wide = JSON.stringify({ ...response, padding: "€".repeat(MAX_MESSAGE_BYTES / 3 + 10) });
    expect(wide.length).toBeLessThan(MAX_MESSAGE_BYTES);
    expect(refusal("response", wide)?.field).toBe("challengeResponse");
  });

  test("values JSON cannot represent are refused, never a TypeError", () => {
    const circular: Record<string, unknown> = { v: 1 };
    circular.self = circular;
    const inputs: unknown[] = [
      circular,
      { v: 1, n: 10n },
      {
        toJSON: () => {
          throw new Error("boom");
        },
      },
      () => 1,
      Symbol("x"),
      new Proxy(
        {},
        {
          ownKeys: () => {
            throw new Error("trap");
          },
        },
      ),
    ];
    for (const input of inputs)
      for (const kind of kinds) expect(refusal(kind, input)).toBeInstanceOf(InvalidMessageError);
  });

  test.each(kinds)(
    "fuzz: arbitrary values never make the %s parser throw anything but InvalidMessageError",
    (kind) => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.anything({
              withBigInt: true,
              withBoxedValues: true,
              withMap: true,
              withSet: true,
              withNullPrototype: true,
            }),
            fc.jsonValue(),
            fc.json(),
            fc.string(),
            fc.string({ unit: "binary" }),
          ),
          (input) => {
            expect(refusal(kind, input)).toBeInstanceOf(InvalidMessageError);
          },
        ),
        { numRuns: 500 },
      );
    },
  );

  // Valid messages with one part replaced by something arbitrary: deep, well-typed-looking inputs.
  function mutate(value: unknown, path: (string | number)[], replacement: unknown): unknown {
    if (path.length === 0) return replacement;
    const [head, ...rest] = path;
    if (Array.isArray(value)) {
      const copy = [...value];
      copy[Number(head) % Math.max(1, copy.length)] = mutate(
        copy[Number(head) % Math.max(1, copy.length)],
        rest,
        replacement,
      );
      return copy;
    }
    if (typeof value === "object" && value !== null) {
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record);
      const key = typeof head === "number" ? (keys[head % Math.max(1, keys.length)] ?? "x") : head!;
      return { ...record, [key]: mutate(record[key], rest, replacement) };
    }
    return replacement;
  }

  test.each(kinds)(
    "fuzz: mutated valid %s messages are parsed or refused with a field, nothing else",
    (kind) => {
      fc.assert(
        fc.property(
          fc.constantFrom("encode", "decode" as const),
          fc.array(fc.nat({ max: 20 }), { maxLength: 4 }),
          fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.string(), fc.integer(), fc.double()),
          (variant, path, replacement) => {
            const input = mutate(samples[variant as Variant][kind], path, replacement);
            refusal(kind, input);
          },
        ),
        { numRuns: 1000 },
      );
    },
  );

  test.each(kinds)("fuzz: truncated %s JSON is refused as invalid JSON", (kind) => {
    fc.assert(
      fc.property(fc.constantFrom("encode", "decode" as const), fc.nat(), (variant, cut) => {
        const text = JSON.stringify(samples[variant as Variant][kind]);
        const error = refusal(kind, text.slice(0, cut % text.length));
        expect(error?.field).toBe(`challenge${kind[0]!.toUpperCase()}${kind.slice(1)}`);
      }),
    );
  });
});
