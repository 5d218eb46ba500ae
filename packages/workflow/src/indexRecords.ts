import {
  type ChunkPlan,
  chunkRange,
  DIGEST_ALGORITHMS,
  type DigestAlgorithm,
  decodeEntryLine,
  entryLine,
  type IndexEntry,
  IndexRejectedError,
  type IndexScope,
  type PieceRef,
} from "@chunksync/core";
import type { ObjectHead, ObjectReader, ObjectSummary } from "@chunksync/storage";
import {
  type BucketVersioningVerdict,
  bucketVersioning,
  commitIndex,
  IndexWriter,
  notWrittenNote,
  SideIndex,
  type SideIndexOptions,
  type SideIndexReport,
  VERSIONS_UNLISTED_NOTE,
} from "@chunksync/sync";
import { z } from "zod";
import { parseEvent } from "./events.js";
import { type Side, workKeys } from "./layout.js";
import type { WorkArea } from "./WorkArea.js";

/*
 * The digest index in the workflow: each side keeps its own, read and written only by its own
 * steps, through the same cursor, writer and entry phases as the direct engine. Per listing
 * page, each side looks up the stored entries of the page's keys (reading only the pieces
 * that overlap them) into its own part of the work area; after the page's objects, each side
 * writes the new entries of the page's key range as pieces; at the end of the run a step per
 * side writes the manifest listing every page's pieces (the swap). A run that fails or is
 * stopped before that leaves the old manifest.
 */

const count = z.number().int().min(0);
const etag = z.string().min(1).max(1024);

/**
 * A stored entry as a work-area record: the index's own line for it (a digest per chunk, so
 * no bound but the object's size; `decodeEntryLine` checks the digests against the plan),
 * whether the side's bucket keeps or kept versions (see `runVersioned`), and the version ID
 * the listing stated where it stated one (see `listingVersioned`).
 */
export const StoredEntrySchema = z.strictObject({
  line: z.string(),
  versioned: z.boolean().optional(),
  listedVersionId: z.string().min(1).optional(),
});

/** What a listing step found in a side's index for the version it listed (see {@link putEntry}). */
export interface FoundEntry {
  entry: IndexEntry;
  /** The side's bucket keeps or kept versions (see `runVersioned`). */
  versioned: boolean;
  /** The ID the listing stated of the version it listed, where it stated one. */
  listedVersionId?: string;
}

/**
 * What a page's index step learns of an object that failed: it keeps the stored entry that stood
 * for the version listed now (as the direct engine keeps it: see `storedOnly`), which the step
 * looks up in key order as it writes the page's pieces.
 */
export const KEEPS_STOOD = "keeps the entry that stood";

/** The entry an object of a page settled at, {@link KEEPS_STOOD}, or none. */
export type SettledEntry = IndexEntry | typeof KEEPS_STOOD | undefined;

/** A page's records read ahead of the keys in hand (a request each, to a bucket maybe far away). */
export const RECORDS_AHEAD = 32;

/** `found` as a work-area record (see {@link StoredEntrySchema}). */
export function entryRecord(found: FoundEntry): z.infer<typeof StoredEntrySchema> {
  const { entry, versioned, listedVersionId } = found;
  return {
    line: entryLine(entry),
    ...(versioned ? { versioned } : {}),
    ...(listedVersionId !== undefined ? { listedVersionId } : {}),
  };
}

/** Keeps `found` at `key`. */
export async function putEntry(work: WorkArea, key: string, found: FoundEntry): Promise<void> {
  await work.put(key, entryRecord(found));
}

/** The entry stored at `key`, or undefined when there is none (or it does not fit `scope`). */
export async function getEntry(
  work: WorkArea,
  key: string,
  scope: IndexScope,
): Promise<IndexEntry | undefined> {
  return (await getFound(work, key, scope))?.entry;
}

/** {@link getEntry}, with whether the side's bucket keeps or kept versions as the lookup kept it. */
export async function getFound(
  work: WorkArea,
  key: string,
  scope: IndexScope,
): Promise<FoundEntry | undefined> {
  const stored = await work.get<unknown>(key);
  return stored === undefined ? undefined : foundOf(stored, scope);
}

/** The entry of a record {@link entryRecord} made, or undefined where it does not fit `scope`. */
export function foundOf(stored: unknown, scope: IndexScope): FoundEntry | undefined {
  const { line, versioned = false, listedVersionId } = parseEvent(StoredEntrySchema, stored, "entry");
  try {
    const entry = decodeEntryLine(line, scope, "a work-area record");
    return { entry, versioned, ...(listedVersionId !== undefined ? { listedVersionId } : {}) };
  } catch (error) {
    // An entry that does not decode is read again, as a damaged piece is.
    if (error instanceof IndexRejectedError) return undefined;
    throw error;
  }
}

/** What a run learned of a side's bucket, and whether a listing of its versions named every object. */
const BucketVersioningSchema = z.strictObject({
  versioned: z.boolean(),
  note: z.string().optional(),
  unlisted: z.boolean().optional(),
}) satisfies z.ZodType<BucketVersioningVerdict & { unlisted?: boolean }>;

/** What the run learned of `side`'s bucket (see {@link runVersioned}), if it asked. */
async function getVersioning(work: WorkArea, side: Side, runId: string) {
  const stored = await work.get<unknown>(workKeys.versioning(side, runId));
  return stored === undefined ? undefined : parseEvent(BucketVersioningSchema, stored, "versioning");
}

/**
 * Whether `side`'s bucket keeps or kept versions (see `bucketVersioning`): asked of `store`
 * once per run, by the first page whose side's index holds entries (see {@link stepListing}),
 * and kept in the side's own part for the run's later pages and its index report (see
 * {@link commitSideIndex}).
 */
async function runVersioned(
  work: WorkArea,
  side: Side,
  runId: string,
  store: ObjectReader,
  signal?: AbortSignal,
): Promise<boolean> {
  const known = await getVersioning(work, side, runId);
  if (known !== undefined) return known.versioned;
  const verdict = await bucketVersioning(store, signal);
  await work.put(workKeys.versioning(side, runId), verdict);
  return verdict.versioned;
}

/**
 * How a listing step lists `side` (both sides' steps, as the direct engine's run lists a side):
 * `versioned` where `index` (the side's stored index, as the step opened it) holds entries and
 * the bucket keeps or kept versions, so that the listing states each version's ID and an entry
 * found for it needs no HEAD (see `entryNeedsHead`); `through` passes the step's listing on and,
 * once the step is done with it (at its end, or where the step stops early), records in the
 * run's versioning record whether it listed objects without naming their versions, for the note
 * in the side's index report (see {@link commitSideIndex}).
 */
export async function stepListing(
  work: WorkArea,
  side: Side,
  runId: string,
  store: ObjectReader,
  index: SideIndex | undefined,
  signal?: AbortSignal,
) {
  const versioned = index?.holdsEntries ? await runVersioned(work, side, runId, store, signal) : false;
  async function* through<T extends { object: ObjectSummary }>(listing: AsyncIterable<T>): AsyncIterable<T> {
    let unnamed = false;
    try {
      for await (const item of listing) {
        unnamed ||= versioned && item.object.versionId === undefined;
        yield item;
      }
    } finally {
      if (unnamed) {
        const known = await getVersioning(work, side, runId);
        if (known !== undefined && known.unlisted !== true)
          await work.put(workKeys.versioning(side, runId), { ...known, unlisted: true });
      }
    }
  }
  return { versioned, through };
}

/** The entry `found` for the listed object, as the listing step kept it (see {@link putEntry}). */
export function foundEntry(entry: IndexEntry, versioned: boolean, listed: ObjectSummary): FoundEntry {
  return {
    entry,
    versioned,
    ...(listed.versionId !== undefined ? { listedVersionId: listed.versionId } : {}),
  };
}

/**
 * The version of an object a side's steps settled on: its head as found (listing and entry,
 * or HEAD), that side's server time before it was looked at (before the HEAD that gave its
 * attributes and any read of its chunks), and whether its digests came from the side's index entry.
 */
export interface VersionRecord {
  head: {
    key: string;
    size: number;
    etag: string;
    lastModified?: number;
    versionId?: string;
    storageClass?: string;
    archived: boolean;
  };
  at?: number;
  used: boolean;
}

export const VersionRecordSchema = z.strictObject({
  head: z.strictObject({
    key: z.string().min(1).max(2048),
    size: count,
    etag,
    lastModified: count.optional(),
    versionId: z.string().min(1).optional(),
    storageClass: z.string().min(1).optional(),
    archived: z.boolean(),
  }),
  at: count.optional(),
  used: z.boolean(),
}) satisfies z.ZodType<VersionRecord>;

export function versionRecord(head: ObjectHead, at: number | undefined, used: boolean): VersionRecord {
  return {
    head: {
      key: head.key,
      size: head.size,
      etag: head.etag,
      ...(head.lastModified !== undefined ? { lastModified: head.lastModified } : {}),
      ...(head.versionId !== undefined ? { versionId: head.versionId } : {}),
      ...(head.storageClass !== undefined ? { storageClass: head.storageClass } : {}),
      archived: head.archived,
    },
    ...(at !== undefined ? { at } : {}),
    used,
  };
}

export async function getVersion(work: WorkArea, key: string): Promise<VersionRecord | undefined> {
  const stored = await work.get<unknown>(key);
  return stored === undefined ? undefined : parseEvent(VersionRecordSchema, stored, "version");
}

/** The digests one batch step holds of a version's chunks (kept in that side's own part). */
export interface DigestsRecord {
  etag: string;
  algorithm: (typeof DIGEST_ALGORITHMS)[number];
  chunks: { index: number; offset: number; length: number; digest: string }[];
}

export const DigestsRecordSchema = z.strictObject({
  etag,
  algorithm: z.enum(DIGEST_ALGORITHMS),
  chunks: z.array(
    z.strictObject({ index: count, offset: count, length: count, digest: z.base64().max(128) }),
  ),
}) satisfies z.ZodType<DigestsRecord>;

/**
 * The batches whose steps keep digests records: the challenge's and the verification's, and
 * on the source's side the write's (see `presignBatch`).
 */
export type DigestPhase = "challenge" | "verify" | "write";

/** Every digests record kept of the object's `phase` batches, `batches` of them at most. */
export async function* digestRecords(
  work: WorkArea,
  side: Side,
  runId: string,
  key: string,
  phase: DigestPhase,
  batches: number,
): AsyncIterable<DigestsRecord> {
  for (let batch = 0; batch < batches; batch++) {
    const stored = await work.get<unknown>(workKeys.digests(side, runId, key, phase, batch));
    if (stored !== undefined) yield parseEvent(DigestsRecordSchema, stored, "digests");
  }
}

/** One page's share of a side's new index: its pieces in key order, and what the side did. */
export interface PageIndexRecord {
  pieces: PieceRef[];
  entries: number;
  fromIndex: number;
  read: number;
  notes: string[];
  /** The pieces could not be written: the run leaves the side's old index as it was. */
  failed: boolean;
}

/** A page's share of the index `index` wrote (its pieces, in key order) and what it did. */
export async function pageRecord(index: SideIndex): Promise<PageIndexRecord> {
  const pieces = await index.pieces();
  return {
    pieces: [...(pieces ?? [])],
    entries: index.writer.entries,
    fromIndex: index.report.fromIndex,
    read: index.report.read,
    notes: index.report.notes,
    failed: pieces === undefined,
  };
}

/**
 * Makes the pages' pieces, in page order, a side's index: the manifest listing them replaces
 * the old one, unless a page could not write its share (the old index then stands). After a
 * run that stopped before its end (`settled`), the pages it finished in order, then the stored
 * entries after the last key they hold, as they were (see `SideIndex.commitSettled`). Returns
 * what the side's index did in the run, kept for the report.
 */
export async function commitSideIndex(
  work: WorkArea,
  side: Side,
  runId: string,
  index: SideIndexOptions,
  settled?: true,
): Promise<SideIndexReport> {
  const opened = await SideIndex.open(index);
  const report = opened.report;
  const notes = new Set(report.notes);
  const pieces: PieceRef[] = [];
  let entries = 0;
  let failed = false;
  const versioning = await getVersioning(work, side, runId);
  if (versioning?.note !== undefined) notes.add(versioning.note);
  if (versioning?.unlisted) notes.add(VERSIONS_UNLISTED_NOTE);
  let expected = 0;
  for await (const k of work.list(workKeys.indexPages(side, runId))) {
    // Pages are written in order; a stopped run's pages after a gap are not its settled ones.
    if (settled && k !== workKeys.indexPage(side, runId, expected++)) break;
    const page = await work.get<PageIndexRecord>(k);
    if (page === undefined) continue;
    pieces.push(...page.pieces);
    entries += page.entries;
    report.fromIndex += page.fromIndex;
    report.read += page.read;
    for (const note of page.notes) notes.add(note);
    failed ||= page.failed;
  }
  // A run stopped before it settled any entry leaves the old index as it was.
  if (!failed && !(settled && pieces.length === 0)) {
    const stored = opened.stored();
    const rest = settled ? new IndexWriter(index.location, index.scope) : undefined;
    try {
      if (rest) {
        for await (const entry of stored.entries(pieces.at(-1)?.last)) await rest.add(entry);
        pieces.push(...(await rest.finish()));
        entries += rest.entries;
        for (const note of stored.opening.notes) notes.add(note);
      }
      await commitIndex(index.location, index.scope, pieces, stored.pieces);
      report.written = entries;
    } catch (error) {
      await rest?.discard();
      notes.add(notWrittenNote(error));
    }
  }
  report.notes = [...notes];
  await work.put(workKeys.indexReport(side, runId), report);
  return report;
}

/**
 * What a listing states of the version a found entry stands for, from the entry (which it
 * restated) and the version ID the listing stated.
 */
export function listedOf(
  found: FoundEntry,
): Pick<ObjectSummary, "lastModified" | "storageClass" | "versionId"> {
  const { entry, listedVersionId } = found;
  return {
    ...(entry.lastModified !== undefined ? { lastModified: entry.lastModified } : {}),
    ...(entry.storageClass !== undefined ? { storageClass: entry.storageClass } : {}),
    ...(listedVersionId !== undefined ? { versionId: listedVersionId } : {}),
  };
}

/** The head a version record keeps, for the entry phases (attributes are passed apart). */
export function headOf(version: VersionRecord): ObjectHead {
  return { ...version.head, metadata: {} };
}

/** The digests `held` of chunks of `plan` (by index) as a record. */
export function digestsRecord(
  etag: string,
  algorithm: DigestAlgorithm,
  plan: ChunkPlan,
  held: ReadonlyMap<number, Buffer>,
): DigestsRecord {
  const chunks = [...held].map(([index, digest]) => ({
    ...chunkRange(plan, index),
    digest: digest.toString("base64"),
  }));
  return { etag, algorithm, chunks };
}
