import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { buildCli } from "../../scripts/build-cli.js";
import { type LocalS3, startLocalS3 } from "../../scripts/local-s3.js";

/** What tests get from `inject("s3")`: the running server without its `stop`. */
export type LocalS3Info = Omit<LocalS3, "stop">;

declare module "vitest" {
  export interface ProvidedContext {
    s3: LocalS3Info;
  }
}

/**
 * Builds the CLI bundle the tests run (so they never run a stale one), starts one S3-compatible
 * server for the whole run (see scripts/local-s3.ts), and stops it afterwards. Every temporary
 * directory the tests and their CLI processes make lands in one directory of the run's own
 * (TMPDIR, which test workers and their children inherit), removed afterwards with whatever a
 * killed process or a failed test left there.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const [s3] = await Promise.all([
    startLocalS3({ log: (line) => console.log(`[local-s3] ${line}`) }),
    buildCli(),
  ]);
  const { stop, ...info } = s3;
  const scratch = await mkdtemp(join(tmpdir(), "chunksync-tests-"));
  process.env.TMPDIR = scratch;
  console.log(
    `[local-s3] ${s3.kind} at ${s3.endpoint} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  project.provide("s3", info);
  return async () => {
    try {
      await stop();
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  };
}
