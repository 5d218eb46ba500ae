import stringWidth from "string-width";
import { describe, expect, it } from "vitest";
import { table } from "../../../packages/cli/src/format.js";
import { printable } from "../../../packages/cli/src/printable.js";

describe("the width a table measures a cell by: terminal columns", () => {
  it("two for East Asian Wide and Fullwidth characters and emoji, none for combining marks and joiners", () => {
    expect(stringWidth("abc")).toBe(3);
    expect(stringWidth("日本語")).toBe(6);
    expect(stringWidth("ＡＢ")).toBe(4);
    expect(stringWidth("😀")).toBe(2);
    expect(stringWidth("👩‍💻")).toBe(2);
    expect(stringWidth("e\u0301")).toBe(1);
    expect(stringWidth("a\u200bb")).toBe(2);
  });

  it("an escaped control character as the characters of its escape", () => {
    expect(stringWidth(printable("a\x1b[2Jb"))).toBe("a\\x1b[2Jb".length);
  });
});

describe("table", () => {
  it("lines up every column on a terminal whatever the keys hold", () => {
    const rendered = table([
      ["key", "chunk", "offset"],
      ["plain/a.txt", "0", "0"],
      ["写真/東京.jpg", "12", "62914560"],
      ["emoji/😀🎉.png", "3", "15728640"],
      ["cafe\u0301/menu", "1", "5242880"],
    ]);
    expect(rendered.split("\n")).toEqual([
      "key             chunk    offset",
      "--------------  -----  --------",
      "plain/a.txt         0         0",
      "写真/東京.jpg      12  62914560",
      "emoji/😀🎉.png      3  15728640",
      "cafe\u0301/menu           1   5242880",
    ]);
    for (const line of rendered.split("\n")) expect(stringWidth(line)).toBe(31);
  });

  it("puts a key too long for the key column on a line of its own, the rest of its row under the columns", () => {
    const long = `deep/${"x".repeat(300)}.bin`;
    const rendered = table([
      ["key", "offset", "status"],
      ["a.bin", "0", "differs"],
      [long, "1048576", "missing"],
      ["b.bin", "5", "differs"],
    ]);
    const key = "key".padEnd(60);
    expect(rendered.split("\n")).toEqual([
      `${key}   offset   status`,
      `${"-".repeat(60)}  -------  -------`,
      `${"a.bin".padEnd(60)}        0  differs`,
      long,
      `${"".padEnd(60)}  1048576  missing`,
      `${"b.bin".padEnd(60)}        5  differs`,
    ]);
  });
});
