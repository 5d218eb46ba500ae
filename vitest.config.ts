import { defineConfig } from "vitest/config";

// The SDK warns on Node 20 that its 2027 releases need Node 22, once per test process (the
// README says so once). The CLI turns it off for itself (packages/cli/bin/chunksync.js).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts", "test/support/faultSummary.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
