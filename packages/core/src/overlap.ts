/**
 * Whether two sides of a run share storage: a sync whose destination lies inside its source
 * (or the other way round) reads what it writes and, with `--delete`, deletes what it copies.
 * Pure, so the CLI and the deployment config apply the one rule.
 */

import { ValidationError } from "./errors.js";

/** Keys under `prefix` as a directory: `s3://b/photos` means `photos/...`, as `aws s3 sync` reads it. */
export function directoryPrefix(prefix: string): string {
  return prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
}

/** One side of a run, as far as overlap is concerned. */
export interface SideLocation {
  /**
   * Which namespace the bucket name lives in: the endpoint the side talks to, or the AWS
   * partition when it talks to AWS (bucket names are global there, whatever the region or
   * account). See {@link storageOf}.
   */
  storage: string;
  bucket: string;
  prefix: string;
  /**
   * The owner account the side insists on (S3's expected bucket owner). On AWS two different
   * owners cannot both reach one bucket: S3 refuses every request of the side whose expected
   * owner is wrong. Other servers may ignore the header (Ceph RGW 16 does), so there it proves nothing.
   */
  owner?: string;
}

/**
 * The namespace of bucket names a side lives in: its endpoint (scheme, host, port and path,
 * lowercased host, no trailing `/`), or `aws:<partition>` when it has none.
 */
export function storageOf(endpoint: string | undefined, region: string): string {
  if (endpoint === undefined) {
    // Partitions (aws, aws-cn, aws-us-gov) have separate bucket namespaces.
    const partition = region.startsWith("cn-")
      ? "aws-cn"
      : region.startsWith("us-gov-")
        ? "aws-us-gov"
        : "aws";
    return `aws:${partition}`;
  }
  try {
    const url = new URL(endpoint);
    return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
  } catch {
    return endpoint;
  }
}

/** Prefixes read as directories overlap when one holds the other (or they are equal). */
export function prefixesOverlap(a: string, b: string): boolean {
  const x = directoryPrefix(a);
  const y = directoryPrefix(b);
  return x.startsWith(y) || y.startsWith(x);
}

/** True when the two sides may hold the same objects: one storage, one bucket, nested prefixes. */
export function sidesOverlap(a: SideLocation, b: SideLocation): boolean {
  const onAws = a.storage.startsWith("aws:");
  if (onAws && a.owner !== undefined && b.owner !== undefined && a.owner !== b.owner) return false;
  return a.storage === b.storage && a.bucket === b.bucket && prefixesOverlap(a.prefix, b.prefix);
}

/** The destination overlaps the source: refused before anything is read or written. */
export class SidesOverlapError extends ValidationError {
  constructor(
    field: string,
    sourceUrl: string,
    destinationUrl: string,
    why = "a sync would read what it writes, and a delete would remove what it copies",
  ) {
    super(
      field,
      `a destination apart from the source, but ${destinationUrl} and ${sourceUrl} overlap on the same storage (${why})`,
      { code: "SIDES_OVERLAP" },
    );
  }
}
