import { isIndexKey, ValidationError } from "@chunksync/core";
import picomatch from "picomatch";

/** One --include or --exclude, in the order given. */
export interface KeyRule {
  kind: "include" | "exclude";
  /** A picomatch glob over keys relative to the prefix: `*` stops at `/`, `**` crosses it. */
  glob: string;
}

/**
 * The lookaheads by which picomatch keeps `*` and `**` off `.` and `..` path segments, even with
 * `dot`: a file system resolves those, so a path glob must not reach them. In an S3 key they are
 * names like any other (`a/../b` is its own object), and a key the rules could not match fell
 * through every rule, so `--exclude '**'` copied it and `--delete` deleted it.
 */
const DOT_SEGMENT_GUARDS = ["(?!(?:^|\\/)\\.{1,2}(?:\\/|$))", "(?!\\.{1,2}(?:\\/|$))"];

/**
 * picomatch reads `(`, `)` and `"` as regex groups and quotes, and a leading `!` as negation:
 * none is glob syntax in `aws s3 sync` (fnmatch), and all are common in keys ("photos (2019)/"),
 * so `--exclude 'photos (2019)/**'` left those keys selected (and `--delete` deleted them).
 * It also drops a leading `./` as a path's, which in a key is a segment like any other:
 * `--exclude './a'` left out the key `a`, and `--exclude './**'` every key. Escaped here, they
 * stand for themselves; a `\` keeps escaping the character after it.
 */
function literalSpecials(glob: string): string {
  return glob.replace(/\\[\s\S]|[()"]|^\.(?=\/)/g, (m) => (m.length === 2 ? m : `\\${m}`));
}

/**
 * picomatch's options for a key glob: `.` segments matched, `[!a]` read as "not a" as in fnmatch
 * (picomatch reads it as "!" or "a" otherwise), a leading `!` and extglobs taken literally, and
 * no trailing `/` allowed after the match (picomatch's path leniency: `photos/*` matched the
 * folder marker `photos/2019/`, and `tmp/**` the key `tmp`, so `--delete` deleted them).
 */
const GLOB_OPTIONS = {
  dot: true,
  posix: true,
  nonegate: true,
  noextglob: true,
  strictSlashes: true,
} as const;

/**
 * `glob` as a test of a relative key: picomatch's pattern with `.` and `..` segments allowed and
 * `s` set (a key may hold a line break, which `.` would not match otherwise), and, as picomatch
 * itself does, a glob equal to the key matches it (`a[b]` is also the key "a[b]").
 *
 * @throws ValidationError naming `--include`/`--exclude` for a glob picomatch cannot compile
 *   (an empty one, or one over its length limit), which it would throw as a bare TypeError
 */
function keyGlob({ kind, glob }: KeyRule): (key: string) => boolean {
  let regex: RegExp;
  try {
    regex = picomatch.makeRe(literalSpecials(glob), GLOB_OPTIONS);
  } catch (error) {
    throw new ValidationError(`--${kind}`, `a glob such as '**/*.jpg', got ${JSON.stringify(glob)}`, {
      cause: error,
    });
  }
  let source = regex.source;
  for (const guard of DOT_SEGMENT_GUARDS) source = source.replaceAll(guard, "");
  const pattern = new RegExp(source, "s");
  return (key) => key === glob || pattern.test(key);
}

/**
 * The keys a run selects, relative to its prefixes, as `aws s3 sync` filters: every key is
 * selected by default, and the last rule whose glob matches a key decides (later rules take
 * precedence), so `exclude **` then `include *.jpg` selects only the top-level .jpg keys.
 * Both engines filter both listings with it, so a key the run does not select is neither
 * synced nor reported nor deleted.
 *
 * @throws ValidationError for a glob that cannot be compiled (see keyGlob)
 */
export function keyFilter(rules: readonly KeyRule[]): (key: string) => boolean {
  const compiled = rules.map((r) => ({ include: r.kind === "include", matches: keyGlob(r) }));
  return (key) => {
    for (let i = compiled.length - 1; i >= 0; i--) {
      const rule = compiled[i] as (typeof compiled)[number];
      if (rule.matches(key)) return rule.include;
    }
    return true;
  };
}

/**
 * The keys a run syncs: those `rules` select, except a digest index's own keys wherever they lie
 * (inside a synced prefix, or kept there by a run with `--src-index`/`--dst-index` that this run
 * was not given), which both engines pass over whatever the rules say: they are neither synced,
 * nor deleted, nor reported. Only their names set them apart: any other key under an index's
 * location is a user's object, whichever side it is on (a whole prefix passed over on both
 * sides left a source object at the path of the destination's index unsynced, unreported).
 */
export function keySelection(rules: readonly KeyRule[]): (key: string) => boolean {
  const filtered = keyFilter(rules);
  return (key) => !isIndexKey(key) && filtered(key);
}

/**
 * The `--include` rules that cannot change the selection because no `--exclude` comes before
 * them (every key is selected by default): almost always a filter written for the old
 * "include means only" reading, so the CLI warns about them.
 */
export function ineffectiveIncludes(rules: readonly KeyRule[]): string[] {
  const firstExclude = rules.findIndex((r) => r.kind === "exclude");
  const leading = firstExclude === -1 ? rules : rules.slice(0, firstExclude);
  return leading.map((r) => r.glob);
}
