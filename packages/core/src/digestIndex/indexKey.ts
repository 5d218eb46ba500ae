/**
 * What the last segment of every key a digest index writes in a bucket starts with (its
 * manifest and its pieces), so a listing tells an index's keys from synced objects by the key
 * alone, with no request and no state: a page of a listing, in either engine, decides each key
 * by itself.
 */
export const INDEX_KEY_MARKER = "chunksync-digest-index.";

/**
 * The whole last segment of an index's key: the marker, then `manifest.json` or a piece's name
 * (`p-<run start, base 36>-<8 hex>-<n>.jsonl`, see the sync package's IndexWriter). Only these
 * exact forms are passed over, so an object of a user's that merely starts with the marker is
 * still synced.
 */
const PIECE = "p-([0-9a-z]+)-[0-9a-f]{8}-\\d+\\.jsonl";
const INDEX_NAME = new RegExp(`^chunksync-digest-index\\.(?:manifest\\.json|${PIECE})$`);
const PIECE_NAME = new RegExp(`^${PIECE}$`);

/**
 * When the run that wrote the piece `name` (its name within the index's location, as the
 * IndexWriter gives it) started, in ms, from its name; undefined for a name of no other form:
 * the sweep of stray pieces removes only names a run wrote, as a listing passes over only these.
 */
export function pieceRunStart(name: string): number | undefined {
  const match = PIECE_NAME.exec(name);
  return match ? Number.parseInt(match[1]!, 36) : undefined;
}

/** Whether `key` (whole or relative to a prefix) is one a digest index wrote in a bucket. */
export function isIndexKey(key: string): boolean {
  const at = key.lastIndexOf("/") + 1;
  return key.startsWith(INDEX_KEY_MARKER, at) && INDEX_NAME.test(at === 0 ? key : key.slice(at));
}
