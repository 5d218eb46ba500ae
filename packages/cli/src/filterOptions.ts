import { type KeyRule, keyFilter } from "@chunksync/sync";
import type { Command } from "commander";

/** The rules --include and --exclude describe, as `--help` prints them after the options. */
export const FILTER_HELP = `
Filters (--include, --exclude), as in aws s3 sync: every key under the prefix is
selected by default; the filters apply in the order given, and a later filter
takes precedence over an earlier one. Globs match keys relative to the prefix:
* and ? do not cross "/", ** does (in aws s3 sync * crosses "/" too, so its
--exclude '*' is --exclude '**' here); '*.jpg' matches top-level keys only.
[abc] matches one of a, b, c and [!abc] any other character; ( ) " and a
leading ! stand for themselves.
  --exclude '**' --include '*.jpg'      only the top-level .jpg keys
  --exclude '**' --include '**/*.jpg'   only the .jpg keys, at any depth
  --include '*.jpg' --exclude '**'      nothing (the later exclude wins)
  --exclude 'tmp/**'                    everything but tmp/
`;

/**
 * Registers --include and --exclude so that both push into one ordered list, `filters`:
 * commander keeps one array per option, which would lose which came first. Each glob is
 * compiled as it is parsed, so a bad one fails (exit 2, naming the option) before any request
 * or `--report` file, in every command that filters.
 */
export function addFilterOptions(command: Command): Command {
  const rules: KeyRule[] = [];
  command
    .option(
      "--include <glob>",
      "keep keys matching this glob that an earlier --exclude left out (repeatable; see Filters below)",
    )
    .option(
      "--exclude <glob>",
      "leave out keys matching this glob, unless a later --include keeps them (repeatable; see Filters below)",
    )
    .setOptionValue("filters", rules);
  for (const kind of ["include", "exclude"] as const) {
    command.on(`option:${kind}`, (glob: string) => {
      keyFilter([{ kind, glob }]);
      rules.push({ kind, glob });
    });
  }
  return command;
}
