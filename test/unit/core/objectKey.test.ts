import { checkKeyLength, KeyTooLongError, MAX_KEY_BYTES } from "@chunksync/core";
import { describe, expect, it } from "vitest";

describe("checkKeyLength (S3 keys are at most 1,024 bytes of UTF-8)", () => {
  it("accepts a key of exactly 1,024 bytes, however many characters", () => {
    expect(MAX_KEY_BYTES).toBe(1024);
    expect(() => checkKeyLength("a".repeat(1024))).not.toThrow();
    expect(() => checkKeyLength("é".repeat(512))).not.toThrow();
  });

  it("counts bytes, not characters: 513 two-byte characters are over", () => {
    const key = "é".repeat(513);
    let error: unknown;
    try {
      checkKeyLength(key);
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
