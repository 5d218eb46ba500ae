import type { S3User } from "./types.js";

/**
 * Fixed keys of the two users on servers started here. They only exist on throwaway
 * servers bound to 127.0.0.1, so they need not be secret; being fixed lets a developer
 * paste them into another shell.
 */
export const FIXED_USERS: Readonly<{ source: Readonly<S3User>; destination: Readonly<S3User> }> = {
  source: { accessKeyId: "chunksync-source", secretAccessKey: "chunksync-source-secret" },
  destination: { accessKeyId: "chunksync-destination", secretAccessKey: "chunksync-destination-secret" },
};

/** RGW user ids (what `radosgw-admin usage show --uid=...` takes). */
export const RGW_USER_IDS = { source: "chunksync-source", destination: "chunksync-destination" };

export function regionFromEnv(): string {
  return process.env.S3_REGION || "us-east-1";
}
