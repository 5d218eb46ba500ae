import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "./exec.js";

/** What rsync's delta algorithm moved to turn one local file into another. */
export interface RsyncDelta {
  /** Bytes of the new file sent as they are ("Literal data"). */
  literal: number;
  /** Everything the sender sent: literal data, block references and protocol ("Total bytes sent"). */
  sent: number;
  seconds: number;
}

/**
 * rsync from `next` onto a copy of `old`: the reference for the fewest bytes a delta can move,
 * with a process at both ends. Between local paths rsync copies whole files unless told
 * `--no-whole-file`; `--ignore-times` keeps it from trusting size and mtime.
 */
export async function rsyncDelta(old: string, next: string): Promise<RsyncDelta> {
  const scratch = mkdtempSync(join(tmpdir(), "chunksync-bench-rsync-"));
  try {
    const basis = join(scratch, "basis");
    copyFileSync(old, basis);
    const r = await runCommand("rsync", ["--no-whole-file", "--ignore-times", "--stats", next, basis]);
    return {
      literal: stat(r.stdout, "Literal data"),
      sent: stat(r.stdout, "Total bytes sent"),
      seconds: r.seconds,
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** One figure of `rsync --stats` ("Literal data: 1,048,576 bytes"). */
function stat(output: string, name: string): number {
  const m = new RegExp(`^${name}: ([\\d,]+)`, "m").exec(output);
  if (!m?.[1]) throw new Error(`rsync --stats printed no "${name}":\n${output}`);
  return Number(m[1].replaceAll(",", ""));
}
