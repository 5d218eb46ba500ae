import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command, Option } from "commander";
import { describe, expect, it, vi } from "vitest";
import { main, program } from "../../../packages/cli/src/main.js";

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

/** What `chunksync <name> --help` prints. */
async function helpOf(name: string): Promise<string> {
  const writes: string[] = [];
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((s) => writes.push(String(s)) > 0);
  try {
    expect(await main([name, "--help"])).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return writes.join("");
}

describe("--help of every command", () => {
  it.each(["check", "plan", "sync", "audit", "scrub", "cleanup"])(
    "%s ends with examples of itself that use only its own options",
    async (name) => {
      const help = await helpOf(name);
      const section = help.slice(help.indexOf("\nExamples:\n"));
      expect(section.length, help).toBeGreaterThan(20);
      // An example may run over several lines, each but its last ending in a backslash.
      const runs = section
        .replaceAll("\\\n", " ")
        .split("\n")
        .map((l) => l.trim());
      const invocations = runs.filter((l) => l.startsWith("chunksync "));
      expect(invocations.length).toBeGreaterThan(0);
      const command = program().commands.find((c: Command) => c.name() === name)!;
      const options = new Set(command.options.map((o: Option) => o.long));
      for (const line of invocations) {
        expect(line.split(/\s+/)[1]).toBe(name);
        for (const flag of line.match(/(?<=\s)--[a-z-]+/g) ?? []) expect(options, line).toContain(flag);
      }
    },
  );
});
