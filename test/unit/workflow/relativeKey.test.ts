import { MAX_KEY_BYTES, ValidationError } from "@chunksync/core";
import { describe, expect, it } from "vitest";
import { SourceRecordSchema } from "../../../packages/workflow/src/context.js";
import { ObjectEvent, parseEvent } from "../../../packages/workflow/src/events.js";

const record = (key: string) => ({
  key,
  bucket: "src",
  sourceKey: "k",
  etag: '"e"',
  size: 1,
  archived: false,
  plan: { size: 1, chunkSize: 5 * 1024 * 1024, count: 1 },
  attributes: { metadata: {} },
});

/** The field a parse of `key` is refused on, or undefined when it is taken. */
function refusedOn(parse: () => unknown): string | undefined {
  try {
    parse();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toMatch(`at most ${MAX_KEY_BYTES} bytes of UTF-8`);
    return (error as ValidationError).field;
  }
}

describe("a relative key, in a step's event and in a record alike, is held to S3's 1024 bytes of UTF-8", () => {
  const parses = {
    event: (key: string) => () => parseEvent(ObjectEvent, { runId: "r", key }),
    record: (key: string) => () => parseEvent(SourceRecordSchema, record(key), "source"),
  };

  for (const [what, parse] of Object.entries(parses)) {
    it(`${what}: 1024 bytes are taken and 1025 refused, counted in bytes, not characters`, () => {
      expect(refusedOn(parse(""))).toBeUndefined();
      expect(refusedOn(parse("a".repeat(1024)))).toBeUndefined();
      expect(refusedOn(parse("a".repeat(1025)))).toBe("key");
      // 341 three-byte characters and one byte: 1024 bytes; one more byte is over.
      expect(refusedOn(parse(`${"日".repeat(341)}a`))).toBeUndefined();
      expect(refusedOn(parse(`${"日".repeat(341)}ab`))).toBe("key");
      // 342 characters, far below 1024 of them, are 1026 bytes.
      expect(refusedOn(parse("日".repeat(342)))).toBe("key");
      expect(refusedOn(parse("😀".repeat(257)))).toBe("key");
    });
  }
});
