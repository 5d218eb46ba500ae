import {
  attributesOf,
  chunkRanges,
  type DigestAlgorithm,
  type IndexEntry,
  type ObjectAttributes,
  type ObjectIdentity,
  planChunks,
} from "@chunksync/core";
import { isArchiveClass, type ObjectHead, type ObjectReader, type ObjectSummary } from "@chunksync/storage";
import type { DestinationSide } from "../DestinationSide.js";
import { ObjectChangedError } from "../errors.js";
import type { SourceSide } from "../SourceSide.js";

/** What the run's listings said of one object: on the source, and on the destination if there. */
export interface ListedPair {
  source: ObjectSummary;
  destination: ObjectSummary | undefined;
}

/** Each side's index entry that still stands for the version its listing names. */
export interface IndexedPair {
  source?: IndexEntry | undefined;
  destination?: IndexEntry | undefined;
}

/** The head of the version an index entry stands for, as its listing and the entry state it. */
export function headOfEntry(entry: IndexEntry, listed: ObjectSummary): ObjectHead {
  return {
    ...entry.attributes,
    key: listed.key,
    size: entry.size,
    etag: listed.etag,
    ...(listed.lastModified !== undefined ? { lastModified: listed.lastModified } : {}),
    ...(entry.versionId !== undefined ? { versionId: entry.versionId } : {}),
    ...(listed.storageClass !== undefined ? { storageClass: listed.storageClass } : {}),
    archived: false,
    metadata: { ...entry.attributes.metadata },
  };
}

/**
 * The head of the listed source object. A source listed but gone by now changed under
 * the run, in either engine: it is reported (or restarted) as SOURCE_CHANGED.
 */
export function presentSource(key: string, head: ObjectHead | undefined): ObjectHead {
  if (head === undefined) throw new ObjectChangedError("source", key);
  return head;
}

/** The source version an object's reads, copies and challenges are pinned to. */
export function sourceIdentity(bucket: string, key: string, head: Pick<ObjectHead, "etag" | "versionId">) {
  const id: ObjectIdentity = {
    bucket,
    key,
    etag: head.etag,
    ...(head.versionId ? { versionId: head.versionId } : {}),
  };
  return id;
}

/**
 * The attributes of `head` to restate or compare; with `copyTags` its tag set too (a HEAD
 * carries none). The tags of an archived object are not read: it is reported, not written.
 */
export async function readAttributes(
  store: ObjectReader,
  head: ObjectHead,
  copyTags: boolean | undefined,
): Promise<ObjectAttributes> {
  return attributesOf(head, copyTags && !head.archived ? await store.tagging(head.key) : undefined);
}

/** What {@link inspect} reads with: both stores, and the sides that can read ahead. */
export interface InspectContext {
  source: ObjectReader;
  destination: ObjectReader;
  sourceSide: SourceSide;
  destinationSide: DestinationSide;
  chunkSize: number;
  /** A dry run writes nothing, so it reads no body to send. */
  dryRun?: boolean;
  signal?: AbortSignal;
}

/**
 * Both sides' heads. Where the listings say both objects exist and hold bytes, a side whose
 * index entry still stands for its listed version takes its head and digests from that entry
 * and sends no request; otherwise it reads its first chunk instead of a HEAD: one GET gives
 * the head of the version it reads and that chunk's digest, which the challenge then does not
 * read again. Where the destination listing has no such key, its HEAD is skipped: the write is
 * conditional on the key's absence (If-None-Match, or a HEAD just before a multipart
 * completion), and a source object of at most one chunk is read whole in the same request that
 * heads it. `used` says which sides took their entry.
 */
export async function inspect(
  ctx: InspectContext,
  sourceKey: string,
  destinationKey: string,
  listed: ListedPair | undefined,
  indexed: IndexedPair = {},
): Promise<{
  source: ObjectHead;
  destination: ObjectHead | undefined;
  used: { source: boolean; destination: boolean };
}> {
  const { source, destination, signal } = ctx;
  const used = { source: false, destination: false };
  let heads: [ObjectHead | undefined, ObjectHead | undefined];
  if (listed && listed.destination === undefined) {
    // A small object the destination lacks is read whole with its head: one GET, no HEAD.
    const small =
      !ctx.dryRun &&
      listed.source.size > 0 &&
      listed.source.size <= ctx.chunkSize &&
      !isArchiveClass(listed.source.storageClass);
    heads = [
      small ? await ctx.sourceSide.read(sourceKey, ctx.chunkSize) : await source.head(sourceKey, signal),
      undefined,
    ];
  } else if (
    listed?.destination &&
    listed.source.size > 0 &&
    listed.destination.size > 0 &&
    !isArchiveClass(listed.source.storageClass) &&
    !isArchiveClass(listed.destination.storageClass)
  ) {
    const { algorithm } = ctx.sourceSide.options;
    const listedDestination = listed.destination;
    heads = await Promise.all([
      indexed.source
        ? sourceFromIndex(ctx.sourceSide, indexed.source, listed.source)
        : ctx.sourceSide.probe(sourceKey, ctx.chunkSize),
      indexed.destination
        ? destinationFromIndex(
            ctx.destinationSide,
            indexed.destination,
            listedDestination,
            algorithm,
            ctx.chunkSize,
          )
        : ctx.destinationSide.probe(destinationKey, ctx.chunkSize, algorithm),
    ]);
    used.source = indexed.source !== undefined;
    used.destination = indexed.destination !== undefined;
  } else {
    // Both HEADs at once: they are independent, and small objects are bound by round trips.
    heads = await Promise.all([source.head(sourceKey, signal), destination.head(destinationKey, signal)]);
  }
  return { source: presentSource(sourceKey, heads[0]), destination: heads[1], used };
}

/**
 * The head of the source version a standing index entry is for, its digests handed to `side`:
 * no request is sent.
 */
export function sourceFromIndex(side: SourceSide, entry: IndexEntry, listed: ObjectSummary): ObjectHead {
  side.know({ key: listed.key, etag: listed.etag }, entry.digests);
  return headOfEntry(entry, listed);
}

/**
 * The head of the destination version a standing index entry is for, its digests (of chunks
 * of `chunkSize` by `algorithm`) handed to `side`: no request is sent.
 */
export function destinationFromIndex(
  side: DestinationSide,
  entry: IndexEntry,
  listed: ObjectSummary,
  algorithm: DigestAlgorithm,
  chunkSize: number,
): ObjectHead {
  const ranges = chunkRanges(planChunks(entry.size, chunkSize));
  side.know(listed.key, listed.etag, algorithm, ranges, entry.digests);
  return headOfEntry(entry, listed);
}
