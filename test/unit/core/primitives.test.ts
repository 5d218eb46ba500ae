import { createHmac, hkdfSync, randomBytes } from "node:crypto";
import {
  type ChallengeContext,
  constantTimeEqual,
  DIGEST_ALGORITHMS,
  DIGEST_LENGTHS,
  deriveChunkKey,
  deriveChunkNonce,
  drawNonce,
  drawPairingSecret,
  encodeAnswer,
  encodeContext,
  formatPairingSecret,
  hkdfSha256,
  NONCE_BYTES,
  openChunkNonce,
  parsePairingSecret,
  sealChunkNonce,
  ValidationError,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

const context: fc.Arbitrary<ChallengeContext> = fc.record({
  version: fc.constant(1),
  direction: fc.constantFrom("source-to-destination", "destination-to-source"),
  algorithm: fc.constantFrom(...DIGEST_ALGORITHMS),
  source: fc.record({ bucket: fc.string(), key: fc.string(), etag: fc.string() }),
  destination: fc.record({ bucket: fc.string(), key: fc.string(), etag: fc.string() }),
  index: fc.nat({ max: 9999 }),
  offset: fc.maxSafeNat(),
  length: fc.maxSafeNat(),
});
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b));
const withDigest = context.chain((ctx) =>
  fc.tuple(fc.constant(ctx), bytes(DIGEST_LENGTHS[ctx.algorithm]), bytes(DIGEST_LENGTHS[ctx.algorithm])),
);

describe("HKDF-SHA256", () => {
  test("RFC 5869 test case 1 (first 32 bytes of OKM)", () => {
    const ikm = Buffer.alloc(22, 0x0b);
    const salt = Buffer.from("000102030405060708090a0b0c", "hex");
    const info = Buffer.from("f0f1f2f3f4f5f6f7f8f9", "hex");
    expect(hkdfSha256(ikm, salt, info).toString("hex")).toBe(
      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf",
    );
  });

  test("equals node's hkdfSync wherever that accepts the input, and takes longer info too", () => {
    fc.assert(
      fc.property(fc.uint8Array(), fc.uint8Array(), fc.uint8Array({ maxLength: 1024 }), (ikm, salt, info) => {
        const expected = Buffer.from(hkdfSync("sha256", ikm, salt, info, 32));
        expect(hkdfSha256(ikm, salt, info).equals(expected)).toBe(true);
      }),
    );
    expect(hkdfSha256(randomBytes(32), randomBytes(32), randomBytes(5000))).toHaveLength(32);
  });
});

describe("decode variant primitives", () => {
  test("the right digest opens the sealed chunk nonce; any other gives other bytes without an error", () => {
    fc.assert(
      fc.property(withDigest, bytes(32), bytes(32), bytes(16), (tuple, secret, nonce, iv) => {
        const [ctx, digest, other] = tuple;
        const chunkNonce = deriveChunkNonce(nonce, ctx);
        const ct = sealChunkNonce(deriveChunkKey(secret, ctx, digest), chunkNonce, iv);
        expect(ct.equals(chunkNonce)).toBe(false);
        expect(openChunkNonce(deriveChunkKey(secret, ctx, digest), iv, ct).equals(chunkNonce)).toBe(true);
        fc.pre(!other.equals(digest));
        const wrong = openChunkNonce(deriveChunkKey(secret, ctx, other), iv, ct);
        expect(wrong).toHaveLength(NONCE_BYTES);
        expect(wrong.equals(chunkNonce)).toBe(false);
      }),
    );
  });

  test("chunk nonces and keys differ per chunk context", () => {
    fc.assert(
      fc.property(context, context, bytes(32), bytes(32), (a, b, secret, nonce) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(b));
        expect(deriveChunkNonce(nonce, a).equals(deriveChunkNonce(nonce, b))).toBe(false);
        fc.pre(a.algorithm === b.algorithm);
        const digest = Buffer.alloc(DIGEST_LENGTHS[a.algorithm], 7);
        expect(deriveChunkKey(secret, a, digest).equals(deriveChunkKey(secret, b, digest))).toBe(false);
      }),
    );
  });

  test("encode answers depend on the secret, the nonce and the digest", () => {
    fc.assert(
      fc.property(withDigest, bytes(32), bytes(32), bytes(32), (tuple, secret, nonce, otherNonce) => {
        const [ctx, digest, other] = tuple;
        const value = encodeAnswer(secret, ctx, nonce, digest);
        expect(value).toHaveLength(32);
        expect(encodeAnswer(secret, ctx, nonce, digest).equals(value)).toBe(true);
        if (!other.equals(digest)) expect(encodeAnswer(secret, ctx, nonce, other).equals(value)).toBe(false);
        if (!otherNonce.equals(nonce))
          expect(encodeAnswer(secret, ctx, otherNonce, digest).equals(value)).toBe(false);
      }),
    );
  });

  test("an encode answer is HMAC-SHA256(K, context || nonce || digest), whichever secret came before", () => {
    const secrets = fc.uint8Array({ minLength: 32, maxLength: 150 }).map((b) => Buffer.from(b));
    fc.assert(
      fc.property(withDigest, secrets, secrets, bytes(32), (tuple, secret, other, nonce) => {
        const [ctx, digest] = tuple;
        const hmac = (key: Buffer) =>
          createHmac("sha256", key).update(encodeContext(ctx)).update(nonce).update(digest).digest();
        expect(encodeAnswer(secret, ctx, nonce, digest).equals(hmac(secret))).toBe(true);
        expect(encodeAnswer(other, ctx, nonce, digest).equals(hmac(other))).toBe(true);
        // The same buffer changed in place is another secret.
        const changed = Buffer.from(secret);
        expect(encodeAnswer(changed, ctx, nonce, digest).equals(hmac(secret))).toBe(true);
        changed[0] = changed[0]! ^ 1;
        expect(encodeAnswer(changed, ctx, nonce, digest).equals(hmac(changed))).toBe(true);
      }),
    );
  });

  test("refuses a digest of the wrong length without echoing it", () => {
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
    const digest = randomBytes(20);
    expect(() => encodeAnswer(randomBytes(32), ctx, randomBytes(32), digest)).toThrow(
      "digest: expected a 32-byte sha256 digest",
    );
    expect(() => deriveChunkKey(randomBytes(32), ctx, digest)).toThrow(ValidationError);
    expect(() => encodeAnswer(randomBytes(31), ctx, randomBytes(32), randomBytes(32))).toThrow(/secret/);
  });
});

describe("constantTimeEqual", () => {
  test("agrees with byte equality and never throws", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
        expect(constantTimeEqual(a, b)).toBe(Buffer.from(a).equals(Buffer.from(b)));
        expect(constantTimeEqual(a, Uint8Array.from(a))).toBe(true);
      }),
    );
    const junk = [undefined, null, "abc", 3, {}, [1, 2]] as unknown as Uint8Array[];
    for (const x of junk) expect(constantTimeEqual(x, Buffer.from("abc"))).toBe(false);
  });
});

describe("nonces", () => {
  test("1,000,000 draws never repeat", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1_000_000; i++) {
      const nonce = drawNonce();
      if (nonce.length !== NONCE_BYTES) throw new Error("short nonce");
      seen.add(nonce.toString("latin1"));
    }
    expect(seen.size).toBe(1_000_000);
  });

  test("randomness is injectable, and a short source is refused", () => {
    expect(drawNonce((n) => Buffer.alloc(n, 1))).toEqual(Buffer.alloc(32, 1));
    expect(() => drawNonce((n) => Buffer.alloc(n - 1))).toThrow(/random source/);
  });
});

describe("pairing secrets", () => {
  test("drawn secrets are 32 fresh bytes and round-trip through text", () => {
    const a = drawPairingSecret();
    expect(a).toHaveLength(32);
    expect(a.equals(drawPairingSecret())).toBe(false);
    expect(parsePairingSecret(formatPairingSecret(a)).equals(a)).toBe(true);
  });

  test("accepts hex, base64 and base64url of at least 32 bytes, with or without a prefix", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 96 }), (raw) => {
        const secret = Buffer.from(raw);
        fc.pre(!secret.every((b) => b === secret[0]));
        for (const text of [
          secret.toString("hex"),
          secret.toString("hex").toUpperCase(),
          `hex:${secret.toString("hex")}`,
          `base64:${secret.toString("base64")}`,
          `base64url:${secret.toString("base64url")}`,
          ` ${secret.toString("base64")}\n`,
          // Wrapped as openssl rand -base64 prints it (64 columns), and as xxd -p prints hex (60).
          `${secret.toString("base64").replace(/.{64}/g, "$&\n")}\n`,
          `${secret.toString("hex").replace(/.{60}/g, "$&\r\n")}\n`,
        ]) {
          expect(parsePairingSecret(text).equals(secret)).toBe(true);
        }
        expect(parsePairingSecret(secret).equals(secret)).toBe(true);
      }),
    );
  });

  test.each([
    ["31 bytes of hex", randomBytes(31).toString("hex"), /31 bytes/],
    ["16 bytes of base64", randomBytes(16).toString("base64"), /16 bytes/],
    ["a placeholder", "0".repeat(64), /repeated/],
    ["not an encoding", "correct horse battery staple, correct horse battery", /neither/],
    ["an unknown prefix", `rot13:${randomBytes(32).toString("hex")}`, /only end a prefix/],
    ["a hex prefix on base64", `hex:${randomBytes(33).toString("base64")}`, /not hex digits/],
    ["an empty string", "", /empty/],
    ["a prefix with nothing after it", "base64:  ", /empty/],
    ["text after a prefixed secret", `hex:${randomBytes(32).toString("hex")}:more`, /only end a prefix/],
    // Also base64 of other bytes, were it not refused: 63 digits (47 bytes), O typed for 0 (48).
    [
      "an odd number of hex digits",
      "79432551495e314600d340ea161d117df033c84e3358bfd40e07051e30af760",
      /63 hex digits/,
    ],
    [
      "hex with a letter mistyped",
      `${randomBytes(16).toString("hex")}O${randomBytes(16).toString("hex").slice(1)}`,
      /but 1 character/,
    ],
  ])("refuses %s with a clear error that does not include it", (_, text, why) => {
    let error: unknown;
    try {
      parsePairingSecret(text, "CHUNKSYNC_SECRET");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const { field, message } = error as ValidationError;
    expect(field).toBe("CHUNKSYNC_SECRET");
    expect(message).toMatch(why);
    expect(message).toMatch(/at least 32/);
    if (text.length > 8) expect(message).not.toContain(text.slice(-16));
  });

  test("refuses a short byte buffer", () => {
    expect(() => parsePairingSecret(randomBytes(31))).toThrow(ValidationError);
  });
});
