import { startCephRgw } from "./ceph.js";
import { useExternalS3 } from "./external.js";
import { startDockerMinio, startMinio } from "./minio.js";
import { errorMessage } from "./process.js";
import type { LocalS3, LocalS3Options } from "./types.js";

export { createRgwUser, purgeRgwBucket, type RgwUserSpec, removeRgwUser } from "./rgwUsers.js";
export type { LocalS3, LocalS3Options, S3User } from "./types.js";
export { FIXED_USERS, RGW_USER_IDS } from "./users.js";

/** No S3-compatible server could be used; the message says what was tried, why each failed and what to do. */
export class LocalS3Error extends Error {
  override readonly name = "LocalS3Error";
  constructor(
    message: string,
    readonly attempts: readonly { kind: LocalS3["kind"]; reason: string }[],
  ) {
    super(message);
  }
}

/**
 * An S3-compatible server with two users for tests and benchmarks: the server named by
 * `S3_ENDPOINT` if set, else a MinIO binary, else MinIO in Docker, else a throwaway Ceph RADOS
 * Gateway (installed with apt-get when missing and root). Never gives up silently: throws a
 * {@link LocalS3Error} when none can start.
 */
export async function startLocalS3(options: LocalS3Options = {}): Promise<LocalS3> {
  const endpoint = process.env.S3_ENDPOINT;
  if (endpoint) {
    try {
      return await useExternalS3(endpoint);
    } catch (error) {
      const reason = errorMessage(error);
      throw new LocalS3Error(`Cannot use the S3 server named by S3_ENDPOINT: ${reason}`, [
        { kind: "external", reason },
      ]);
    }
  }
  const attempts: { kind: LocalS3["kind"]; reason: string }[] = [];
  const starters: [LocalS3["kind"], () => Promise<LocalS3>][] = [
    ["minio", () => startMinio()],
    ["docker-minio", () => startDockerMinio(options)],
    ["ceph-rgw", () => startCephRgw(options)],
  ];
  for (const [kind, start] of starters) {
    try {
      return await start();
    } catch (error) {
      attempts.push({ kind, reason: errorMessage(error) });
    }
  }
  throw new LocalS3Error(
    [
      "Could not start an S3-compatible server for the tests. Tried:",
      ...attempts.map(({ kind, reason }) => `- ${kind}: ${reason.replaceAll("\n", "\n    ")}`),
      "Fix one of these:",
      "- point at a server: S3_ENDPOINT plus S3_SOURCE_ACCESS_KEY_ID, S3_SOURCE_SECRET_ACCESS_KEY,",
      "  S3_DESTINATION_ACCESS_KEY_ID, S3_DESTINATION_SECRET_ACCESS_KEY (two users), optional S3_REGION;",
      "  `docker compose up -d` in the repo root starts one (see README)",
      "- put `minio` and the MinIO client `mc` on PATH, or start a Docker engine",
      "- on Debian/Ubuntu, as root: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw",
    ].join("\n"),
    attempts,
  );
}
