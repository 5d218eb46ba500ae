import type { ObjectAttributes } from "../objectAttributes.js";
import { sameEtag } from "../sameEtag.js";

/** What a side's listing (or HEAD) states of the current version of a key. */
export interface ListedVersion {
  size: number;
  etag: string;
  /** ms since the epoch; compared in whole seconds (a HEAD states no finer). */
  lastModified?: number;
  versionId?: string;
}

/**
 * How an entry's digests are known to be of the version it names.
 * - `read`: this side read and hashed that version when its server's clock said `at`. An
 *   entry stands only if `at` is at least one second past the version's LastModified second:
 *   a rewrite within that same second (which a listing cannot tell apart) could otherwise
 *   have followed the read unseen. Such a rewrite keeps the ETag only where it keeps the bytes
 *   (a restatement of other attributes): an entry read within its version's second is
 *   confirmed by one HEAD, as a written one is.
 * - `written`: this side wrote that version, with digests it holds of what the server stored;
 *   any version with that ETag and size holds those bytes (an ETag names a version's bytes:
 *   reads are pinned to it). `at` is its server's time once the write was done. Its attributes
 *   are those written, which a same-second restatement by another writer could have changed:
 *   a run that uses such an entry HEADs the object once (see the sync package's inspect phase),
 *   unless it records the version ID the write's answer named and the listing names that one
 *   (a restatement in a bucket that keeps versions is a version of its own).
 */
export type IndexProof = "read" | "written";

/** One object's entry in a side's digest index: the version it was made for and its chunk digests. */
export interface IndexEntry {
  key: string;
  size: number;
  etag: string;
  /** The version's LastModified (ms); absent for a version this side wrote and has not listed since. */
  lastModified?: number;
  versionId?: string;
  storageClass?: string;
  proof: IndexProof;
  /** The side's server time (ms, whole seconds) when the digests were taken (see {@link IndexProof}). */
  at: number;
  /** The version's attributes as this side read or wrote them (its tag set never: tags change without a new version). */
  attributes: ObjectAttributes;
  /** One digest per chunk of the index's chunk plan, in order. */
  digests: Buffer[];
  /**
   * A scrub read bytes of this version that differ from `digests`: what is stored is no longer
   * what was indexed (rot, or a change below the S3 API). `digests` stay those recorded, of the
   * version's own bytes. Never a source of digests: where this side is a destination its object
   * is read (and repaired by the write that follows), where it is a source its object is not
   * sent (see the sync package's SourceRottedError), until a new version replaces it.
   */
  rotted?: true;
}

/** `time` (ms) down to its whole second: the precision servers state LastModified and Date in. */
export function wholeSecond(time: number): number {
  return Math.floor(time / 1000) * 1000;
}

/** The version ID S3 states for the null version: one written while the bucket kept no versions, or kept them suspended. */
const NULL_VERSION = "null";

/**
 * The version ID a copy can be pinned to: `versionId` itself, but none for the null version
 * (nor where none is stated), which a write while the bucket keeps no versions replaces in place.
 * A copy that names a version copies that version's bytes whatever is current by then, on every
 * S3-compatible server (Ceph RGW 16 included, which ignores x-amz-copy-source-if-match).
 */
export function versionPin(versionId: string | undefined): string | undefined {
  return versionId === NULL_VERSION ? undefined : versionId;
}

/**
 * Whether `listed` may be the version `entry` records. An entry that records a version ID
 * needs that ID stated. One that records none was read from the null version (or from a
 * bucket that never kept versions): a stated ID must be "null" (Ceph RGW 16 states none for
 * the null version, S3 "null"). A version this side wrote records none because its write's
 * answer was not consulted for it: any ID, its ETag proves its bytes (see {@link IndexProof}).
 */
function sameVersion(entry: IndexEntry, listed: ListedVersion): boolean {
  if (entry.versionId !== undefined) return listed.versionId === entry.versionId;
  return entry.proof === "written" || listed.versionId === undefined || listed.versionId === NULL_VERSION;
}

/**
 * Whether `entry` still holds for the version `listed` names: same size and ETag, same
 * LastModified second, the same version (see {@link sameVersion}), and provably not a racing
 * rewrite of that second (see {@link IndexProof}). Anything else is stale and the object's
 * bytes are read again; a listing that states no LastModified never matches. A version ID
 * (the null version's aside) names one version, whose bytes and attributes never change: where
 * both state the same one, its LastModified need not agree. Ceph RGW 16 moves the
 * LastModified a HEAD or GET states of a version whose tag set is put, and not the one its
 * versions listing states, so an entry taken from a read would otherwise never stand again.
 */
export function entryStands(entry: IndexEntry, listed: ListedVersion): boolean {
  return entryStanding(entry, listed) === "stands";
}

/**
 * {@link entryStands}, told apart from an entry of the version `listed` names that this side
 * read within that version's LastModified second (`racy`): its bytes are those its ETag names,
 * and one HEAD a second later states the attributes that a same-second restatement could have
 * changed (see {@link IndexProof}).
 */
export function entryStanding(entry: IndexEntry, listed: ListedVersion): "stands" | "racy" | "stale" {
  if (entry.size !== listed.size || !sameEtag(entry.etag, listed.etag)) return "stale";
  if (!sameVersion(entry, listed)) return "stale";
  if (namedByListing(entry, listed)) return "stands";
  if (listed.lastModified === undefined) return "stale";
  const second = wholeSecond(listed.lastModified);
  // A version this side wrote is the one listed if it was written no later than the write
  // was seen done (give or take the second by which a server's Date header and its
  // LastModified may disagree: Ceph RGW 16 states a Date a few ms behind the LastModified it
  // gives the same write); its ETag proves the bytes whenever it was written.
  if (entry.lastModified === undefined)
    return entry.proof === "written" && second <= entry.at + 1000 ? "stands" : "stale";
  if (wholeSecond(entry.lastModified) !== second) return "stale";
  return entry.proof === "written" || entry.at >= second + 1000 ? "stands" : "racy";
}

/**
 * Whether `listed`, which need not state a version ID (ListObjectsV2 states none), can settle
 * `entry` only with one HEAD of the object, whose answer {@link entryStands} then judges:
 * - a listing that states no ETag (see {@link etagUnstated});
 * - a version this side wrote, or read within its LastModified second: its ETag proves its
 *   bytes, not its attributes (see {@link IndexProof}), unless the entry records the version ID
 *   the listing names;
 * - on a listing that states no version ID, an entry of a bucket that keeps or kept versions
 *   (`versioned`: its versioning Enabled or Suspended, or not known), or one that records a
 *   version ID (a stated "null" counts): deleting the newest version makes an older one
 *   current again, which can have the same bytes, ETag and LastModified second and other
 *   attributes, and no listing tells it apart. The HEAD must name the entry's version, the
 *   null version where it records none.
 * Entries of buckets that never kept versions need no request.
 */
export function entryNeedsHead(entry: IndexEntry, listed: ListedVersion, versioned: boolean): boolean {
  if (etagUnstated(listed)) return true;
  if (entry.proof === "written" && !namedByListing(entry, listed)) return true;
  if (listed.versionId === undefined && (versioned || entry.versionId !== undefined)) return true;
  return entryStanding(entry, listed) === "racy";
}

/** Whether `entry` records a version ID (not the null version's) that `listed` names. */
function namedByListing(entry: IndexEntry, listed: ListedVersion): boolean {
  return versionPin(entry.versionId) !== undefined && listed.versionId === entry.versionId;
}

/**
 * Whether `listed` states no ETag: Ceph RGW 16 lists an object whose tag set was deleted
 * (DeleteObjectTagging) with an empty one, which only a HEAD of it states again.
 */
function etagUnstated(listed: ListedVersion): boolean {
  return listed.etag === "" || listed.etag === '""';
}

/**
 * Whether `entry` may stand for the version `listed` names: it stands, or would if the version
 * ID (or ETag, see {@link etagUnstated}) the listing does not state is the entry's, or once a
 * HEAD states the attributes of a version read within its own second (one HEAD tells: see
 * {@link entryNeedsHead}). An entry's bytes stand on this alone: an ETag names a version's bytes.
 */
export function entryMayStand(entry: IndexEntry, listed: ListedVersion): boolean {
  const versionId = listed.versionId ?? entry.versionId;
  const etag = etagUnstated(listed) ? entry.etag : listed.etag;
  return (
    entryStanding(entry, versionId === undefined ? { ...listed, etag } : { ...listed, etag, versionId }) !==
    "stale"
  );
}

/**
 * Whether a scrub's rot mark `mark` stands for the version `entry` is of (an entry of the same
 * key, made from that version: a read of its bytes, or the index): a mark stands until a new
 * version replaces it, however the entry kept for that version was made.
 */
export function markStandsFor(mark: IndexEntry, entry: IndexEntry): boolean {
  if (entry.lastModified === undefined) return false;
  const version: ListedVersion = { size: entry.size, etag: entry.etag, lastModified: entry.lastModified };
  if (entry.versionId !== undefined) version.versionId = entry.versionId;
  return entryMayStand(mark, version);
}

/**
 * `head`, a HEAD's or a read's answer, with the LastModified `listed` states where both are of
 * one version: the same size and ETag, and the same version ID where both name one (the null
 * version either way where neither does). An entry made from it then matches the listings of
 * the runs after. Ceph RGW 16 moves the LastModified a HEAD or GET states of a version whose tag
 * set is put, and not the one its versions listing states, so an entry made from the head
 * would never stand again for a null version (a bucket whose versioning was suspended over older
 * versions). `head` itself where `listed` is absent or of another version.
 */
export function asListed<T extends ListedVersion>(head: T, listed: ListedVersion | undefined): T {
  if (listed?.lastModified === undefined || head.lastModified === listed.lastModified) return head;
  if (head.size !== listed.size || !sameEtag(head.etag, listed.etag)) return head;
  if (versionPin(head.versionId) !== versionPin(listed.versionId)) return head;
  return { ...head, lastModified: listed.lastModified };
}

/**
 * The entry for `listed` with what the listing states of it: a written entry learns its
 * version's LastModified, and its version ID where the listing names one (not the null
 * version), so that from then on only that exact version matches it.
 */
export function entryAsListed(entry: IndexEntry, listed: ListedVersion): IndexEntry {
  if (entry.lastModified !== undefined || listed.lastModified === undefined) return entry;
  const versionId = entry.versionId ?? versionPin(listed.versionId);
  return { ...entry, lastModified: listed.lastModified, ...(versionId !== undefined ? { versionId } : {}) };
}
