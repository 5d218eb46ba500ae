import { etagMd5, hasMd5Form } from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

describe("ETags of MD5 form", () => {
  // Quotes, hex digits of both cases and a few others, around lengths near 32.
  const etag = fc
    .array(fc.constantFrom('"', "a", "F", "0", "9", "g", "-", " "), { minLength: 28, maxLength: 36 })
    .map((chars) => chars.join(""));
  const md5Hex = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString("hex"));

  test("hasMd5Form says whether etagMd5 finds an MD5, for any text", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          etag,
          md5Hex.map((h) => `"${h}"`),
          fc.string(),
        ),
        (e) => {
          expect(hasMd5Form(e)).toBe(etagMd5(e) !== undefined);
        },
      ),
      { numRuns: 5000 },
    );
  });

  test("an MD5 ETag, quoted or not, gives its bytes as base64; a multipart one none", () => {
    fc.assert(
      fc.property(md5Hex, (hex) => {
        const base64 = Buffer.from(hex, "hex").toString("base64");
        expect(etagMd5(`"${hex}"`)).toBe(base64);
        expect(etagMd5(hex.toUpperCase())).toBe(base64);
        expect(hasMd5Form(`"${hex}-2"`)).toBe(false);
        expect(hasMd5Form(`""${hex}"`)).toBe(false);
      }),
    );
  });
});
