import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

// The SDK warns on Node 20 that its 2027 releases need Node 22, once per test process (the
// README says so once). The CLI turns it off for itself (packages/cli/bin/chunksync.js).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts", "test/support/faultSummary.ts"],
    // Generous: two files run at once on two cores, next to the server and the CLI processes.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
    // Most files wait on the server and on CLI child processes, not on their own CPU: two at
    // once on two cores: 630 s of test files ran in 403 s of wall (vitest's
    // default is one file at a time there: cores - 1).
    poolOptions: { forks: { maxForks: Math.max(2, availableParallelism() - 1) } },
  },
});
