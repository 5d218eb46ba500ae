import {
  type ChunkPlan,
  type ChunkRange,
  chunkRange,
  chunkRanges,
  type DigestAlgorithm,
  type IndexEntry,
  type ObjectAttributes,
  type ObjectDecision,
  planChunks,
  sameEtag,
  versionPin,
} from "@chunksync/core";
import type { ObjectHead, ObjectStore } from "@chunksync/storage";
import type { DestinationSide } from "../DestinationSide.js";
import type { SourceSide } from "../SourceSide.js";
import { writeRequestsOf } from "./write.js";

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
 * or read back); `at` is its server's time once the write was done. Where the write's answer
 * named the version it made (a bucket that keeps versions; not the null version, which a
 * later write replaces in place), the entry records it: a version's bytes and attributes never
 * change, so a listing that names it settles the entry with no HEAD (see `entryNeedsHead`).
 */
export function writtenEntry(
  version: { key: string; size: number; etag: string; versionId?: string | undefined },
  attributes: ObjectAttributes,
  at: number,
  digests: Buffer[],
): IndexEntry {
  const { versionId, ...rest } = version;
  const pin = versionPin(versionId);
  const entry: IndexEntry = { ...rest, proof: "written", at, attributes: untagged(attributes), digests };
  if (pin !== undefined) entry.versionId = pin;
  return entry;
}

/**
 * The source's entry for the version `head` it settled at without writing it: the entry it took
 * its digests from (`indexed`), else one from the digests `side` holds of every chunk.
 */
export function sourceEntry(
  side: SourceSide,
  head: ObjectHead,
  attributes: ObjectAttributes,
  at: number | undefined,
  chunkSize: number,
  indexed?: IndexEntry,
): IndexEntry | undefined {
  if (indexed) return indexed;
  const count = planChunks(head.size, chunkSize).count;
  return readEntry(head, attributes, at, side.digestsOf({ key: head.key, etag: head.etag }, count));
}

/**
 * The destination's entry for the version `head` it holds and did not write: the entry it took
 * its digests from (`indexed`), else one from the digests `side` holds of every chunk.
 */
export function destinationEntry(
  side: DestinationSide,
  head: ObjectHead,
  attributes: ObjectAttributes,
  at: number | undefined,
  algorithm: DigestAlgorithm,
  chunkSize: number,
  indexed?: IndexEntry,
): IndexEntry | undefined {
  if (indexed) return indexed;
  const ranges = chunkRanges(planChunks(head.size, chunkSize));
  return readEntry(head, attributes, at, side.digestsOf(head.key, head.etag, algorithm, ranges));
}

/**
 * The destination's entry for the version it just wrote, where `side` holds the digest of
 * every chunk of it (see {@link DestinationSide.written}); `writtenAt` is its server's time
 * once the write was done.
 */
export function destinationWrittenEntry(
  side: DestinationSide,
  version: { key: string; size: number; etag: string; versionId?: string | undefined },
  attributes: ObjectAttributes,
  writtenAt: number | undefined,
  algorithm: DigestAlgorithm,
  chunkSize: number,
): IndexEntry | undefined {
  const ranges = chunkRanges(planChunks(version.size, chunkSize));
  const digests = side.digestsOf(version.key, version.etag, algorithm, ranges);
  return digests && writtenAt !== undefined
    ? writtenEntry(version, attributes, writtenAt, digests)
    : undefined;
}

/** What each side's index says of an object whose entries a block round found wrong (see `rebuildsChangedInPlace`). */
export const DISTRUSTED_NOTE =
  "an object's block round found a chunk its digests called changed byte for byte alike on both sides (an entry no longer of its object's bytes): neither side keeps an entry of it, and the next run reads it";

/** What a side's index says where {@link copiedFromOld} found a write's copies unpinned. */
export const UNPINNED_COPIES_NOTE =
  "re-composed objects keep no entry: their copies from the old version could not be pinned to it (this server does not refuse a copy from a stale ETag, and the copies named no version: the bucket keeps none, the old object was its null version (written while versioning was off or suspended), or a copy naming one was refused); the next run reads each such object once";

/**
 * What a write of version `etag` to `key` copied whole from the destination's old version `old`
 * at the same offsets (a copy from another place, or one covering a chunk only in part, gives no
 * chunk's digest), as {@link DestinationSide.written} takes it. A copy holds the old version's
 * bytes only where it is pinned to that version:
 * - copies that name the old version's ID (see `versionPin`: a bucket that keeps versions),
 *   which copy that version whatever is current, while the store sends them so (see
 *   `copiesNameVersions`);
 * - a write made of one CopyObject of the old version where its answer names the old version's
 *   ETag (the ETag of what it copied);
 * - the part copies of a multipart write where the destination's server enforces
 *   x-amz-copy-source-if-match (declared, or probed once: see `enforcesCopySourceIfMatch`), as
 *   AWS S3 does. Ceph RGW 16 ignores it, so in a bucket without versions a part copies whatever
 *   version is current by then, and the HEAD that guards the completion cannot tell: another
 *   writer may put other bytes before the copy and the old bytes back after it (the old ETag
 *   again). Such a write's copied chunks get no digest, and the object no entry: the next run
 *   reads it.
 * A tag set put on the old version alone (a `tags` decision) keeps that version whole: the write
 * checked after it that the version is still the one challenged. Its digests hold whether or
 * not the destination checks Content-MD5, since nothing was uploaded.
 */
export async function copiedFromOld(
  plan: ChunkPlan,
  decision: Pick<ObjectDecision, "action" | "parts" | "condition">,
  old: { etag: string; size: number; versionId?: string },
  written: { key: string; etag: string },
  destination: Pick<ObjectStore, "copiesNameVersions" | "enforcesCopySourceIfMatch" | "ref">,
  signal?: AbortSignal,
): Promise<{ from: string; ranges: ChunkRange[]; unpinned: boolean }> {
  // A tag set put on the old version keeps its bytes: the write checked it is still that version.
  if (decision.action === "tags") return { from: old.etag, ranges: chunkRanges(plan), unpinned: false };
  const ranges = copiedRanges(plan, decision);
  if (ranges.length === 0) return { from: old.etag, ranges, unpinned: false };
  const pin = copyPin(plan, decision, old, destination);
  const pinned =
    pin === "named" ||
    (pin === "copy"
      ? sameEtag(written.etag, old.etag)
      : await destination.enforcesCopySourceIfMatch(
          written.key,
          destination.ref(written.key, old.etag),
          signal,
        ));
  return pinned
    ? { from: old.etag, ranges, unpinned: false }
    : { from: old.etag, ranges: [], unpinned: true };
}

/**
 * Whether the copies a write made from the old version give their digests without a read (see
 * {@link copiedFromOld}): where the destination checked every part it uploaded against its
 * Content-MD5 (`uploadsChecked`), or where the write was a tag set alone, which uploaded none.
 */
export function copiesKnown(decision: Pick<ObjectDecision, "action">, uploadsChecked: boolean): boolean {
  return uploadsChecked || decision.action === "tags";
}

/**
 * Starts, beside a write, the probe {@link copiedFromOld} will await once it is done, where the
 * write's copies from the old version need it: its three round trips then overlap the write
 * instead of following it (the store runs it once and keeps its answer).
 */
export function probeCopyPins(
  plan: ChunkPlan,
  decision: Pick<ObjectDecision, "action" | "parts" | "condition">,
  old: { etag: string; size: number; versionId?: string },
  key: string,
  destination: Pick<ObjectStore, "copiesNameVersions" | "enforcesCopySourceIfMatch" | "ref">,
  signal?: AbortSignal,
): void {
  if (copiedRanges(plan, decision).length > 0 && copyPin(plan, decision, old, destination) === "probe")
    void destination.enforcesCopySourceIfMatch(key, destination.ref(key, old.etag), signal);
}

/** The chunks a write copies whole from the old version at their own offsets. */
function copiedRanges(plan: ChunkPlan, decision: Pick<ObjectDecision, "parts">): ChunkRange[] {
  const ranges: ChunkRange[] = [];
  for (const part of decision.parts) {
    if (part.kind !== "destinationCopy" || part.oldOffset !== undefined) continue;
    for (let i = part.firstChunk; i < part.firstChunk + part.chunkCount; i++) {
      const range = chunkRange(plan, i);
      if (range.offset >= part.offset && range.offset + range.length <= part.offset + part.length)
        ranges.push(range);
    }
  }
  return ranges;
}

/**
 * What pins a write's copies from the old version to it: the version they name, the answer of
 * the write's one CopyObject, or the server's enforcing x-amz-copy-source-if-match (probed).
 */
function copyPin(
  plan: ChunkPlan,
  decision: Pick<ObjectDecision, "action" | "parts" | "condition">,
  old: { etag: string; size: number; versionId?: string },
  destination: Pick<ObjectStore, "copiesNameVersions">,
): "named" | "copy" | "probe" {
  if (versionPin(old.versionId) !== undefined && destination.copiesNameVersions()) return "named";
  return writeRequestsOf({ decision, source: plan, old }).kind === "copy" ? "copy" : "probe";
}
