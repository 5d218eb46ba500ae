import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../scripts/local-s3/process.js";
import { rgwCephConf } from "./rgwIam.js";

interface Manifest {
  obj_size: number;
  head_size: number;
  prefix: string;
  tail_placement: { bucket: { marker: string } };
  rules: { val: { part_size: number; stripe_max_size: number } }[];
}

/**
 * Rot at rest, as the local RADOS Gateway stores it: overwrites `bytes` at `offset` of the S3
 * object `key` directly in the RADOS object of the data pool that holds that offset, below the
 * S3 API. Only offsets past the head object are taken: RGW states an object's LastModified from
 * its head object's RADOS mtime, which a write to a tail (`__shadow_`) object leaves as it was,
 * so S3 GETs return the new bytes under the same ETag and LastModified. Single-PUT objects only.
 */
export async function rotAtRest(bucket: string, key: string, offset: number, bytes: Buffer): Promise<void> {
  const conf = rgwCephConf();
  const stat = JSON.parse(
    await run("radosgw-admin", ["-c", conf, "object", "stat", `--bucket=${bucket}`, `--object=${key}`]),
  ) as { manifest: Manifest };
  const m = stat.manifest;
  const rule = m.rules[0]?.val;
  if (m.rules.length !== 1 || rule === undefined || rule.part_size !== 0) {
    throw new Error(`${bucket}/${key} is not a single-PUT object (its manifest has ${m.rules.length} rules)`);
  }
  if (offset < m.head_size || offset + bytes.length > m.obj_size) {
    throw new Error(
      `offset ${offset} is not in the tail of ${bucket}/${key} (${m.head_size}..${m.obj_size})`,
    );
  }
  const stripe = Math.floor((offset - m.head_size) / rule.stripe_max_size) + 1;
  const within = (offset - m.head_size) % rule.stripe_max_size;
  if (within + bytes.length > rule.stripe_max_size)
    throw new Error("the bytes cross a RADOS object boundary");
  const oid = `${m.tail_placement.bucket.marker}__shadow_${m.prefix}${stripe}`;
  const pools = (await run("rados", ["-c", conf, "lspools"])).split("\n").map((p) => p.trim());
  const pool = pools.find((p) => p.endsWith(".rgw.buckets.data"));
  if (pool === undefined) throw new Error(`no RGW data pool among ${pools.join(", ")}`);
  const file = join(mkdtempSync(join(tmpdir(), "rot-")), "bytes");
  writeFileSync(file, bytes);
  await run("rados", ["-c", conf, "-p", pool, "put", oid, file, "--offset", String(within)]);
}
