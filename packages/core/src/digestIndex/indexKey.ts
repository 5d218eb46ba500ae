/**
 * What the last segment of every key a digest index writes in a bucket starts with (its
 * manifest and its pieces). No object of a user's is named so by chance, so a listing tells an
 * index's keys from synced objects by the key alone, with no request and no state: a page of a
 * listing, in either engine, decides each key by itself.
 */
export const INDEX_KEY_MARKER = "chunksync-digest-index.";

/** Whether `key` (whole or relative to a prefix) is one a digest index wrote in a bucket. */
export function isIndexKey(key: string): boolean {
  return key.startsWith(INDEX_KEY_MARKER, key.lastIndexOf("/") + 1);
}
