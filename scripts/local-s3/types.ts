/** One identity on the S3 server (an access key pair). */
export interface S3User {
  accessKeyId: string;
  secretAccessKey: string;
}

/** A running S3-compatible server with two users that cannot read each other's buckets. */
export interface LocalS3 {
  kind: "external" | "minio" | "docker-minio" | "ceph-rgw";
  /** For example `http://127.0.0.1:PORT`; clients must use path-style addressing. */
  endpoint: string;
  /** `us-east-1` unless `S3_REGION` says otherwise. */
  region: string;
  users: { source: S3User; destination: S3User };
  /** Only for ceph-rgw: path to the ceph.conf so other tooling can run `radosgw-admin -c CONF ...` (e.g. `usage show --uid=...`). */
  cephConf?: string;
  /** RGW user ids of the two users (for `radosgw-admin usage show --uid=...`). */
  userIds?: { source: string; destination: string };
  /** Stops every process that was started and removes their files; a no-op for an external server. */
  stop(): Promise<void>;
}

export interface LocalS3Options {
  /** Progress lines (package installation, image pulls); silent when absent. */
  log?: (line: string) => void;
  /** Size of the Ceph memstore device; memory is only used as objects are written. Default 12 GiB. */
  memstoreBytes?: number;
  /**
   * Where the Ceph OSD keeps objects: in memory (default: fast, but every byte stored costs
   * RAM), or on disk (BlueStore on a sparse file in the server's temp dir) for data sets
   * near the machine's memory. The LOCAL_S3_STORE environment variable (memory|disk) sets it too.
   */
  store?: "memory" | "disk";
}
