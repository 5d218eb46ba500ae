import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/**
 * Bundles the script `entry` (TypeScript, the workspace's sources and its dependencies) into
 * one ES module under node_modules/.cache and returns its path: a child that measures memory
 * runs the code as the CLI ships it (one bundle, no loader), not through tsx, whose loader
 * compiles every source in the measured process (about 50 MB of RSS more before any work).
 */
export async function bundleScript(entry: string): Promise<string> {
  // Within the repository, so that the native addon left out resolves from node_modules.
  const outfile = fileURLToPath(
    new URL(`../../node_modules/.cache/bench/${basename(entry, ".ts")}.mjs`, import.meta.url),
  );
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // CommonJS dependencies call require(): give the module one.
    banner: {
      js: 'import { createRequire } from "node:module"; const require = createRequire(import.meta.url);',
    },
    // A native addon, loaded at its first call (as in the CLI's bundle).
    external: ["@node-rs/crc32"],
    logLevel: "error",
  });
  return outfile;
}
