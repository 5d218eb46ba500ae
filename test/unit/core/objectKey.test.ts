import {
  checkDestinationKey,
  compareUtf8,
  EmptyKeyError,
  INDEX_KEY_MARKER,
  INDEX_NAME_MAX_BYTES,
  isIndexKey,
  isObjectKey,
  KeyTooLongError,
  MAX_KEY_BYTES,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

describe("checkDestinationKey (S3 keys are 1 to 1,024 bytes of UTF-8)", () => {
  it("refuses an empty key, as the source prefix's own marker maps to at a bucket's root", () => {
    expect(() => checkDestinationKey("")).toThrow(EmptyKeyError);
    expect(() => checkDestinationKey("/")).not.toThrow();
  });

  it("accepts a key of exactly 1,024 bytes, however many characters", () => {
    expect(MAX_KEY_BYTES).toBe(1024);
    expect(() => checkDestinationKey("a".repeat(1024))).not.toThrow();
    expect(() => checkDestinationKey("é".repeat(512))).not.toThrow();
  });

  it("counts bytes, not characters: 513 two-byte characters are over", () => {
    const key = "é".repeat(513);
    let error: unknown;
    try {
      checkDestinationKey(key);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KeyTooLongError);
    expect((error as KeyTooLongError).code).toBe("KEY_TOO_LONG");
    expect((error as KeyTooLongError).key).toBe(key);
    expect((error as KeyTooLongError).message).toContain("1,026 bytes long");
    expect((error as KeyTooLongError).message).toContain(key);
  });
});

describe("isObjectKey (a key a request may name an object by)", () => {
  it("is false for the empty key and for one over 1,024 bytes, counted in UTF-8", () => {
    expect(isObjectKey("")).toBe(false);
    expect(isObjectKey("a".repeat(1024))).toBe(true);
    expect(isObjectKey("a".repeat(1025))).toBe(false);
    expect(isObjectKey("é".repeat(512))).toBe(true);
    expect(isObjectKey("é".repeat(513))).toBe(false);
    expect(isObjectKey("😀".repeat(256))).toBe(true);
    expect(isObjectKey(`${"😀".repeat(256)}a`)).toBe(false);
  });

  it("agrees with checkDestinationKey on every key", () => {
    const key = fc.string({ unit: "binary", maxLength: 600 });
    fc.assert(
      fc.property(key, (k) => {
        let accepted = true;
        try {
          checkDestinationKey(k);
        } catch {
          accepted = false;
        }
        expect(isObjectKey(k)).toBe(accepted);
      }),
    );
  });
});

describe("INDEX_NAME_MAX_BYTES (what an index adds after its prefix)", () => {
  it("holds the longest piece name, with a run start and a count grown past today's", () => {
    const longest = `${INDEX_KEY_MARKER}p-${(36 ** 9 - 1).toString(36)}-ffffffff-9999999.jsonl`;
    expect(isIndexKey(`idx/${longest}`)).toBe(true);
    expect(Buffer.byteLength(longest)).toBeLessThanOrEqual(INDEX_NAME_MAX_BYTES);
    expect(Buffer.byteLength(`${INDEX_KEY_MARKER}manifest.json`)).toBeLessThanOrEqual(INDEX_NAME_MAX_BYTES);
  });
});

describe("compareUtf8 (the order S3 lists keys in)", () => {
  const bytes = (a: string, b: string) => Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
  // Few distinct units, so that keys share prefixes and differ next to surrogates.
  const unit = fc.constantFrom(
    0x41,
    0x7f,
    0xe9,
    0x800,
    0xd83d,
    0xdbff,
    0xdc00,
    0xde00,
    0xe000,
    0xff61,
    0xffff,
  );
  const key = fc.array(unit, { maxLength: 6 }).map((units) => String.fromCharCode(...units));

  it("orders as Buffer.compare of the UTF-8 encodings, lone surrogates included", () => {
    fc.assert(
      fc.property(key, key, (a, b) => {
        expect(compareUtf8(a, b)).toBe(bytes(a, b));
      }),
      { numRuns: 20_000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), (a, b) => {
        expect(compareUtf8(a, b)).toBe(bytes(a, b));
      }),
    );
  });

  it("puts a character beyond U+FFFF after U+E000..U+FFFF, as UTF-8 does (UTF-16 would not)", () => {
    expect("\u{1F600}" < "\uFF61").toBe(true);
    expect(compareUtf8("a\u{1F600}", "a\uFF61")).toBe(1);
    expect(compareUtf8("a/b", "a/b")).toBe(0);
    expect(compareUtf8("a/b", "a/bc")).toBe(-1);
  });
});
