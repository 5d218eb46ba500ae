#!/usr/bin/env node
// Runs the bundled CLI (scripts/build-cli.ts; `npm ci`, `npm run build` and the tests build it).
// CommonJS (./package.json), like the bundle: an ES module entry point starts Node's ES module
// loader, which cost a no-change sync about a tenth of its CPU.
const { existsSync } = require("node:fs");
const { homedir } = require("node:os");
const { isAbsolute, join } = require("node:path");
const { setFlagsFromString } = require("node:v8");
const { runCachedScript } = require("./scriptCache.js");

const bundle = join(__dirname, "../dist/chunksync.cjs");
if (!existsSync(bundle)) {
  process.stderr.write("chunksync: the CLI is not built yet; run `npm run build` in the repository\n");
  process.exit(2);
}
// The AWS SDK warns on Node 20 that its releases after January 2027 need Node 22: a block of
// text in the middle of a run's output that says nothing about the run (the README says it).
// It reads this variable when the first client is built; a user's own setting stands.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
// Requests are parsed by undici's llhttp, a WebAssembly module. V8 moves a wasm function to its
// optimising compiler once it has run for a budget (about 1.8 MB of code executed): llhttp's parser
// reached it within a few responses, and optimising it cost 0.1-0.15 s of CPU (on background
// threads), more than the rest of a no-change sync. A budget 100 times larger keeps small runs on
// the baseline code and still optimises it for runs of thousands of requests. Set before the
// bundle is compiled: V8's code cache is valid only under the flags it was made with.
setFlagsFromString("--wasm-tiering-budget=180000000");
// V8 drops the bytecode of functions that have not run for a while (the bundle's top level, its
// modules' set-up) at its major collections, and a cache saved at the end of a long run (a
// first sync that copies thousands of objects) then lacks them: every later run compiled its
// top level again from the 4 MB source, about 60-90 ms of CPU a run (a `check` of 10,000
// indexed objects, 6%). Bytecode kept is a few MB at most, the size of the code that ran.
setFlagsFromString("--no-flush-bytecode");
// V8's compiled code of the bundle is kept in this user's cache, beside the digest indexes (a
// relative XDG_CACHE_HOME passed over, as for them: see defaultIndexRoot).
const set = process.env.XDG_CACHE_HOME;
const cache = set && isAbsolute(set) ? set : join(homedir(), ".cache");
const loaded = runCachedScript(bundle, join(cache, "chunksync", "compile"));
process.once("exit", loaded.saveCache);
const { main } = loaded.exports;
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
