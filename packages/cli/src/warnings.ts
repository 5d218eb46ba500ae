import { ineffectiveIncludes, type KeyRule } from "@chunksync/sync";

/** Before a run: an --include that no --exclude precedes selects nothing more than the default. */
export function warnIneffectiveIncludes(filters: readonly KeyRule[], out: NodeJS.WritableStream): void {
  for (const glob of ineffectiveIncludes(filters)) {
    out.write(
      `chunksync: warning: --include '${glob}' comes before any --exclude, so it changes nothing ` +
        `(every key is selected by default); to select only these keys, put --exclude '**' before it\n`,
    );
  }
}
