import { INDEX_KEY_MARKER, isIndexKey, pieceRunStart } from "@chunksync/core";
import { ineffectiveIncludes, type KeyRule, keyFilter, keyGlob, keySelection } from "@chunksync/sync";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const rule = (kind: KeyRule["kind"], glob: string): KeyRule => ({ kind, glob });
const selected = (rules: KeyRule[], keys: string[]) => keys.filter(keyFilter(rules));

// Small alphabets, so that generated globs and keys actually meet.
const segment = fc.constantFrom("a", "b", "a.jpg", "b.txt", ".hidden", "x y");
const key = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join("/"));
const glob = fc.constantFrom(
  "*",
  "**",
  "*.jpg",
  "**/*.jpg",
  "a/**",
  "a/*",
  "b.txt",
  "*/b.txt",
  "?.jpg",
  ".*",
);
const ruleArb = fc.record({ kind: fc.constantFrom("include" as const, "exclude" as const), glob });
const rules = fc.array(ruleArb, { maxLength: 6 });

describe("keyFilter: ordered include/exclude rules, as aws s3 sync applies them", () => {
  const keys = ["a.jpg", "b.txt", "d/c.jpg", "d/e.txt", ".x.jpg"];

  it("selects every key without rules", () => {
    expect(selected([], keys)).toEqual(keys);
  });

  it("--exclude '*' --include '*.jpg' leaves out the other top-level keys; * stops at /, so d/ stays", () => {
    expect(selected([rule("exclude", "*"), rule("include", "*.jpg")], keys)).toEqual([
      "a.jpg",
      "d/c.jpg",
      "d/e.txt",
      ".x.jpg",
    ]);
  });

  it("the later rule wins: --include '*.jpg' --exclude '*' selects no top-level key", () => {
    expect(selected([rule("include", "*.jpg"), rule("exclude", "*")], keys)).toEqual(["d/c.jpg", "d/e.txt"]);
  });

  it("** crosses /: --exclude '**' --include '**/*.jpg' keeps the .jpg keys at any depth", () => {
    expect(selected([rule("exclude", "**"), rule("include", "**/*.jpg")], keys)).toEqual([
      "a.jpg",
      "d/c.jpg",
      ".x.jpg",
    ]);
  });

  it("a `.` or `..` segment and a line break are characters of a key like any other: * and ** match them", () => {
    // Path globs refuse to match dot segments (a file system resolves them); S3 does not.
    const odd = ["..", ".", "a/../b", "x/./y", "./dot", "a/..", "new\nline", "two/new\nlines\n", ""];
    expect(selected([rule("exclude", "**")], odd)).toEqual([]);
    expect(selected([rule("exclude", "**"), rule("include", "*")], odd)).toEqual(["..", ".", "new\nline"]);
    expect(
      selected([rule("exclude", "**/*.jpg")], ["../a.jpg", "x/../b.jpg", "x/./c.jpg", "new\n.jpg"]),
    ).toEqual([]);
    expect(selected([rule("exclude", "a/*/b")], ["a/../b", "a/./b", "a/\n/b", "a/x/y/b"])).toEqual([
      "a/x/y/b",
    ]);
  });

  it("a glob's leading ./ is a segment of the key, not a path's ./ to drop", () => {
    const keys = ["./dot", "dot", "./a/b", "a/b", "././x", "x", ""];
    const excluded = (glob: string) => keys.filter((k) => !keyFilter([rule("exclude", glob)])(k));
    expect(excluded("./dot")).toEqual(["./dot"]);
    expect(excluded("./**")).toEqual(["./dot", "./a/b", "././x"]);
    expect(excluded("././*")).toEqual(["././x"]);
    expect(excluded("./")).toEqual([]);
    expect(excluded("*/dot")).toEqual(["./dot"]);
  });

  it("an --exclude glob equal to a key leaves that key out, even where it reads as a pattern; an --include selects only what the pattern matches", () => {
    const keys = ["a[b]", "ab", "c?", "cd", "cde"];
    expect(selected([rule("exclude", "a[b]"), rule("exclude", "c?")], keys)).toEqual(["cde"]);
    // Selected more, an --include would let --delete delete "a[b]" where the source lacks it.
    expect(selected([rule("exclude", "**"), rule("include", "a[b]")], keys)).toEqual(["ab"]);
    expect(selected([rule("exclude", "**"), rule("include", "a\\[b\\]")], keys)).toEqual(["a[b]"]);
  });

  it("( ) \" and a leading ! stand for themselves, and [!...] is a set's complement, as in aws s3 sync", () => {
    const odd = [
      "Trips (2019)/a",
      "Trips 2019/a",
      'say "hi"',
      "say hi",
      "!a",
      "a",
      "b",
      "log1",
      "loga",
      "log!",
    ];
    const excluded = (glob: string) => odd.filter((k) => !keyFilter([rule("exclude", glob)])(k));
    expect(excluded("Trips (2019)/*")).toEqual(["Trips (2019)/a"]);
    expect(excluded('say "hi"')).toEqual(['say "hi"']);
    expect(excluded("!a")).toEqual(["!a"]);
    expect(excluded("@(a|b)")).toEqual([]);
    expect(excluded("log[!a]")).toEqual(["log1", "log!"]);
  });

  it("| { } + @ and the other characters of path-glob syntax stand for themselves, as in aws s3 sync", () => {
    const odd = [
      "pipe|/f",
      "pipe",
      "br{1,2}/f",
      "br1/f",
      "a{1..3}/f",
      "a2/f",
      "x+(y)",
      "xy",
      "@(a|b)",
      "a",
      "$^.",
      "ab",
    ];
    const excluded = (glob: string) => odd.filter((k) => !keyFilter([rule("exclude", glob)])(k));
    expect(excluded("pipe|/**")).toEqual(["pipe|/f"]);
    expect(excluded("a|*/f")).toEqual([]);
    expect(excluded("br{1,2}/**")).toEqual(["br{1,2}/f"]);
    expect(excluded("a{1..3}/*")).toEqual(["a{1..3}/f"]);
    expect(excluded("x+(*)")).toEqual(["x+(y)"]);
    expect(excluded("@(a|*)")).toEqual(["@(a|b)"]);
    expect(excluded("$^?")).toEqual(["$^."]);
  });

  it("? and [...] match one character, not one UTF-16 unit: an emoji or other astral character is one", () => {
    const keys = ["😀.txt", "a.txt", "ab.txt", "𝄞/x"];
    const excluded = (glob: string) => keys.filter((k) => !keyFilter([rule("exclude", glob)])(k));
    expect(excluded("?.txt")).toEqual(["😀.txt", "a.txt"]);
    expect(excluded("??.txt")).toEqual(["ab.txt"]);
    expect(excluded("[😀].txt")).toEqual(["😀.txt"]);
    expect(excluded("[!a].txt")).toEqual(["😀.txt"]);
    expect(excluded("?/*")).toEqual(["𝄞/x"]);
  });

  it("a set reads as fnmatch reads it: ^ first is a character, ] first is a member, a range out of order is empty", () => {
    const keys = ["^", "x", "y", "]", "b", "/", "a["];
    const excluded = (glob: string) => keys.filter((k) => !keyFilter([rule("exclude", glob)])(k));
    expect(excluded("[^x]")).toEqual(["^", "x"]);
    expect(excluded("[]x]")).toEqual(["x", "]"]);
    expect(excluded("[!]x]")).toEqual(["^", "y", "b"]);
    expect(excluded("[c-a]")).toEqual([]);
    expect(excluded("[c-ab]")).toEqual(["b"]);
    expect(excluded("[a-c]")).toEqual(["b"]);
    expect(excluded("[/]")).toEqual(["/"]);
    expect(excluded("a[")).toEqual(["a["]);
    expect(excluded("[\\]x]")).toEqual(["x", "]"]);
  });

  it("* stops at / even at the end of a key: a folder marker below is not matched, nor `tmp` by tmp/**", () => {
    const markers = ["photos/a.jpg", "photos/2019/", "photos/", "tmp", "tmp/x", "a.jpg/"];
    expect(selected([rule("exclude", "**"), rule("include", "photos/*")], markers)).toEqual(["photos/a.jpg"]);
    expect(selected([rule("exclude", "tmp/**"), rule("exclude", "*.jpg")], markers)).toEqual([
      "photos/a.jpg",
      "photos/2019/",
      "photos/",
      "tmp",
      "a.jpg/",
    ]);
  });

  it("a later rule decides exactly the keys it matches, and leaves every other key as it was", () => {
    fc.assert(
      fc.property(rules, ruleArb, key, (before, last, k) => {
        const expected = keyGlob(last.kind, last.glob)(k) ? last.kind === "include" : keyFilter(before)(k);
        expect(keyFilter([...before, last])(k)).toBe(expected);
      }),
    );
  });

  it("the includes that ineffectiveIncludes names change nothing when dropped, and it names no other", () => {
    fc.assert(
      fc.property(rules, fc.array(key, { maxLength: 8 }), (rs, ks) => {
        const idle = ineffectiveIncludes(rs);
        const firstExclude = rs.findIndex((r) => r.kind === "exclude");
        const leading = firstExclude === -1 ? rs : rs.slice(0, firstExclude);
        expect(idle).toEqual(leading.map((r) => r.glob));
        expect(leading.every((r) => r.kind === "include")).toBe(true);
        expect(selected(rs.slice(leading.length), ks)).toEqual(selected(rs, ks));
      }),
    );
  });
});

describe("keySelection: a digest index's own keys are passed over, wherever they lie", () => {
  it("a key whose last segment is an index's manifest or piece name, whatever the rules say; no other", () => {
    const keys = [
      `${INDEX_KEY_MARKER}manifest.json`,
      `old/idx/b-0123/${INDEX_KEY_MARKER}p-mimz0k3q-0a1b2c3d-0.jsonl`,
      `${INDEX_KEY_MARKER}dir/a`,
      `${INDEX_KEY_MARKER}notes.txt`,
      `a/${INDEX_KEY_MARKER}manifest.json.bak`,
      `${INDEX_KEY_MARKER}p-1-ab-0.jsonl`,
      `x${INDEX_KEY_MARKER}manifest.json`,
      "manifest.json",
    ];
    const chosen = keys.filter(keySelection([rule("exclude", "**"), rule("include", "**")]));
    expect(chosen).toEqual(keys.slice(2));
  });

  it("the sweep of stray pieces takes a name for a run's piece only where a listing passes it over as one", () => {
    expect(pieceRunStart("p-mimz0k3q-0a1b2c3d-0.jsonl")).toBe(Number.parseInt("mimz0k3q", 36));
    for (const name of [
      "p-1-abc-0.jsonl",
      "p-1-0a1b2c3d0-0.jsonl",
      "p-1-0a1b2c3d-x.jsonl",
      "manifest.json",
    ]) {
      expect(pieceRunStart(name), name).toBeUndefined();
      expect(isIndexKey(`${INDEX_KEY_MARKER}${name}`), name).toBe(name === "manifest.json");
    }
  });
});
