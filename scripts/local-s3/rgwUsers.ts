import { run } from "./process.js";
import type { S3User } from "./types.js";

/** One RGW user as `radosgw-admin user create` makes it. */
export interface RgwUserSpec extends S3User {
  uid: string;
  /** Admin capabilities, e.g. `user-policy=*` to call PutUserPolicy on the RGW's IAM API. */
  caps?: string;
}

/** Creates a user on the RGW whose ceph.conf is `cephConf` (the server must be reachable through it). */
export async function createRgwUser(cephConf: string, user: RgwUserSpec): Promise<void> {
  await run("radosgw-admin", [
    "-c",
    cephConf,
    "user",
    "create",
    `--uid=${user.uid}`,
    `--display-name=${user.uid}`,
    `--access-key=${user.accessKeyId}`,
    `--secret-key=${user.secretAccessKey}`,
    ...(user.caps ? [`--caps=${user.caps}`] : []),
  ]);
}

/** Removes a user made by {@link createRgwUser} (it must own no bucket). */
export async function removeRgwUser(cephConf: string, uid: string): Promise<void> {
  await run("radosgw-admin", ["-c", cephConf, "user", "rm", `--uid=${uid}`]);
}

/** Removes a bucket and every object in it, whoever wrote them (no S3 permission involved). */
export async function purgeRgwBucket(cephConf: string, bucket: string): Promise<void> {
  await run("radosgw-admin", ["-c", cephConf, "bucket", "rm", `--bucket=${bucket}`, "--purge-objects"]);
}
