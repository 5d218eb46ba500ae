import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command, Option } from "commander";
import { describe, expect, it } from "vitest";
import { program } from "../../../packages/cli/src/main.js";

const README = readFileSync(join(import.meta.dirname, "../../../README.md"), "utf8");

/** The long flags named in the first column of the README's options table. */
function readmeFlags(): Set<string> {
  const section = README.slice(README.indexOf("### Options"));
  const table = section.slice(0, section.indexOf("\n\n", section.indexOf("| --- |")));
  const flags = new Set<string>();
  for (const row of table.split("\n").slice(2)) {
    const first = row.split(" | ")[0] ?? "";
    for (const m of first.matchAll(/`(--[a-z0-9-]+)/g)) flags.add(m[1]!);
  }
  return flags;
}

/** The long flags of check, plan and sync: those `--help` shows, or all of them (hidden aliases too). */
function commandFlags(visibleOnly: boolean): Set<string> {
  const root = program();
  const flags = new Set<string>(["--version"]);
  for (const name of ["check", "plan", "sync"]) {
    const command = root.commands.find((c: Command) => c.name() === name)!;
    for (const option of command.options as readonly (Option & { hidden?: boolean })[]) {
      if (option.long && !(visibleOnly && option.hidden)) flags.add(option.long);
    }
  }
  return flags;
}

describe("the README's options table", () => {
  it("names every option that --help of check, plan and sync shows, and none they lack", () => {
    const readme = readmeFlags();
    expect(readme.size).toBeGreaterThan(20);
    expect([...commandFlags(true)].filter((f) => !readme.has(f)).sort()).toEqual([]);
    const all = commandFlags(false);
    expect([...readme].filter((f) => !all.has(f)).sort()).toEqual([]);
  });
});
