import { runCommand } from "./exec.js";

/** Bytes and requests of one bucket in the RADOS Gateway usage log. */
export interface BucketUsage {
  /** Response bytes of GET requests (category get_obj): bytes read out of the bucket. */
  getSent: number;
  /** Request body bytes of every category: bytes written into the bucket (PUT, UploadPart). */
  received: number;
  /** Requests of every category. */
  ops: number;
}

type Snapshot = Map<string, BucketUsage>;

interface UsageJson {
  entries?: {
    buckets?: {
      bucket: string;
      categories: { category: string; bytes_sent: number; bytes_received: number; ops: number }[];
    }[];
  }[];
}

/**
 * Per-bucket byte counters kept by the server itself (`rgw enable usage log`), read with
 * `radosgw-admin usage show`. RGW charges a request to the owner of the bucket it targets,
 * so reading every user's entries gives every bucket. The log is flushed about every second,
 * so a reading waits until two consecutive snapshots agree.
 */
export class RgwUsage {
  constructor(
    private readonly cephConf: string,
    private readonly uids: string[],
  ) {}

  async snapshot(): Promise<Snapshot> {
    const out: Snapshot = new Map();
    for (const uid of this.uids) {
      const r = await runCommand("radosgw-admin", ["-c", this.cephConf, "usage", "show", `--uid=${uid}`]);
      const json = JSON.parse(r.stdout) as UsageJson;
      for (const entry of json.entries ?? []) {
        for (const bucket of entry.buckets ?? []) {
          const u = out.get(bucket.bucket) ?? { getSent: 0, received: 0, ops: 0 };
          for (const c of bucket.categories) {
            if (c.category === "get_obj") u.getSent += c.bytes_sent;
            u.received += c.bytes_received;
            u.ops += c.ops;
          }
          out.set(bucket.bucket, u);
        }
      }
    }
    return out;
  }

  /** A snapshot taken once the log has flushed everything done so far. */
  async settled(): Promise<Snapshot> {
    let previous = await this.snapshot();
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 1200));
      const next = await this.snapshot();
      if (sameSnapshot(previous, next)) return next;
      previous = next;
    }
    return previous;
  }
}

function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || w.getSent !== v.getSent || w.received !== v.received || w.ops !== v.ops) return false;
  }
  return true;
}

/** What happened to `bucket` between two snapshots. */
export function usageDelta(before: Snapshot, after: Snapshot, bucket: string): BucketUsage {
  const a = before.get(bucket) ?? { getSent: 0, received: 0, ops: 0 };
  const b = after.get(bucket) ?? { getSent: 0, received: 0, ops: 0 };
  return { getSent: b.getSent - a.getSent, received: b.received - a.received, ops: b.ops - a.ops };
}
