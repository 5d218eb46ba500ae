#!/usr/bin/env node
// Runs the TypeScript sources directly: the CLI and the Lambda bundles share one source tree.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/main.ts");
process.exitCode = await main(process.argv.slice(2));
