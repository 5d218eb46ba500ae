import type { IndexScope } from "@chunksync/core";
import { z } from "zod";
import {
  type DestinationRecord,
  DestinationRecordSchema,
  type SourceRecord,
  SourceRecordSchema,
} from "./context.js";
import { WorkItemMissingError } from "./errors.js";
import { relativeKey } from "./events.js";
import {
  type DigestsRecord,
  DigestsRecordSchema,
  type FoundEntry,
  foundOf,
  StoredEntrySchema,
  type VersionRecord,
  VersionRecordSchema,
} from "./indexRecords.js";
import { workKeys } from "./layout.js";
import type { StoredResult } from "./sourceSteps.js";
import { needRecord, type WorkArea } from "./WorkArea.js";

/**
 * The records of a page's decision from the indexes (see pageDecision.ts), a record a page and
 * step: what the object flow's steps keep a record each of each object (its versions, its
 * destination record, its result), the page's steps keep for all of its pairs in one, so that an
 * unchanged object costs no request of the work area of its own. The page's index steps and the
 * report read them once a page.
 */

/** The source's challenges, in page order (none for an empty object: there is nothing to ask). */
export const ChallengesRecordSchema = z.array(z.strictObject({ key: relativeKey, request: z.unknown() }));

/**
 * What the source keeps of each challenged pair, in its own part, in the same order: where it
 * read the version (its entry did not stand), the digest the read took, for its new entry, and
 * the bytes it read; where its entry stood after a HEAD that learned more of it (one read within
 * its version's second), that entry.
 */
export const ExpectedRecordSchema = z.array(
  z.strictObject({
    key: relativeKey,
    source: SourceRecordSchema,
    version: VersionRecordSchema,
    expectation: z.unknown(),
    digests: DigestsRecordSchema.optional(),
    bytes: z.unknown().optional(),
    entry: StoredEntrySchema.optional(),
  }),
);

/**
 * The destination's answers, in the same order; `answered` false where its entry did not serve.
 * An answer carries the destination's record of the version it answered for (shared: versions,
 * sizes, attributes, never a digest), as HeadDestination keeps it, and what it read to answer.
 */
export const AnswersRecordSchema = z.array(
  z.strictObject({
    key: relativeKey,
    answered: z.boolean(),
    response: z.unknown(),
    destination: DestinationRecordSchema.optional(),
    bytes: z.unknown().optional(),
  }),
);

/**
 * What the destination keeps, in its own part, of each version it answered for: the version as
 * HeadDestination records it, and its entry where the answer's HEAD learned more of it (a
 * written entry's LastModified).
 */
export const AnsweredRecordSchema = z.array(
  z.strictObject({ key: relativeKey, version: VersionRecordSchema, entry: StoredEntrySchema.optional() }),
);

/** The results of a page's pairs found identical, each with its key. */
export type PageResults = (StoredResult & { key: string })[];

/** A page's results (see {@link PageResults}), none where its decision settled none. */
export async function pageResults(work: WorkArea, runId: string, page: number): Promise<PageResults> {
  return (await work.get<PageResults>(workKeys.pageResults(runId, page))) ?? [];
}

/**
 * What the source's index step takes of a pair its page decided (or copied, see
 * pageCopyRecords.ts): its result, the source version and record, and the digest a read of it took.
 */
export interface DecidedOnSource {
  stored: StoredResult;
  version: VersionRecord;
  source: SourceRecord;
  digests?: DigestsRecord;
  /** The entry as the HEAD that confirmed it left it, where that learned more of it. */
  found?: FoundEntry;
}

/** The source's records of the pairs page `page`'s decision settled, by key. */
export async function decidedOnSource(
  work: WorkArea,
  runId: string,
  page: number,
  scope: IndexScope,
): Promise<Map<string, DecidedOnSource>> {
  const results = await pageResults(work, runId, page);
  if (results.length === 0) return new Map();
  const from = workKeys.pageExpected(runId, page);
  const expected = await needRecord(work, from, ExpectedRecordSchema, "expected");
  const kept = new Map(expected.map((e) => [e.key, e]));
  return settledOf(results, kept, from, (stored, { version, source, digests, entry }) =>
    onSource(stored, version, source, digests, entry, scope),
  );
}

/** A source's records of one object its page settled (see {@link DecidedOnSource}). */
export function onSource(
  stored: StoredResult,
  version: VersionRecord,
  source: SourceRecord,
  digests: DigestsRecord | undefined,
  entry: unknown,
  scope: IndexScope,
): DecidedOnSource {
  const found = entry === undefined ? undefined : foundOf(entry, scope);
  return { stored, version, source, ...(digests ? { digests } : {}), ...(found ? { found } : {}) };
}

/** What the destination's index step takes of a pair its page decided. */
export interface DecidedOnDestination {
  stored: StoredResult;
  version: VersionRecord;
  destination: DestinationRecord;
  /** The entry as the answer's HEAD left it, where that learned more of it. */
  found?: FoundEntry;
}

/** The destination's records of the pairs page `page`'s decision settled, by key. */
export async function decidedOnDestination(
  work: WorkArea,
  runId: string,
  page: number,
  scope: IndexScope,
): Promise<Map<string, DecidedOnDestination>> {
  const results = await pageResults(work, runId, page);
  if (results.length === 0) return new Map();
  const [answers, answered] = await Promise.all([
    needRecord(work, workKeys.pageAnswers(runId, page), AnswersRecordSchema, "answers"),
    needRecord(work, workKeys.pageAnswered(runId, page), AnsweredRecordSchema, "answered"),
  ]);
  const destinations = new Map(answers.flatMap((a) => (a.destination ? [[a.key, a.destination]] : [])));
  const versions = new Map(answered.map((a) => [a.key, a]));
  return settledOf(
    results,
    versions,
    workKeys.pageAnswered(runId, page),
    (stored, { version, entry }, key) => {
      const destination = destinations.get(key);
      if (destination === undefined) throw new WorkItemMissingError(workKeys.pageAnswers(runId, page));
      const found = entry && foundOf(entry, scope);
      return { stored, version, destination, ...(found ? { found } : {}) };
    },
  );
}

/**
 * Joins each of `results` with what `records` (the page's record at `from`) holds of its key: a
 * key settled without one means a damaged work area.
 */
export function settledOf<R, T>(
  results: PageResults,
  records: ReadonlyMap<string, R>,
  from: string,
  join: (stored: StoredResult, record: R, key: string) => T,
): Map<string, T> {
  const settled = new Map<string, T>();
  for (const { key, result, bytes } of results) {
    const record = records.get(key);
    if (record === undefined) throw new WorkItemMissingError(from);
    settled.set(key, join({ result, bytes }, record, key));
  }
  return settled;
}
