import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  fromBase64url,
  fromBase64urlInto,
  toBase64url,
} from "../../../packages/core/src/challenge/base64url.js";

/** The canonical check by its definition: the alphabet, then the value encodes back to the same text. */
function reference(text: unknown, bytes: number): Buffer | undefined {
  if (
    typeof text !== "string" ||
    text.length !== Math.ceil((bytes * 4) / 3) ||
    !/^[A-Za-z0-9_-]*$/.test(text)
  )
    return undefined;
  const decoded = Buffer.from(text, "base64url");
  return decoded.length === bytes && decoded.toString("base64url") === text ? decoded : undefined;
}

describe("fromBase64url", () => {
  it("gives back any value from its encoding", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70 }), (value) => {
        expect(fromBase64url(toBase64url(value), value.length)).toEqual(Buffer.from(value));
      }),
    );
  });

  it("accepts exactly the canonical spellings: what encodes back to itself", () => {
    const spelling = fc.string({
      unit: fc.constantFrom(..."AQgwBCDEfz09_-+/=. \u00e9\u{1F600}".split(/(?:)/u)),
      maxLength: 46,
    });
    fc.assert(
      // Mostly the byte count the length stands for, so that canonical spellings come up often.
      fc.property(spelling, fc.integer({ min: -1, max: 1 }), (text, off) => {
        const bytes = Math.max(0, Math.floor((text.length * 3) / 4) + off);
        expect(fromBase64url(text, bytes)).toEqual(reference(text, bytes));
      }),
      { numRuns: 2000 },
    );
    // A 32-byte value's last character carries two spare bits: only A, Q, g, w end it canonically.
    const nonce = toBase64url(Buffer.alloc(32, 0xff));
    expect(fromBase64url(nonce, 32)).toBeDefined();
    expect(fromBase64url(`${nonce.slice(0, -1)}9`, 32)).toBeUndefined();
    expect(fromBase64url(`${nonce.slice(0, -1)}=`, 32)).toBeUndefined();
    expect(fromBase64url(42, 32)).toBeUndefined();
  });

  it("decodes into a typed array's bytes exactly what it would give, and writes nothing else", () => {
    const spelling = fc.oneof(
      fc.uint8Array({ maxLength: 40 }).map(toBase64url),
      fc.string({ unit: fc.constantFrom(..."AQgwBz09_-=. ".split("")), maxLength: 40 }),
    );
    fc.assert(
      fc.property(spelling, fc.integer({ min: -1, max: 1 }), (text, off) => {
        const bytes = Math.max(0, Math.floor((text.length * 3) / 4) + off);
        // A view between two guard bytes of a larger array, as a list's lengths sit in theirs.
        const whole = new Uint8Array(bytes + 2).fill(0xa5);
        const into = whole.subarray(1, bytes + 1);
        const expected = reference(text, bytes);
        expect(fromBase64urlInto(text, into)).toBe(expected !== undefined);
        if (expected) expect(Buffer.from(into)).toEqual(expected);
        expect([whole[0], whole[bytes + 1]]).toEqual([0xa5, 0xa5]);
      }),
      { numRuns: 1000 },
    );
  });
});
