import { waitForListBuckets } from "./probe.js";
import type { LocalS3, S3User } from "./types.js";
import { RGW_USER_IDS, regionFromEnv } from "./users.js";

/**
 * An S3-compatible server someone else runs, named by `S3_ENDPOINT`. Keys come from
 * `S3_SOURCE_*` and `S3_DESTINATION_*`, each side falling back to `AWS_ACCESS_KEY_ID` /
 * `AWS_SECRET_ACCESS_KEY`. `S3_CEPH_CONF` (printed by `npx tsx scripts/local-s3.ts` for a
 * Ceph RGW) passes the RGW's ceph.conf on to benchmarks that read usage counters.
 */
export async function useExternalS3(
  endpoint: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LocalS3> {
  const missing: string[] = [];
  const user = (side: "SOURCE" | "DESTINATION"): S3User => {
    const idVar = `S3_${side}_ACCESS_KEY_ID`;
    const secretVar = `S3_${side}_SECRET_ACCESS_KEY`;
    const accessKeyId = env[idVar] || env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = env[secretVar] || env.AWS_SECRET_ACCESS_KEY;
    if (!accessKeyId) missing.push(`${idVar} (or AWS_ACCESS_KEY_ID)`);
    if (!secretAccessKey) missing.push(`${secretVar} (or AWS_SECRET_ACCESS_KEY)`);
    return { accessKeyId: accessKeyId ?? "", secretAccessKey: secretAccessKey ?? "" };
  };
  const users = { source: user("SOURCE"), destination: user("DESTINATION") };
  if (missing.length > 0)
    throw new Error(`S3_ENDPOINT=${endpoint} is set but these are not: ${missing.join(", ")}`);
  const region = regionFromEnv();
  await waitForListBuckets(endpoint, region, users.source, { timeoutMs: 10_000, retryRefusals: false });
  const ceph = env.S3_CEPH_CONF ? { cephConf: env.S3_CEPH_CONF, userIds: { ...RGW_USER_IDS } } : {};
  return { kind: "external", endpoint, region, users, ...ceph, stop: async () => {} };
}
