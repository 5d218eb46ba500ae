/**
 * Starts a local S3-compatible server with two users and prints their settings:
 *   npx tsx scripts/local-s3.ts     (stays up until Ctrl-C)
 * Tests start their own through test/support/global-setup.ts; see local-s3/index.ts.
 */
import { pathToFileURL } from "node:url";
import { startLocalS3 } from "./local-s3/index.js";

export * from "./local-s3/index.js";

async function main(): Promise<void> {
  const started = Date.now();
  const s3 = await startLocalS3({ log: (line) => console.error(line) });
  console.error(`${s3.kind} ready in ${((Date.now() - started) / 1000).toFixed(1)} s; Ctrl-C stops it.`);
  const vars: Record<string, string | undefined> = {
    S3_ENDPOINT: s3.endpoint,
    S3_REGION: s3.region,
    S3_SOURCE_ACCESS_KEY_ID: s3.users.source.accessKeyId,
    S3_SOURCE_SECRET_ACCESS_KEY: s3.users.source.secretAccessKey,
    S3_DESTINATION_ACCESS_KEY_ID: s3.users.destination.accessKeyId,
    S3_DESTINATION_SECRET_ACCESS_KEY: s3.users.destination.secretAccessKey,
    S3_CEPH_CONF: s3.cephConf,
  };
  for (const [name, value] of Object.entries(vars))
    if (value !== undefined) console.log(`export ${name}=${value}`);
  if (s3.cephConf)
    console.error(`Usage counters: radosgw-admin -c ${s3.cephConf} usage show --uid=${s3.userIds?.source}`);

  const keepAlive = setInterval(() => {}, 1 << 30);
  const shutdown = async () => {
    clearInterval(keepAlive);
    await s3.stop();
    process.exit(0);
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
