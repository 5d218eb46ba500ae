/**
 * Builds the CLI of another commit in a worktree beside this checkout, for the paired benches'
 * `--base DIR` / `--before DIR`: the same installed packages, its own sources.
 *   npx tsx scripts/build-other.ts <commit> <dir>
 * The worktree's node_modules links each installed package to this checkout's, except the
 * workspace's own (@chunksync/*), which it links to the worktree's packages: a link to this
 * checkout's whole node_modules resolves them here, and the "other" build is this code.
 * The bench refuses such a build (see bench/lib/otherBuild.ts).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readlinkSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function main([commit, dir]: string[]): void {
  if (commit === undefined || dir === undefined) {
    process.stderr.write("usage: npx tsx scripts/build-other.ts <commit> <dir>\n");
    process.exit(2);
  }
  const other = resolve(dir);
  if (existsSync(other)) throw new Error(`${other} exists: give a new directory`);
  execFileSync("git", ["-C", ROOT, "worktree", "add", "--detach", other, commit], { stdio: "inherit" });
  const modules = join(ROOT, "node_modules");
  mkdirSync(join(other, "node_modules", "@chunksync"), { recursive: true });
  for (const name of readdirSync(modules)) {
    if (name !== "@chunksync") symlinkSync(join(modules, name), join(other, "node_modules", name));
  }
  for (const name of readdirSync(join(modules, "@chunksync"))) {
    // Each is a link such as ../../packages/core: the same place in the worktree.
    const target = readlinkSync(join(modules, "@chunksync", name));
    symlinkSync(target, join(other, "node_modules", "@chunksync", name));
  }
  execFileSync(process.execPath, [join(modules, "tsx/dist/cli.mjs"), "scripts/build-cli.ts"], {
    cwd: other,
    stdio: "inherit",
  });
  process.stdout.write(`built ${commit} in ${other}; remove it with: git worktree remove --force ${other}\n`);
}

main(process.argv.slice(2));
