import { ListBucketsCommand, S3Client } from "@aws-sdk/client-s3";
import { errorMessage, sleep } from "./process.js";
import type { S3User } from "./types.js";

/**
 * Waits until `user` can list its buckets: the server is up and knows the user.
 * `check` runs between attempts and throws to give up early (e.g. a daemon died). With
 * `retryRefusals: false`, an HTTP error answer (wrong keys) fails at once; only connection
 * errors are retried.
 */
export async function waitForListBuckets(
  endpoint: string,
  region: string,
  user: S3User,
  options: { timeoutMs: number; check?: () => void; retryRefusals?: boolean },
): Promise<void> {
  // A copy: the SDK tags the credentials object it is given.
  const credentials = { ...user };
  const client = new S3Client({ endpoint, region, credentials, forcePathStyle: true, maxAttempts: 1 });
  const deadline = Date.now() + options.timeoutMs;
  try {
    for (;;) {
      try {
        await client.send(new ListBucketsCommand({}), { abortSignal: AbortSignal.timeout(5000) });
        return;
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        const why = status === undefined ? errorMessage(error) : `HTTP ${status} ${(error as Error).name}`;
        if (status !== undefined && options.retryRefusals === false) {
          throw new Error(`ListBuckets as ${user.accessKeyId} at ${endpoint} fails: ${why}`);
        }
        if (Date.now() > deadline) {
          throw new Error(
            `ListBuckets as ${user.accessKeyId} at ${endpoint} still fails after ${options.timeoutMs} ms: ${why}`,
          );
        }
      }
      options.check?.();
      await sleep(100);
    }
  } finally {
    client.destroy();
  }
}
