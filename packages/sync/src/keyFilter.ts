import { isIndexKey } from "@chunksync/core";
import { keyGlob } from "./keyGlob.js";

/** One --include or --exclude, in the order given. */
export interface KeyRule {
  kind: "include" | "exclude";
  /** A glob over keys relative to the prefix (see `keyGlob`): `*` stops at `/`, `**` crosses it. */
  glob: string;
}

/**
 * The keys a run selects, relative to its prefixes, as `aws s3 sync` filters: every key is
 * selected by default, and the last rule whose glob matches a key decides (later rules take
 * precedence), so `exclude **` then `include *.jpg` selects only the top-level .jpg keys.
 * Both engines filter both listings with it, so a key the run does not select is neither
 * synced nor reported nor deleted.
 *
 * @throws ValidationError for an empty or overlong glob (see keyGlob)
 */
export function keyFilter(rules: readonly KeyRule[]): (key: string) => boolean {
  const compiled = rules.map((r) => ({ include: r.kind === "include", matches: keyGlob(r.kind, r.glob) }));
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
