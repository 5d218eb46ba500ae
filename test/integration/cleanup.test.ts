import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CreateMultipartUploadCommand } from "@aws-sdk/client-s3";
import { afterAll, expect, it } from "vitest";
import { profileEnv, runCli } from "../support/cli.js";
import { pendingUploads } from "../support/faultWorld.js";
import { s3Client, TestBuckets } from "../support/s3.js";

const dst = s3Client("destination");
const buckets = new TestBuckets();
afterAll(() => buckets.drop());

it("cleanup judges an upload's age by the server's clock: a machine whose clock runs 10 minutes ahead keeps another tool's fresh upload under --older-than 5m", async () => {
  const bucket = await buckets.make(dst, "dst-cleanclock");
  const { UploadId } = await dst.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: "theirs.bin" }),
  );
  const env = profileEnv();
  // Within the 15 minutes a signed request may be off by, so the server still answers.
  const ahead = join(env.XDG_CACHE_HOME!, "..", "ahead.cjs");
  writeFileSync(ahead, "const now = Date.now; Date.now = () => now() + 10 * 60 * 1000;\n");
  const run = await runCli(
    ["cleanup", `s3://${bucket}`, "--dst-profile", "dst", "--older-than", "5m", "--json"],
    {
      ...env,
      NODE_OPTIONS: `--require ${ahead}`,
    },
  );
  expect(run.code, run.stderr).toBe(0);
  expect(JSON.parse(run.stdout)).toMatchObject({
    aborted: [],
    kept: [{ key: "theirs.bin", uploadId: UploadId }],
  });
  expect(await pendingUploads(dst, bucket)).toEqual([{ key: "theirs.bin", uploadId: UploadId }]);
});
