import { ValidationError } from "@chunksync/core";

/** The longest glob taken: keys hold at most 1,024 bytes, so a longer glob is a mistake (a file pasted). */
const MAX_GLOB = 4096;

/**
 * A glob of `--include`/`--exclude` as a test of a key relative to its prefix. The syntax is
 * fnmatch's, as `aws s3 sync` reads it, except that `*` and `?` stop at `/` and `**` crosses it:
 *
 * - `*` any run of characters but `/`; `?` one character (a code point: `?` matches "😀") but `/`;
 * - `**` (or more stars) as a whole segment any run of characters, `/` included; followed by `/`, any number of
 *   whole segments, none included (`**` then `/*.jpg` matches "a.jpg"); within a segment (`a**`)
 *   it is `*`;
 * - `[abc]`, `[a-z]` one character of the set, `[!abc]` one not in it and not `/`; a `]` first
 *   in the set is one of its characters, `^` first is the character `^` (fnmatch's reading), a
 *   range whose ends are out of order is empty, and a `[` that no `]` closes is itself;
 * - `\` takes the character after it as itself;
 * - every other character stands for itself, `(`, `)`, `|`, `{`, `}`, `+`, `@`, `!` and `.`
 *   included: keys are names, not paths, and a key's `.` and `..` segments and line breaks are
 *   characters like any other.
 *
 * An `--exclude` glob equal to the key matches it too (`a[b]` also leaves out the key "a[b]"):
 * a leaving out that keeps more is safe, where an `--include` that selected more would let
 * `--delete` delete destination objects the glob, read as fnmatch reads it, does not name (the
 * key itself is `a\[b\]`). A hand-written
 * translation rather than a path-glob library's: those read `|`, `{1,2}`, `@(...)` and more as
 * syntax, so an `--exclude` of a key holding them left that key selected, and `--delete`
 * deleted it.
 *
 * @throws ValidationError naming `--${kind}` for an empty glob or one over 4,096 characters
 */
export function keyGlob(kind: "include" | "exclude", glob: string): (key: string) => boolean {
  if (glob === "") throw new ValidationError(`--${kind}`, `a glob such as '**/*.jpg', got ""`);
  if (glob.length > MAX_GLOB)
    throw new ValidationError(
      `--${kind}`,
      `a glob such as '**/*.jpg', got "${glob.slice(0, 40)}..." (${glob.length} characters; at most ${MAX_GLOB})`,
    );
  const pattern = new RegExp(`^${globSource(glob)}$`, "su");
  return kind === "exclude" ? (key) => key === glob || pattern.test(key) : (key) => pattern.test(key);
}

/** The regular expression source (for the `u` and `s` flags) of `glob`, unanchored. */
function globSource(glob: string): string {
  const chars = Array.from(glob);
  let out = "";
  for (let i = 0; i < chars.length; ) {
    const c = chars[i]!;
    if (c === "*") {
      let end = i;
      while (chars[end] === "*") end++;
      const wholeSegment = end - i >= 2 && (i === 0 || chars[i - 1] === "/");
      if (wholeSegment && end === chars.length) {
        out += ".*";
        i = end;
      } else if (wholeSegment && chars[end] === "/") {
        out += "(?:.*/)?";
        i = end + 1;
      } else {
        // A segment is not empty: `photos/*` does not match the folder marker "photos/".
        out += i === 0 || chars[i - 1] === "/" ? "(?=.)[^/]*" : "[^/]*";
        i = end;
      }
    } else if (c === "?") {
      out += "[^/]";
      i++;
    } else if (c === "[") {
      const set = charSet(chars, i);
      out += set ? set.source : "\\[";
      i = set ? set.end : i + 1;
    } else if (c === "\\" && i + 1 < chars.length) {
      out += literal(chars[i + 1]!);
      i += 2;
    } else {
      out += literal(c);
      i++;
    }
  }
  return out;
}

/** The set `[...]` opening at `chars[start]`, or undefined where no `]` closes it. */
function charSet(chars: readonly string[], start: number): { source: string; end: number } | undefined {
  let i = start + 1;
  const negated = chars[i] === "!";
  if (negated) i++;
  const members: string[] = [];
  for (let first = true; i < chars.length; first = false) {
    let c = chars[i]!;
    if (c === "]" && !first) {
      const body = members.join("");
      // An empty set matches nothing; its complement anything but "/".
      const source = negated ? `[^/${body}]` : body === "" ? "(?!)" : `[${body}]`;
      return { source, end: i + 1 };
    }
    if (c === "\\" && i + 1 < chars.length) c = chars[++i]!;
    i++;
    if (chars[i] === "-" && i + 1 < chars.length && chars[i + 1] !== "]") {
      let hi = chars[i + 1]!;
      i += 2;
      if (hi === "\\" && i < chars.length) hi = chars[i++]!;
      // fnmatch drops a range whose ends are out of order; a regex would refuse it.
      if (c.codePointAt(0)! <= hi.codePointAt(0)!) members.push(`${inSet(c)}-${inSet(hi)}`);
    } else members.push(inSet(c));
  }
  return undefined;
}

/** `c` as itself in a regular expression with the `u` flag. */
function literal(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

/** `c` as itself inside a set of a regular expression with the `u` flag. */
function inSet(c: string): string {
  return /[\\\]^[-]/.test(c) ? `\\${c}` : c;
}
