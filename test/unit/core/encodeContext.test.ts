import {
  type ChallengeContext,
  DIGEST_ALGORITHMS,
  DIRECTIONS,
  encodeContext,
  type ObjectIdentity,
  PROTOCOL_VERSION,
  ValidationError,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

// Small alphabets make neighbouring fields collide in content, which is where a
// naive concatenation (bucket "ab" + key "c" vs bucket "a" + key "bc") would fail.
const text = fc.oneof(
  fc.string({ unit: fc.constantFrom("a", "b", "\u0000", "\u0001", "é"), maxLength: 4 }),
  fc.string({ unit: "binary", maxLength: 12 }),
);
const u64 = fc.oneof(fc.nat({ max: 3 }), fc.maxSafeNat());
const identity: fc.Arbitrary<ObjectIdentity> = fc.record(
  { bucket: text, key: text, etag: text, versionId: text },
  { requiredKeys: ["bucket", "key", "etag"] },
);
const context: fc.Arbitrary<ChallengeContext> = fc.record({
  version: fc.oneof(fc.constant(PROTOCOL_VERSION), u64),
  direction: fc.constantFrom(...DIRECTIONS),
  algorithm: fc.constantFrom(...DIGEST_ALGORITHMS),
  source: identity,
  destination: identity,
  index: u64,
  offset: u64,
  length: u64,
});

/** Reads an encoding back; if this recovers every context, the encoding is injective. */
function decodeContext(bytes: Buffer): ChallengeContext {
  let at = 0;
  const string = () => {
    const length = bytes.readUInt32BE(at);
    const value = bytes.toString("utf8", at + 4, at + 4 + length);
    at += 4 + length;
    return value;
  };
  const u64 = () => {
    const value = Number(bytes.readBigUInt64BE(at));
    at += 8;
    return value;
  };
  const identity = (): ObjectIdentity => {
    const bucket = string();
    const key = string();
    const etag = string();
    const present = bytes[at++];
    return present === 1 ? { bucket, key, etag, versionId: string() } : { bucket, key, etag };
  };
  expect(string()).toBe("chunksync/challenge-context");
  const ctx = {
    version: u64(),
    direction: string() as ChallengeContext["direction"],
    algorithm: string() as ChallengeContext["algorithm"],
    source: identity(),
    destination: identity(),
    index: u64(),
    offset: u64(),
    length: u64(),
  };
  expect(at).toBe(bytes.length);
  return ctx;
}

describe("encodeContext", () => {
  test("decodes back to the same context (so it is injective)", () => {
    fc.assert(
      fc.property(context, (ctx) => {
        expect(decodeContext(encodeContext(ctx))).toEqual(ctx);
      }),
      { numRuns: 1000 },
    );
  });

  test("distinct contexts give distinct encodings", () => {
    fc.assert(
      fc.property(context, context, (a, b) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(b));
        expect(encodeContext(a).equals(encodeContext(b))).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  test("field boundaries, an absent versus an empty version id, and number fields all count", () => {
    const base: ChallengeContext = {
      version: PROTOCOL_VERSION,
      direction: "source-to-destination",
      algorithm: "sha256",
      source: { bucket: "ab", key: "c", etag: "e" },
      destination: { bucket: "d", key: "k", etag: "e" },
      index: 1,
      offset: 2,
      length: 3,
    };
    const variants: ChallengeContext[] = [
      base,
      { ...base, source: { bucket: "a", key: "bc", etag: "e" } },
      { ...base, source: { ...base.source, versionId: "" } },
      { ...base, source: { ...base.source, versionId: "null" } },
      { ...base, destination: { ...base.destination, versionId: "" } },
      { ...base, source: base.destination, destination: base.source },
      { ...base, direction: "destination-to-source" },
      { ...base, algorithm: "crc32c" },
      { ...base, index: 2, offset: 1 },
      { ...base, offset: 3, length: 2 },
      { ...base, version: 2 },
    ];
    const encodings = new Set(variants.map((ctx) => encodeContext(ctx).toString("hex")));
    expect(encodings.size).toBe(variants.length);
  });

  test("refuses strings that are not well-formed Unicode and numbers that are not u64-safe", () => {
    const ctx: ChallengeContext = {
      version: 1,
      direction: "source-to-destination",
      algorithm: "sha256",
      source: { bucket: "b", key: "k", etag: "e" },
      destination: { bucket: "b", key: "k", etag: "e" },
      index: 0,
      offset: 0,
      length: 1,
    };
    // "\uD800" and "\uDBFF" would both become U+FFFD in UTF-8.
    expect(() => encodeContext({ ...ctx, source: { ...ctx.source, key: "x\uD800" } })).toThrow(
      ValidationError,
    );
    expect(() => encodeContext({ ...ctx, destination: { ...ctx.destination, etag: "\uDC00" } })).toThrow(
      /destination\.etag/,
    );
    for (const bad of [-1, 0.5, 2 ** 53, Number.NaN]) {
      expect(() => encodeContext({ ...ctx, offset: bad })).toThrow(/offset/);
    }
  });
});
