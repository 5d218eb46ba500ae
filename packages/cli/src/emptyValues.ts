import { ValidationError } from "@chunksync/core";
import type { Command } from "commander";

/**
 * Refuses an option given an empty value (`--dst-sse-c-key-file ""`, or `"$KEY_FILE"` with the
 * variable unset) before any request. The settings read an empty value as one not given, so
 * such a run went on without what the option asked for and exited 0: objects written without
 * the customer key, requests without the expected owner, the index in the working directory.
 */
export function refuseEmptyValues(command: Command): void {
  for (const option of command.options) {
    if (!option.required) continue;
    const given = command.getOptionValue(option.attributeName());
    const value = /<[^>]+>/.exec(option.flags)?.[0] ?? "a value";
    if (given === "")
      throw new ValidationError(option.long ?? option.flags, `a value for ${value}, got an empty string`);
    // `--src-region --json`: the value left out, the next option was taken for it.
    const taken = typeof given === "string" ? /^--[a-z][a-z-]*/.exec(given)?.[0] : undefined;
    if (taken !== undefined && command.options.some((o) => o.long === taken))
      throw new ValidationError(
        option.long ?? option.flags,
        `a value for ${value}, got the option ${taken} (was the value left out?)`,
      );
  }
}
