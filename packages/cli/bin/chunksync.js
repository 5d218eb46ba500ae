#!/usr/bin/env node
// Runs the bundled CLI (scripts/build-cli.ts; `npm ci`, `npm run build` and the tests build it).
import { existsSync } from "node:fs";

const bundle = new URL("../dist/chunksync.mjs", import.meta.url);
if (!existsSync(bundle)) {
  process.stderr.write("chunksync: the CLI is not built yet; run `npm run build` in the repository\n");
  process.exit(2);
}
const { main } = await import(bundle.href);
process.exitCode = await main(process.argv.slice(2));
