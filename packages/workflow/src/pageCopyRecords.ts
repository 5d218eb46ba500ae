import type { IndexScope } from "@chunksync/core";
import { decidedResult, type ObjectResult, unverifiedResult } from "@chunksync/sync";
import { z } from "zod";
import {
  type Decision,
  DecisionSchema,
  DestinationRecordSchema,
  type SourceRecord,
  SourceRecordSchema,
  type UploadedRecord,
  UploadedRecordSchema,
} from "./context.js";
import { WorkItemMissingError } from "./errors.js";
import { relativeKey } from "./events.js";
import { DigestsRecordSchema, StoredEntrySchema, VersionRecordSchema } from "./indexRecords.js";
import { workKeys } from "./layout.js";
import { type DecidedOnSource, onSource, type PageResults, settledOf } from "./pageDecisionRecords.js";
import type { StoredResult } from "./sourceSteps.js";
import { needRecord, type WorkArea } from "./WorkArea.js";

/**
 * The records of a page's copies of new small objects (see pageCopy.ts), a record a page and
 * step: what an object's own flow keeps a record each of each object (its source record,
 * decision, link, versions, digests, upload and result), the page's steps keep for all of its
 * copies in one, so that a copied object costs no request of the work area of its own. The
 * page's index steps, the report and a stopped run read them once a page.
 */

/**
 * The most bytes of objects a page's step reads or copies itself (a page's challenge of objects
 * its source's index no longer answers for, its copies of new objects): at 10 MiB/s through the
 * links, under a minute (a Lambda has 15). The rest run their own flow.
 */
export const PAGE_STEP_BYTES = 512 * 1024 * 1024;

/** A copy's link to its source version, as SignLinks keeps one (shared). */
const LinkSchema = z.strictObject({ url: z.string().nullable(), etag: z.string() });

/** What the source prepared of a page: its copies, and the keys whose failure it recorded instead. */
export const PreparedRecordSchema = z.strictObject({
  copies: z.array(
    z.strictObject({
      key: relativeKey,
      /** What the source's preparation moved for it. */
      bytes: z.unknown(),
      source: SourceRecordSchema,
      decision: DecisionSchema,
      link: LinkSchema,
      /** The destination's version it replaces (none: a new object). */
      destination: DestinationRecordSchema.optional(),
    }),
  ),
  failed: z.array(relativeKey),
});

/**
 * The pairs a page's decision found changed that its copies rewrite, each as one request's write
 * from the source (see `comparePage`), with the bytes the source read of it, shared.
 */
export const ChangedRecordSchema = z.array(
  z.strictObject({
    key: relativeKey,
    bytes: z.unknown(),
    source: SourceRecordSchema,
    decision: DecisionSchema,
    destination: DestinationRecordSchema,
  }),
);
export type Prepared = z.infer<typeof PreparedRecordSchema>;
export type PreparedCopy = Prepared["copies"][number];

/** What the source keeps, in its own part, of each version it prepared a copy of, in the same order. */
export const PreparedVersionsSchema = z.array(
  z.strictObject({
    key: relativeKey,
    version: VersionRecordSchema,
    /** The digest its read took, for this side's new entry (none where its entry stood). */
    digests: DigestsRecordSchema.optional(),
    /** Its entry as the HEAD that confirmed it left it, where that learned more of it. */
    entry: StoredEntrySchema.optional(),
  }),
);

/**
 * Keys and the bytes the destination's step moved for each of a page's copies (`failed`: tried,
 * and left to the object's own flow), shared.
 */
export const CopiedRecordSchema = z.array(
  z.strictObject({ key: relativeKey, bytes: z.unknown(), failed: z.literal(true).optional() }),
);
export type Copied = z.infer<typeof CopiedRecordSchema>[number];

/**
 * What the destination keeps, in its own part, of each copy it wrote: its ETag, this side's
 * server time once it was written (see `writtenEntry`), the digests of what it uploaded under a
 * checked Content-MD5, and what the write moved (a retried step reports it again).
 */
export const CopiesWrittenSchema = z.array(
  z.strictObject({
    key: relativeKey,
    etag: z.string().min(1).max(1024),
    /** The version its write's answer named, where the bucket keeps versions. */
    versionId: z.string().min(1).max(1024).optional(),
    at: z.number().int().min(0).optional(),
    uploaded: UploadedRecordSchema.optional(),
    bytes: z.unknown(),
  }),
);
export type CopyWritten = z.infer<typeof CopiesWrittenSchema>[number];

/** What the source prepared of page `page`. */
export function preparedOf(work: WorkArea, runId: string, page: number): Promise<Prepared> {
  return needRecord(work, workKeys.prepared(runId, page), PreparedRecordSchema, "prepared copies");
}

/** The results of page `page`'s copies (none where its copies settled none). */
export async function copyResults(work: WorkArea, runId: string, page: number): Promise<PageResults> {
  return (await work.get<PageResults>(workKeys.copyResults(runId, page))) ?? [];
}

/** The result of a write its decision made, with `attempts` (see `decidedResult`). */
export function writtenResult(
  src: SourceRecord,
  destinationKey: string,
  decision: Decision,
  attempts: number,
): ObjectResult {
  const keys = { sourceKey: src.sourceKey, destinationKey, attempts };
  return decidedResult(keys, src, decision, decision.action !== "none");
}

/** The source's records of the objects page `page` copied, by key. */
export function copiedOnSource(
  work: WorkArea,
  runId: string,
  page: number,
  scope: IndexScope,
): Promise<Map<string, DecidedOnSource & { held: boolean }>> {
  const from = workKeys.preparedVersions(runId, page);
  return copiedWith(work, runId, page, from, PreparedVersionsSchema, (stored, copy, mine) => ({
    ...onSource(stored, mine.version, copy.source, mine.digests, mine.entry, scope),
    held: copy.destination?.exists ?? false,
  }));
}

/**
 * What the destination's index step takes of an object its page copied: `held` where the copy
 * replaced a version the destination answered for from its entry.
 */
export interface CopiedOnDestination {
  stored: StoredResult;
  source: SourceRecord;
  written: CopyWritten;
  held: boolean;
}

/** The destination's records of the objects page `page` copied, by key. */
export function copiedOnDestination(
  work: WorkArea,
  runId: string,
  page: number,
): Promise<Map<string, CopiedOnDestination>> {
  const from = workKeys.copiesWritten(runId, page);
  return copiedWith(work, runId, page, from, CopiesWrittenSchema, (stored, copy, written) => ({
    stored,
    source: copy.source,
    written,
    held: copy.destination?.exists ?? false,
  }));
}

/**
 * Joins each result of page `page`'s copies with its prepared copy and with what a side's own
 * record at `from` keeps of it, by key; none where the page's copies settled none.
 */
async function copiedWith<R extends { key: string }, T>(
  work: WorkArea,
  runId: string,
  page: number,
  from: string,
  schema: z.ZodType<R[]>,
  join: (stored: StoredResult, copy: PreparedCopy, mine: R) => T,
): Promise<Map<string, T>> {
  const results = await copyResults(work, runId, page);
  if (results.length === 0) return new Map();
  const [{ copies }, kept] = await Promise.all([
    preparedOf(work, runId, page),
    needRecord(work, from, schema, "the page's copies"),
  ]);
  const prepared = new Map(copies.map((c) => [c.key, c]));
  const records = new Map(
    kept.flatMap((mine) => {
      const copy = prepared.get(mine.key);
      return copy ? [[mine.key, { copy, mine }] as const] : [];
    }),
  );
  return settledOf(results, records, from, (stored, { copy, mine }) => join(stored, copy, mine));
}

/**
 * The results of the copies a stopped run wrote whose page did not record them (its
 * RecordCopies did not run), as the direct engine reports a write whose verification a stop cut
 * short (see `unverifiedResult`); read by the destination's side after every Task settled.
 */
export async function* unrecordedCopies(
  work: WorkArea,
  runId: string,
  destinationPrefix: string,
): AsyncIterable<ObjectResult> {
  for await (const k of work.list(workKeys.copiesOf("destination", runId))) {
    const page = Number(/\/(\d{8})\/written\.json$/.exec(k)?.[1] ?? Number.NaN);
    if (Number.isNaN(page) || (await work.get<unknown>(workKeys.copyResults(runId, page))) !== undefined)
      continue;
    const [written, { copies }] = await Promise.all([
      needRecord(work, k, CopiesWrittenSchema, "copies written"),
      preparedOf(work, runId, page),
    ]);
    const prepared = new Map(copies.map((c) => [c.key, c]));
    for (const { key } of written) {
      const copy = prepared.get(key);
      if (copy === undefined) throw new WorkItemMissingError(workKeys.prepared(runId, page));
      yield unverifiedResult(writtenResult(copy.source, destinationPrefix + key, copy.decision, 1));
    }
  }
}

/** The digests of the ranges `record` kept, decoded. */
export function uploadedRanges(record: UploadedRecord): { offset: number; length: number; digest: Buffer }[] {
  return record.ranges.map((r) => ({ ...r, digest: Buffer.from(r.digest, "base64") }));
}
