import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { printable } from "../../../packages/cli/src/printable.js";

/** Reads a rendering back, as a person reading the escapes would: the inverse `printable` must have. */
function readBack(rendered: string): string {
  return rendered.replace(/\\(?:([nrt\\])|x([0-9a-f]{2})|u([0-9a-f]{4}))/g, (_, named, x, u) => {
    if (named !== undefined) return ({ n: "\n", r: "\r", t: "\t", "\\": "\\" } as const)[named as "n"];
    return String.fromCharCode(Number.parseInt(x ?? u, 16));
  });
}

/** What a terminal acts on instead of showing (the characters `printable` must leave out). */
const ACTED_ON = /[\p{Cc}\u2028\u2029\p{Bidi_Control}\p{Cs}]/u;

/** Any UTF-16 code unit, so lone surrogates and every control character come up. */
const anyText = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });

describe("printable", () => {
  it("names line feed, carriage return, tab and backslash", () => {
    expect(printable("a\nb\rc\td\\e")).toBe("a\\nb\\rc\\td\\\\e");
  });

  it("writes other C0 controls and DEL as \\xHH", () => {
    expect(printable("\x00\x01\x07\x08\x0b\x0c\x1b[2J\x1f\x7f")).toBe(
      "\\x00\\x01\\x07\\x08\\x0b\\x0c\\x1b[2J\\x1f\\x7f",
    );
  });

  it("writes C1 controls as \\u00HH, never as a byte", () => {
    expect(printable("\x80\x85\x9b2J\x9f")).toBe("\\u0080\\u0085\\u009b2J\\u009f");
  });

  it("writes the line and paragraph separators as \\uHHHH", () => {
    expect(printable("a\u2028b\u2029c")).toBe("a\\u2028b\\u2029c");
  });

  it("writes every bidirectional control as \\uHHHH", () => {
    const controls = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069";
    expect(printable(`x${controls}y`)).toBe(
      "x\\u061c\\u200e\\u200f\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069y",
    );
    expect(printable("invoice\u202efdp.exe")).toBe("invoice\\u202efdp.exe");
  });

  it("writes a lone surrogate as \\uHHHH and keeps a pair", () => {
    expect(printable("a\ud800b\udfffc")).toBe("a\\ud800b\\udfffc");
    expect(printable("😀")).toBe("😀");
  });

  it("leaves ordinary text, non-ASCII included, as it was", () => {
    for (const text of [
      "photos/2026/IMG_0001.jpg",
      " leading and trailing spaces ",
      "quote\"apos'<tag>&amp;%41",
      "unicode/ünï-日本-😀",
      "é (NFC) and e\u0301 (NFD)",
      "family 👨\u200d👩\u200d👧 with zero-width joiners",
      "\u00a0no-break space, \u00ad soft hyphen, \ufeff BOM",
      "",
    ]) {
      expect(printable(text)).toBe(text);
    }
  });

  it("reads back to exactly the text it renders, so two texts never render alike", () => {
    fc.assert(
      fc.property(anyText, (text) => {
        expect(readBack(printable(text))).toBe(text);
      }),
      { numRuns: 2000 },
    );
    // The pairs a rendering without an escaped backslash would confuse.
    expect(printable("a\\nb")).not.toBe(printable("a\nb"));
    expect(printable("\\x1b")).not.toBe(printable("\x1b"));
  });

  it("leaves nothing a terminal would act on: one line, whatever the text", () => {
    fc.assert(
      fc.property(anyText, (text) => {
        expect(printable(text)).not.toMatch(ACTED_ON);
      }),
      { numRuns: 2000 },
    );
  });
});
