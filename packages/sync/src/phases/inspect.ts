import {
  ATTRIBUTE_TEXTS,
  asListed,
  attributesOf,
  chunkRanges,
  copiedFromSource,
  type DigestAlgorithm,
  entryNeedsHead,
  entryStanding,
  entryStands,
  hasMd5Form,
  type IndexEntry,
  type ObjectAttributes,
  type ObjectIdentity,
  planChunks,
} from "@chunksync/core";
import { isArchiveClass, type ObjectHead, type ObjectReader, type ObjectSummary } from "@chunksync/storage";
import type { DestinationSide } from "../DestinationSide.js";
import { SourceDeletedError, SourceRottedError } from "../errors.js";
import type { SourceSide } from "../SourceSide.js";
import { readEntry } from "./indexEntries.js";
import { tagsOf } from "./tagsOf.js";

/** What the run's listings said of one object: on the source, and on the destination if there. */
export interface ListedPair {
  source: ObjectSummary;
  destination: ObjectSummary | undefined;
}

/** Each side's index entry that still stands for the version its listing names. */
export interface IndexedPair {
  source?: IndexEntry | undefined;
  destination?: IndexEntry | undefined;
  /** Where the source's entry no longer stands, its chunk digests: which chunks likely changed (see `SourceSide.probe`). */
  sourcePrior?: readonly Buffer[];
  /** The source's entry that a scrub marked rotted, where it may stand for the version listed (see {@link refuseRottedSource}). */
  sourceRotted?: IndexEntry;
  /** The destination's, likewise: its object is read as if it had no entry, and the mark kept unless a write replaces it. */
  destinationRotted?: IndexEntry;
}

/** The head of the version an index entry stands for, as its listing and the entry state it. */
export function headOfEntry(entry: IndexEntry, listed: ObjectSummary): ObjectHead {
  // Fields set one by one, no spread: this runs for every object an index answers for, and on
  // Node 20 an object spread followed by fields is a runtime call.
  const attributes = entry.attributes;
  const head: ObjectHead = {
    key: listed.key,
    size: entry.size,
    etag: listed.etag,
    archived: false,
    metadata: { ...attributes.metadata },
  };
  for (const field of ATTRIBUTE_TEXTS) {
    const value = attributes[field];
    if (value !== undefined) head[field] = value;
  }
  if (attributes.tagging !== undefined) head.tagging = attributes.tagging;
  if (listed.lastModified !== undefined) head.lastModified = listed.lastModified;
  if (entry.versionId !== undefined) head.versionId = entry.versionId;
  if (listed.storageClass !== undefined) head.storageClass = listed.storageClass;
  return head;
}

/**
 * The head of the listed source object. A source listed but gone by now was deleted under
 * the run, in either engine: it is reported as SOURCE_CHANGED, not restarted.
 */
export function presentSource(key: string, head: ObjectHead | undefined): ObjectHead {
  if (head === undefined) throw new SourceDeletedError(key);
  return head;
}

/**
 * Whether `head`'s ETag is the MD5 of its bytes: one of that form (an object written in one
 * request; a multipart upload's counts its parts), not under SSE-KMS or SSE-C.
 */
export function etagIsMd5(head: Pick<ObjectHead, "etag" | "etagNotMd5">): boolean {
  return head.etagNotMd5 !== true && hasMd5Form(head.etag);
}

/** The source version an object's reads, copies and challenges are pinned to. */
export function sourceIdentity(bucket: string, key: string, head: Pick<ObjectHead, "etag" | "versionId">) {
  const id: ObjectIdentity = { bucket, key, etag: head.etag };
  if (head.versionId) id.versionId = head.versionId;
  return id;
}

/**
 * The attributes of `head` to restate or compare; with `copyTags` its tag set too (a HEAD
 * carries none). The tags of an archived object are not read: it is reported, not written. An
 * object gone by the time its tag set is read was deleted under the run, on `side`.
 */
export async function readAttributes(
  store: ObjectReader,
  head: ObjectHead,
  copyTags: boolean | undefined,
  side: "source" | "destination",
): Promise<ObjectAttributes> {
  return attributesOf(head, copyTags && !head.archived ? await tagsOf(store, head.key, side) : undefined);
}

/** Per side, whether its bucket keeps or kept versions, or could not tell (see {@link InspectContext}). */
export interface SidesVersioned {
  source: boolean;
  destination: boolean;
}

/** What {@link inspect} reads with: both stores, and the sides that can read ahead. */
export interface InspectContext {
  source: ObjectReader;
  destination: ObjectReader;
  sourceSide: SourceSide;
  destinationSide: DestinationSide;
  chunkSize: number;
  /**
   * Whether each side's bucket keeps or kept versions, or could not tell (see
   * `SideIndex.versioned`): a listing then settles none of that side's index entries, each is
   * confirmed by a HEAD (see `entryNeedsHead`).
   */
  versioned: SidesVersioned;
  /** A dry run writes nothing, so it reads no body to send. */
  dryRun?: boolean;
  /** Source bytes are copied server-side where a copy may name them: then not read to be sent. */
  serverSideCopy?: boolean;
  signal?: AbortSignal;
}

/**
 * Both sides' heads. Where the listings say both objects exist, a side whose
 * index entry still stands for its listed version takes its head and digests from that entry
 * and sends no request (one HEAD where the listing cannot settle the entry: see {@link standingEntry});
 * otherwise it reads its first chunk (if any) instead of a HEAD: one GET gives
 * the head of the version it reads and that chunk's digest, which the challenge then does not
 * read again; the source reads its other chunks at the same time, pinned to the listed version
 * (see `SourceSide.probe`). Where the destination listing has no such key, its HEAD is skipped: the write is
 * conditional on the key's absence (If-None-Match, or a HEAD just before a multipart
 * completion), and a source object of at most one chunk is read whole in the same request that
 * heads it. `used` says which sides took their entry. The destination's half is
 * {@link inspectDestination}, which the workflow engine's HeadDestination step calls too.
 */
export async function inspect(
  ctx: InspectContext,
  sourceKey: string,
  destinationKey: string,
  listed: ListedPair | undefined,
  indexed: IndexedPair = {},
): Promise<InspectedPair> {
  if (listed)
    await refuseRottedSource(
      ctx.source,
      indexed.sourceRotted,
      listed.source,
      ctx.versioned.source,
      ctx.signal,
    );
  const known = listed && headsFromIndexes(ctx, listed, indexed);
  if (known !== undefined) return known;
  const { algorithm } = ctx.sourceSide.options;
  const [source, destination] = await Promise.all([
    inspectSource(ctx, sourceKey, listed, indexed),
    inspectDestination(
      ctx,
      algorithm,
      destinationKey,
      listed,
      indexed.destination,
      ctx.versioned.destination,
      (index) => ctx.sourceSide.likelyChanged(sourceKey, index),
    ),
  ]);
  const entries: IndexedPair = {};
  if (source.entry !== undefined) entries.source = source.entry;
  if (destination.entry !== undefined) entries.destination = destination.entry;
  const used = { source: source.entry !== undefined, destination: destination.entry !== undefined };
  return { source: presentSource(sourceKey, source.head), destination: destination.head, used, entries };
}

/** What inspect found of one side: the head (none for an absent object) and the index entry it took it from. */
export interface InspectedSide {
  head: ObjectHead | undefined;
  entry?: IndexEntry;
}

/** Whether the listings name both objects, neither archived: then each side may read ahead or take its entry. */
function bothListed(
  listed: ListedPair | undefined,
): listed is { source: ObjectSummary; destination: ObjectSummary } {
  return (
    listed?.destination !== undefined &&
    !isArchiveClass(listed.source.storageClass) &&
    !isArchiveClass(listed.destination.storageClass)
  );
}

/** The source's half of {@link inspect}. */
async function inspectSource(
  ctx: InspectContext,
  sourceKey: string,
  listed: ListedPair | undefined,
  indexed: IndexedPair,
): Promise<InspectedSide> {
  const { source, signal } = ctx;
  if (listed && listed.destination === undefined) {
    // A small object the destination lacks is read whole with its head: one GET, no HEAD. Not
    // one the write copies from the source server-side, nor one a dry run (`check`, `plan`)
    // would copy: its bytes are not read (by either engine), so its index entry heads it where
    // that stands for the listed version, and is kept for the next run (no digest of it is
    // taken here); else a HEAD heads it.
    const { copySourceEscapesReadOnce } = ctx.destination.capabilities;
    const copied = copiedFromSource(ctx.serverSideCopy ?? false, sourceKey, copySourceEscapesReadOnce);
    const readable = !isArchiveClass(listed.source.storageClass);
    if (!ctx.dryRun && !copied && readable && listed.source.size > 0 && listed.source.size <= ctx.chunkSize)
      return { head: listedHead(await ctx.sourceSide.read(sourceKey, ctx.chunkSize), listed.source) };
    const known =
      (copied || ctx.dryRun === true) &&
      readable &&
      indexed.source &&
      (await standingEntry(source, indexed.source, listed.source, ctx.versioned.source, signal));
    return known
      ? sourceFromStanding(ctx.sourceSide, known, listed.source)
      : { head: listedHead(await source.head(sourceKey, signal), listed.source) };
  }
  if (!bothListed(listed)) return { head: await source.head(sourceKey, signal) };
  const known =
    indexed.source &&
    (await standingEntry(source, indexed.source, listed.source, ctx.versioned.source, signal));
  if (known !== undefined) return sourceFromStanding(ctx.sourceSide, known, listed.source);
  // An entry a HEAD found of another version still tells which chunks likely changed.
  const prior = indexed.sourcePrior ?? indexed.source?.digests;
  const head =
    listed.source.size > 0
      ? await ctx.sourceSide.probe(sourceKey, ctx.chunkSize, listed.source, prior)
      : await source.head(sourceKey, signal);
  return { head: listedHead(head, listed.source) };
}

/** `head` with the LastModified its listing states, where both are of one version (see `asListed`). */
export function listedHead(
  head: ObjectHead | undefined,
  listed: ObjectSummary | undefined,
): ObjectHead | undefined {
  return head && asListed(head, listed);
}

/** The source's half of {@link inspect} where its entry stands: its head, the digests handed to `side`. */
export function sourceFromStanding(
  side: SourceSide,
  known: StandingEntry,
  listed: ObjectSummary,
): InspectedSide & { head: ObjectHead } {
  const fromEntry = sourceFromIndex(side, known.entry, known.head ?? listed);
  return { head: known.head ?? fromEntry, entry: known.entry };
}

/** The destination's half of {@link inspect} where its entry stands: its head, the digests (of `algorithm`) handed to `side`. */
export function destinationFromStanding(
  side: DestinationSide,
  known: StandingEntry,
  listed: ObjectSummary,
  algorithm: DigestAlgorithm,
  chunkSize: number,
): InspectedSide & { head: ObjectHead } {
  const fromEntry = destinationFromIndex(side, known.entry, known.head ?? listed, algorithm, chunkSize);
  return { head: known.head ?? fromEntry, entry: known.entry };
}

/** What {@link inspectDestination} reads with. */
export type DestinationInspectContext = Pick<
  InspectContext,
  "destination" | "destinationSide" | "chunkSize" | "dryRun" | "signal"
>;

/**
 * The destination's half of {@link inspect}, the one rule of both engines for what heads the
 * destination object: nothing where the listing lacks the key; its index entry where that
 * stands for the listed version; a read of its first chunk (the head and that chunk's digest,
 * kept by `ctx.destinationSide` for the challenge) where the challenge asks for that chunk; a
 * HEAD otherwise (an empty or archived object, a first chunk of another length than the
 * source's, or no listing: a restart). `algorithm` is the challenge's; `versioned`, whether the
 * destination's bucket keeps or kept versions (see {@link standingEntry}); `likelyChanged`, in
 * one process with the source's side, which chunks the source found changed as it read them
 * (their old bytes are kept as they are read: see `DestinationSide.probe`).
 */
export async function inspectDestination(
  ctx: DestinationInspectContext,
  algorithm: DigestAlgorithm,
  destinationKey: string,
  listed: ListedPair | undefined,
  indexed: IndexEntry | undefined,
  versioned: boolean,
  likelyChanged?: (index: number) => boolean,
): Promise<InspectedSide> {
  const { destination, destinationSide, chunkSize, signal } = ctx;
  if (listed && listed.destination === undefined) return { head: undefined };
  if (!bothListed(listed)) return { head: await destination.head(destinationKey, signal) };
  const known = indexed && (await standingEntry(destination, indexed, listed.destination, versioned, signal));
  if (known !== undefined)
    return destinationFromStanding(destinationSide, known, listed.destination, algorithm, chunkSize);
  // An empty object has no chunk to read ahead: a HEAD heads it in one request. Nor has a sync
  // any use for a first chunk of another length than the source's (it is not challenged: it
  // differs, and the object is rewritten); a dry run reads it even so, for the index entry
  // that lets the next `check` answer with no request.
  const firstChunk = (size: number) => Math.min(size, chunkSize);
  const readsAhead =
    listed.destination.size > 0 &&
    (ctx.dryRun === true || firstChunk(listed.destination.size) === firstChunk(listed.source.size));
  // Of the source's size, every chunk is challenged: a side that reads ahead reads them all (see
  // `DestinationSide.probe`).
  const everyChunk = listed.destination.size === listed.source.size;
  const head = readsAhead
    ? await destinationSide.probe(
        destinationKey,
        chunkSize,
        algorithm,
        everyChunk ? listed.destination : undefined,
        likelyChanged,
      )
    : await destination.head(destinationKey, signal);
  return { head: listedHead(head, listed.destination) };
}

/** Both sides' heads of a pair, what inspect found, and which sides took their index entries. */
export interface InspectedPair {
  source: ObjectHead;
  destination: ObjectHead | undefined;
  used: { source: boolean; destination: boolean };
  /** The entries the sides took their digests from, as they stand after this look. */
  entries: IndexedPair;
}

/**
 * {@link inspect} where both listed versions still stand in their indexes and neither needs a
 * request (an entry that needs a HEAD, see `entryNeedsHead`, is HEADed first, and an archived
 * object is not challenged): both heads and digests from the entries, at once. Undefined
 * otherwise.
 */
export function headsFromIndexes(
  ctx: Pick<InspectContext, "sourceSide" | "destinationSide" | "chunkSize" | "versioned">,
  listed: ListedPair,
  indexed: IndexedPair,
): InspectedPair | undefined {
  const { source, destination } = indexed;
  if (source === undefined || destination === undefined || listed.destination === undefined) return undefined;
  const { versioned } = ctx;
  if (
    entryNeedsHead(source, listed.source, versioned.source) ||
    entryNeedsHead(destination, listed.destination, versioned.destination)
  )
    return undefined;
  if (isArchiveClass(listed.source.storageClass) || isArchiveClass(listed.destination.storageClass))
    return undefined;
  const { algorithm } = ctx.sourceSide.options;
  return {
    source: sourceFromIndex(ctx.sourceSide, source, listed.source),
    destination: destinationFromIndex(
      ctx.destinationSide,
      destination,
      listed.destination,
      algorithm,
      ctx.chunkSize,
    ),
    used: { source: true, destination: true },
    entries: indexed,
  };
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

/**
 * Refuses the source version listed where `rotted`, its entry a scrub marked rotted (see
 * `SideIndex.rottedEntry`), stands for it, as any entry is confirmed (see {@link standingEntry}):
 * its stored bytes are not the ones indexed. Both engines call it before the source is read.
 *
 * @throws SourceRottedError
 */
export async function refuseRottedSource(
  store: ObjectReader,
  rotted: IndexEntry | undefined,
  listed: ObjectSummary,
  versioned: boolean,
  signal?: AbortSignal,
): Promise<void> {
  if (rotted && (await standingEntry(store, rotted, listed, versioned, signal)))
    throw new SourceRottedError(listed.key);
}

/** A side's entry that stands for the version listed, and that version's head where a HEAD stated it. */
export interface StandingEntry {
  entry: IndexEntry;
  /** The HEAD's answer, where the entry needed one (see `entryNeedsHead`); its attributes are the version's. */
  head?: ObjectHead;
}

/**
 * Whether a side's index entry found for the listed version stands for it: with no request,
 * or, where the listing cannot settle it (a version this side wrote or read within its own
 * LastModified second, an entry that records a version ID, or any entry of a bucket that keeps
 * or kept versions, `versioned`: see `entryNeedsHead`), after one HEAD, no bytes, that must name
 * the entry's version. A written entry, or one read within its version's second, seen by that
 * HEAD after that second then stands as one read, with the attributes it states (one read in
 * that second is not used before). Undefined when the HEAD finds another version: the object
 * is read as for a stale entry. Both engines' phases and both sides use it.
 */
export async function standingEntry(
  store: ObjectReader,
  entry: IndexEntry,
  listed: ObjectSummary,
  versioned: boolean,
  signal?: AbortSignal,
): Promise<StandingEntry | undefined> {
  if (!entryNeedsHead(entry, listed, versioned)) return { entry };
  const at = store.serverTime();
  const head = listedHead(await store.head(listed.key, signal), listed);
  if (head === undefined || head.archived) return undefined;
  const standing = entryStanding(entry, head);
  if (standing === "stale") return undefined;
  // The ETag proves the bytes of a version this side wrote, or read within its own second; the
  // HEAD states its attributes now, and an entry read so stands once its second has passed.
  const seen =
    entry.proof === "written" || standing === "racy"
      ? readEntry(head, attributesOf(head), at, entry.digests)
      : undefined;
  if (seen !== undefined && entryStands(seen, head)) return { entry: seen, head };
  return standing === "stands" ? { entry, head } : undefined;
}
