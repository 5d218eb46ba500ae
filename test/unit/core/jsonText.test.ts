import { jsonText } from "@chunksync/core";
import { describe, expect, it } from "vitest";

/** What a terminal acts on rather than shows (the line feed between JSON lines aside). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are the point
const RAW_CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029\p{Bidi_Control}]/u;

describe("jsonText", () => {
  it("escapes every character a terminal acts on, and parses back to exactly the text it was given", () => {
    const all: string[] = [];
    for (let code = 0; code <= 0xffff; code++)
      if (code < 0xd800 || code > 0xdfff) all.push(String.fromCharCode(code));
    const text = `${all.join("")}😀\ud800`;
    const written = jsonText({ key: text, nested: [text] });
    expect(written).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(written)).toEqual({ key: text, nested: [text] });
  });

  it("writes what JSON.stringify writes where nothing needs escaping", () => {
    const value = { key: "odd/ünï-日本-😀", size: 3, list: [null, true] };
    expect(jsonText(value)).toBe(JSON.stringify(value));
    expect(jsonText({ k: "\u009b2J\u202e" })).toBe('{"k":"\\u009b2J\\u202e"}');
  });
});
