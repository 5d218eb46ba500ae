import type { ObjectReader } from "@chunksync/storage";

/** What a run learned of a side's bucket for its index entries (see {@link bucketVersioning}). */
export interface BucketVersioningVerdict {
  /** The bucket keeps or kept versions, or its state could not be read. */
  versioned: boolean;
  /** Why the state could not be read, for the side's index notes. */
  note?: string;
}

/**
 * What a side's index says of a run in which its bucket keeps versions and the listing of them
 * (which names each version, see `ObjectReader.list`) did not name them all.
 */
export const VERSIONS_UNLISTED_NOTE =
  "the bucket's versions were not listed in full (ListObjectVersions was refused, for want of s3:ListBucketVersions, or older versions outnumbered current ones 20 to 1): each entry whose version the listing did not name is confirmed with a HEAD";

/**
 * Whether `store`'s bucket keeps or kept versions (GetBucketVersioning: Enabled or Suspended):
 * there a listing cannot tell the version it shows from another, so each index entry is
 * confirmed by a HEAD (see `entryNeedsHead`). Asked once per run by a side whose index holds
 * entries. A state that cannot be read (an identity without s3:GetBucketVersioning, a failed
 * request) counts as versioned: each entry then costs a HEAD, never a wrong verdict, and the
 * run goes on, with a note saying so.
 */
export async function bucketVersioning(
  store: ObjectReader,
  signal?: AbortSignal,
): Promise<BucketVersioningVerdict> {
  try {
    return { versioned: (await store.versioning(signal)) !== "unversioned" };
  } catch (error) {
    signal?.throwIfAborted();
    const why = (error as Error).message;
    return {
      versioned: true,
      note: `the bucket's versioning state could not be read (${why}): it is taken to keep versions, which are listed to name each entry's version`,
    };
  }
}
