#!/usr/bin/env node
// Runs the bundled CLI (scripts/build-cli.ts; `npm ci`, `npm run build` and the tests build it).
import { existsSync } from "node:fs";
import module from "node:module";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

const bundle = new URL("../dist/chunksync.mjs", import.meta.url);
if (!existsSync(bundle)) {
  process.stderr.write("chunksync: the CLI is not built yet; run `npm run build` in the repository\n");
  process.exit(2);
}
// Node >= 22.1 keeps V8's compiled code of the bundle between runs, in this user's cache (beside
// the digest indexes): compiling it is a large part of a small run's start. Node 20 has no such
// call and compiles it every time. NODE_COMPILE_CACHE, when set, has already chosen a directory.
if (module.enableCompileCache) {
  const cache = process.env.XDG_CACHE_HOME ? resolve(process.env.XDG_CACHE_HOME) : join(homedir(), ".cache");
  module.enableCompileCache(join(cache, "chunksync", "compile"));
}
// The AWS SDK warns on Node 20 that its releases after January 2027 need Node 22: a block of
// text in the middle of a run's output that says nothing about the run (the README says it).
// It reads this variable when the first client is built; a user's own setting stands.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { main } = await import(bundle.href);
process.exitCode = await main(process.argv.slice(2));
