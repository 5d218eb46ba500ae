import type { IndexEntry, ObjectAttributes } from "@chunksync/core";
import type { ObjectHead } from "@chunksync/storage";

/** Attributes as an index keeps them: a tag set changes without a new version, so it is read each run. */
function untagged(attributes: ObjectAttributes): ObjectAttributes {
  const { tagging: _tags, ...rest } = attributes;
  return rest;
}

/**
 * The entry of a version this side read: its digests, all of them, taken after `at` on its
 * server's clock. None where a digest, the version's LastModified or the clock is missing.
 */
export function readEntry(
  head: ObjectHead,
  attributes: ObjectAttributes,
  at: number | undefined,
  digests: Buffer[] | undefined,
): IndexEntry | undefined {
  if (digests === undefined || at === undefined || head.lastModified === undefined || head.archived) return;
  return {
    key: head.key,
    size: head.size,
    etag: head.etag,
    lastModified: head.lastModified,
    ...(head.versionId !== undefined ? { versionId: head.versionId } : {}),
    ...(head.storageClass !== undefined ? { storageClass: head.storageClass } : {}),
    proof: "read",
    at,
    attributes: untagged(attributes),
    digests,
  };
}

/**
 * The entry of a version this side just wrote, with the digests it holds of every chunk of it
 * (uploaded with a Content-MD5 the server checked, copied from its own digested old version,
 * or read back); `at` is its server's time once the write was done.
 */
export function writtenEntry(
  version: { key: string; size: number; etag: string },
  attributes: ObjectAttributes,
  at: number,
  digests: Buffer[],
): IndexEntry {
  return { ...version, proof: "written", at, attributes: untagged(attributes), digests };
}
