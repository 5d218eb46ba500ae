import { ValidationError } from "@chunksync/core";
import { type Command, Option } from "commander";

/** Flags of `aws s3` and rclone habits, and the per-side flags that replace them here. */
const POINTERS = [
  ["profile", "profile"],
  ["endpoint-url", "endpoint"],
  ["region", "region"],
] as const;

/**
 * Answers `--profile`, `--endpoint-url` and `--region` (one connection for both buckets in
 * `aws s3 sync`) with the per-side flags to use instead of commander's bare "unknown option":
 * the two sides of a run are two connections, each with its own profile, endpoint and region.
 */
export function addOptionPointers(command: Command, sides: readonly ("src" | "dst")[]): Command {
  for (const [flag, ours] of POINTERS) {
    // Hidden, and with an optional value, so that the pointer answers with or without one.
    command.addOption(new Option(`--${flag} [value]`).hideHelp());
    command.on(`option:${flag}`, () => {
      const instead = sides.map((s) => `--${s}-${ours}`).join(" and/or ");
      throw new ValidationError(
        `--${flag}`,
        `${instead} (chunksync connects to each side separately, so each has its own ${ours})`,
      );
    });
  }
  return command;
}
