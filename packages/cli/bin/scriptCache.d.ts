/** Types of scriptCache.js (plain JavaScript: it runs before the bundle it loads). */
export type CacheState = "used" | "absent" | "stale" | "damaged" | "rejected";

export function runCachedScript(
  file: string,
  cacheDir: string,
  options?: { settledMs?: number },
): { exports: unknown; cache: CacheState; saveCache: () => void };
