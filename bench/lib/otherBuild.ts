import { realpathSync } from "node:fs";
import { join } from "node:path";

/**
 * The CLI of another checkout, for a paired bench's `--base DIR` / `--before DIR`. Refused
 * where that checkout resolves the workspace's own packages (@chunksync/*) to another
 * checkout's sources (its node_modules a link to this one's): its bundle is then this code,
 * and a "paired" run times one build against itself. `scripts/build-other.ts` builds one right.
 */
export function otherCli(dir: string): string {
  const built = realpathSync(join(dir, "node_modules/@chunksync/storage"));
  const own = realpathSync(join(dir, "packages/storage"));
  if (built !== own)
    throw new Error(
      `${dir} builds @chunksync/storage from ${built}, not its own ${own}: build it with ` +
        "`npx tsx scripts/build-other.ts <commit> <dir>`",
    );
  return join(dir, "packages/cli/bin/chunksync.js");
}
