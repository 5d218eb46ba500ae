import picomatch from "picomatch";

/**
 * The keys a run selects, relative to its prefixes: a key must match an include (when
 * there are any) and no exclude. Both engines filter both listings with it, so a key the
 * run does not select is neither synced nor reported nor deleted.
 */
export function keyFilter(include: readonly string[], exclude: readonly string[]): (key: string) => boolean {
  const inc = include.length > 0 ? picomatch([...include], { dot: true }) : () => true;
  const exc = exclude.length > 0 ? picomatch([...exclude], { dot: true }) : () => false;
  return (key) => inc(key) && !exc(key);
}
