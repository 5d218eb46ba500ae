/**
 * Bundles the CLI into packages/cli/dist/chunksync.mjs. One bundled file starts in about
 * 0.3 s and 90 MB, where loading the TypeScript sources through a loader takes about 1 s and
 * 120 MB: that is most of a small run. `npm ci` (prepare), the test setup and the demo build it.
 *   npm run build
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

export const CLI_BUNDLE = fileURLToPath(new URL("../packages/cli/dist/chunksync.mjs", import.meta.url));

export async function buildCli(): Promise<void> {
  await build({
    entryPoints: [fileURLToPath(new URL("../packages/cli/src/main.ts", import.meta.url))],
    outfile: CLI_BUNDLE,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // Not minified, so an unexpected error's stack still names our functions; a source map would add 25 MB.
    // A native addon cannot be bundled; it is resolved from node_modules at run time.
    external: ["@node-rs/crc32"],
    // Bundled CommonJS dependencies call require() for Node's built-ins.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: "warning",
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildCli();
}
