import { hash, randomBytes } from "node:crypto";
import { compareUtf8 } from "@chunksync/core";
import type { ObjectReader, ObjectSummary } from "@chunksync/storage";
import { inListingOrder } from "@chunksync/sync";
import type { WorkArea } from "./WorkArea.js";

/** The two sides, each with its own part of the work area. */
export type Side = "source" | "destination";

/** A fixed-length id for an object's work-area folder (keys may hold any character). */
export function objectId(relativeKey: string): string {
  // One-shot: a step names several records of each key of a page, and a Hash object each time
  // cost a page decided from the indexes a tenth of its CPU.
  return hash("sha256", relativeKey, "hex").slice(0, 32);
}

/** S3 lists keys in UTF-8 byte order, which JavaScript's string order is not. */
export const compareKeys = compareUtf8;

/**
 * A listing page's items stay below this many bytes of JSON, far from the 256 KiB Step Functions
 * passes between states (the page's state also holds the cursor, a key, twice).
 */
export const PAGE_BYTES = 96 * 1024;

/**
 * What `item` takes in a state, as JSON in UTF-8: a key's control characters take 6 bytes each
 * there (`\u0001`), so a key's own length can understate it sixfold.
 */
export const jsonBytes = (item: unknown): number => Buffer.byteLength(JSON.stringify(item) ?? "") + 1;

/** A page's file name: numbers padded so that a listing of the work area gives pages in order. */
export const pageFile = (page: number) => `${String(page).padStart(8, "0")}.json`;

/**
 * Where each item lives in the work area. `shared/` is readable and writable by
 * both sides; `source/` only by the source side (expectations let anyone who reads
 * them pass a challenge, so they never leave it); `destination/` only by the destination
 * side (the digests of what it uploaded, which would answer a challenge as well).
 */
export const workKeys = {
  run: (runId: string) => `shared/runs/${runId}`,
  page: (runId: string, page: number) => `shared/runs/${runId}/pages/${pageFile(page)}`,
  /** Whether `key` is a page's range (see {@link workKeys.page}). */
  isPage: (key: string) => /\/pages\/\d{8}\.json$/.test(key),
  object: (runId: string, key: string) => `shared/runs/${runId}/objects/${objectId(key)}`,
  /** The folders of every record of the object's own, in each part of the work area. */
  objectFolders: (runId: string, key: string) =>
    (["shared", "source", "destination"] as const).map(
      (part) => `${part}/runs/${runId}/objects/${objectId(key)}/`,
    ),
  source: (runId: string, key: string) => `${workKeys.object(runId, key)}/source.json`,
  destination: (runId: string, key: string) => `${workKeys.object(runId, key)}/destination.json`,
  request: (runId: string, key: string, phase: string, batch: number) =>
    `${workKeys.object(runId, key)}/${phase}-${batch}-request.json`,
  response: (runId: string, key: string, phase: string, batch: number) =>
    `${workKeys.object(runId, key)}/${phase}-${batch}-response.json`,
  expectation: (runId: string, key: string, phase: string, batch: number) =>
    `source/runs/${runId}/objects/${objectId(key)}/${phase}-${batch}-expectation.json`,
  changed: (runId: string, key: string, batch: number) =>
    `source/runs/${runId}/objects/${objectId(key)}/challenge-${batch}-changed.json`,
  /**
   * An object's block exchange: each round's request and answer where both sides read them, and
   * the source's own state between rounds (its blocks' tags, which would let the destination
   * claim matches) and the assembly the exchange found, which Decide takes.
   */
  blockRequest: (runId: string, key: string, round: number) =>
    `${workKeys.object(runId, key)}/blocks-${round}-request.json`,
  blockResponse: (runId: string, key: string, round: number) =>
    `${workKeys.object(runId, key)}/blocks-${round}-response.json`,
  blockRounds: (runId: string, key: string, round: number) =>
    `source/runs/${runId}/objects/${objectId(key)}/blocks-${round}-rounds.json`,
  assembly: (runId: string, key: string) => `source/runs/${runId}/objects/${objectId(key)}/assembly.json`,
  uploaded: (runId: string, key: string, batch: number) =>
    `destination/runs/${runId}/objects/${objectId(key)}/uploaded-${batch}.json`,
  decision: (runId: string, key: string) => `${workKeys.object(runId, key)}/decision.json`,
  /** Bytes that failed steps of the object moved (see stepBytes.ts), one file a failure. */
  moved: (runId: string, key: string) => `${workKeys.object(runId, key)}/moved/`,
  movedBy: (runId: string, key: string) =>
    `${workKeys.moved(runId, key)}${Date.now().toString(36)}-${randomBytes(4).toString("hex")}.json`,
  /** What the source read for its page's copy of the object, which the destination did not write (one name: a retried step puts it again). */
  movedOnPage: (runId: string, key: string) => `${workKeys.moved(runId, key)}page-copy.json`,
  upload: (runId: string, key: string) => `${workKeys.object(runId, key)}/upload.json`,
  links: (runId: string, key: string, batch: number) => `${workKeys.object(runId, key)}/links-${batch}.json`,
  parts: (runId: string, key: string, batch: number) => `${workKeys.object(runId, key)}/parts-${batch}.json`,
  results: (runId: string) => `shared/runs/${runId}/results/`,
  result: (runId: string, key: string) => `shared/runs/${runId}/results/${objectId(key)}.json`,
  /** A page's destination-only objects' results (every page's without `page`): the page is in the key, so each page's can be told as it settles. */
  extras: (runId: string, page?: number) =>
    `shared/runs/${runId}/results/extra-${page === undefined ? "" : `${String(page).padStart(8, "0")}-`}`,
  extra: (runId: string, page: number, key: string) => `${workKeys.extras(runId, page)}${objectId(key)}.json`,
  /** The page an extra's result key names (see {@link workKeys.extra}). */
  extraPage: (resultKey: string) =>
    Number(/\/extra-(\d{8})-[0-9a-f]+\.json$/.exec(resultKey)?.[1] ?? Number.NaN),
  /**
   * A page's pairs decided a page at a time, where both sides' index entries answer for them (see
   * pageDecision.ts): the destination's versions its lookup found such entries for, the source's
   * challenges of them, the destination's answers (shared), and the source's own records of its
   * versions with what it expects (its own part: expectations pass a challenge).
   */
  answerable: (runId: string, page: number) => `${pageDecision("shared", runId, page)}/answerable.json`,
  pageChallenges: (runId: string, page: number) => `${pageDecision("shared", runId, page)}/challenges.json`,
  pageAnswers: (runId: string, page: number) => `${pageDecision("shared", runId, page)}/answers.json`,
  pageExpected: (runId: string, page: number) => `${pageDecision("source", runId, page)}/expected.json`,
  /**
   * What the page decision keeps of the pairs it answered and settled, a record a page where
   * the object flow's steps keep a record each of each object: the destination's versions it
   * answered for (its own part), and the results of the pairs it found identical, among the
   * per-object results so that the report lists them (see {@link workKeys.isPageResults}).
   */
  pageAnswered: (runId: string, page: number) => `${pageDecision("destination", runId, page)}/answered.json`,
  pageResults: (runId: string, page: number) =>
    `shared/runs/${runId}/results/page-${String(page).padStart(8, "0")}.json`,
  /**
   * Whether a key listed under `results/` holds a page's results (see {@link workKeys.pageResults}
   * and {@link workKeys.copyResults}).
   */
  isPageResults: (resultKey: string) => /\/results\/page-\d{8}(-copies)?\.json$/.test(resultKey),
  /**
   * A page's new small objects, and its small ones its decision found changed, copied a page at a
   * time (see pageCopy.ts), a record a page and step where an object's own flow keeps a record
   * each of each object: the page's keys its lookup found absent on the destination, and those
   * its decision found changed; the copies the source prepared (each one's source
   * record, decision and link), with the versions it read and their digests in its own part; the
   * copies the destination wrote, with what it holds of each written version in its own part
   * (the digests of what it uploaded); and their results, among the per-object results so that
   * the report lists them (see {@link workKeys.isPageResults}).
   */
  absent: (runId: string, page: number) => `${pageCopies("shared", runId, page)}/absent.json`,
  /** The pairs its decision found changed that its copies rewrite (see `ComparePage`). */
  changedOnPage: (runId: string, page: number) => `${pageCopies("shared", runId, page)}/changed.json`,
  prepared: (runId: string, page: number) => `${pageCopies("shared", runId, page)}/prepared.json`,
  preparedVersions: (runId: string, page: number) => `${pageCopies("source", runId, page)}/versions.json`,
  copied: (runId: string, page: number) => `${pageCopies("shared", runId, page)}/copied.json`,
  copiesWritten: (runId: string, page: number) => `${pageCopies("destination", runId, page)}/written.json`,
  /** Every page's {@link workKeys.copiesWritten} lies under this. */
  copiesOf: (side: Side, runId: string) => `${side}/runs/${runId}/page-copies/`,
  copyResults: (runId: string, page: number) =>
    `shared/runs/${runId}/results/page-${String(page).padStart(8, "0")}-copies.json`,
  /**
   * With `delete`, a page's destination-only keys as its lookup listed them (record by record,
   * see `CandidateWriter`), and which of each record's keys the source then held: each side
   * writes what the other reads (keys and error codes only).
   */
  candidates: (runId: string, page: number, record: number) =>
    `shared/runs/${runId}/destination-only/${String(page).padStart(8, "0")}/${record}-keys.json`,
  onSource: (runId: string, page: number, record: number) =>
    `shared/runs/${runId}/destination-only/${String(page).padStart(8, "0")}/${record}-on-source.json`,
  /**
   * A side's digest-index records, each in that side's own part (raw digests never leave it):
   * the stored entry that stood for the listed version, as an object's flow used it (or as its
   * page's listing step kept one too long for its page's record, see `PageFound`), the version
   * the object's steps found and whether they took its digests from that entry, the digests a
   * batch read, and each page's share of the new index (its pieces and counts).
   */
  found: (side: Side, runId: string, key: string) =>
    `${side}/runs/${runId}/objects/${objectId(key)}/found.json`,
  version: (side: Side, runId: string, key: string) =>
    `${side}/runs/${runId}/objects/${objectId(key)}/version.json`,
  digests: (side: Side, runId: string, key: string, phase: string, batch: number) =>
    `${side}/runs/${runId}/objects/${objectId(key)}/digests-${phase}-${batch}.json`,
  written: (runId: string, key: string) => `destination/runs/${runId}/objects/${objectId(key)}/written.json`,
  /** Put by a write step whose store copied the current version where a copy named one (see `copiesNameVersions`). */
  unnamed: (runId: string, key: string) => `destination/runs/${runId}/objects/${objectId(key)}/unnamed.json`,
  /** Whether the side's bucket keeps versions, learned once per run (see `runVersioned`). */
  versioning: (side: Side, runId: string) => `${side}/runs/${runId}/versioning.json`,
  /** The digest of the first chunk HeadDestination read ahead, for the challenge's answer. */
  firstChunk: (runId: string, key: string) =>
    `destination/runs/${runId}/objects/${objectId(key)}/first-chunk.json`,
  /**
   * A page's records that no step reads once its FindDestinationOnly is done (both sides' index
   * steps of the page read them last): its lookups, its decision's challenges, expectations and
   * answers, and its copies' (each part's folder of them). Its results and range stay.
   */
  settledPage: (runId: string, page: number) => [
    workKeys.pageFound("source", runId, page),
    workKeys.pageFound("destination", runId, page),
    workKeys.answerable(runId, page),
    workKeys.pageChallenges(runId, page),
    workKeys.pageExpected(runId, page),
    workKeys.pageAnswers(runId, page),
    workKeys.pageAnswered(runId, page),
    ...(["shared", "source", "destination"] as const).map((part) => `${pageCopies(part, runId, page)}/`),
  ],
  /** What a side's listing step found of its page's keys (see `PageFoundWriter`), in that side's own part. */
  pageFound: (side: Side, runId: string, page: number) =>
    `${side}/runs/${runId}/page-lookups/${String(page).padStart(8, "0")}/found.json`,
  indexPages: (side: Side, runId: string) => `${side}/runs/${runId}/index/`,
  indexPage: (side: Side, runId: string, page: number) => `${side}/runs/${runId}/index/${pageFile(page)}`,
  /** What a side's index did in the run: counts and notes only, for the report. */
  indexReport: (side: Side, runId: string) => `shared/runs/${runId}/index-${side}.json`,
  /** JSON Lines: a line per object, then the run's totals (see the sync package's report lines). */
  report: (runId: string) => `shared/runs/${runId}/report.jsonl`,
};

/** The folder of a page's decision from the indexes, in `part` of the work area. */
function pageDecision(part: "shared" | Side, runId: string, page: number): string {
  return `${part}/runs/${runId}/page-decisions/${String(page).padStart(8, "0")}`;
}

/** The folder of a page's copies of new small objects, in `part` of the work area. */
function pageCopies(part: "shared" | Side, runId: string, page: number): string {
  return `${part}/runs/${runId}/page-copies/${String(page).padStart(8, "0")}`;
}

/** The key range of one listing page, as ListSourcePage stored it. */
export interface PageRecord {
  keys: string[];
  /** The range starts after this key (null: at the start). */
  after: string | null;
  /** And ends at this key (null: at the end). */
  last: string | null;
}

/**
 * The record of a page of `keys` listed after `after`. The final page (no `more`) owns every
 * destination key after its start, so each destination key falls in exactly one page's range.
 */
function pageRange(keys: string[], after: string | undefined, more: boolean): PageRecord {
  return { keys, after: after ?? null, last: more ? (keys.at(-1) ?? null) : null };
}

/**
 * Ends the listing of page `at.page` of relative `keys` listed after `at.after`: saves its range
 * under `recordKey` (see {@link pageRange}) and returns where the next page starts, none after
 * the final page. Both sides' listing steps, the sync's and the audit's, end a page here.
 */
export async function endPage(
  work: Pick<WorkArea, "put">,
  recordKey: string,
  keys: string[],
  at: { page: number; after: string | undefined; more: boolean },
): Promise<{ page: number; after: string } | null> {
  await work.put(recordKey, pageRange(keys, at.after, at.more));
  const last = keys.at(-1);
  return at.more && last !== undefined ? { page: at.page + 1, after: last } : null;
}

/**
 * `side`'s objects under `prefix` listed after relative key `after` (from the start where
 * undefined), with their relative keys; with `versionIds`, each states its version's ID (see
 * `ObjectReader.list`). A page's range is a range of keys only in S3's order,
 * so each key is checked to come after the one before it (and after `after`), as the direct
 * engine's merge checks them: out of order, an object would fall in another page's range,
 * where `delete` would take its destination copy for destination-only, and its source would
 * be passed over.
 *
 * @throws ListingOrderError
 */
export async function* listAfter(
  store: ObjectReader,
  side: Side,
  prefix: string,
  after: string | undefined,
  signal?: AbortSignal,
  versionIds = false,
): AsyncIterable<{ object: ObjectSummary; key: string }> {
  const startAfter = after === undefined ? undefined : prefix + after;
  const listing = store.list(prefix, signal, startAfter, undefined, versionIds);
  for await (const object of inListingOrder(side, listing, startAfter))
    yield { object, key: object.key.slice(prefix.length) };
}

/**
 * The objects under `prefix` whose relative keys fall in `page`'s key range, with their
 * relative keys (see {@link listAfter}): what a side's steps pass over for one page.
 */
export async function* listPage(
  store: ObjectReader,
  side: Side,
  prefix: string,
  page: PageRecord,
  signal?: AbortSignal,
  versionIds = false,
): AsyncIterable<{ object: ObjectSummary; key: string }> {
  for await (const listed of listAfter(store, side, prefix, page.after ?? undefined, signal, versionIds)) {
    if (page.last !== null && compareKeys(listed.key, page.last) > 0) return;
    yield listed;
  }
}

/** Batch `batch` of `items`, `size` per batch. */
export function batchOf<T>(items: readonly T[], batch: number, size: number): T[] {
  return items.slice(batch * size, (batch + 1) * size);
}

/** The batch numbers `[0, ceil(count / size))`, the items of a Map state. */
export function batchNumbers(count: number, size: number): number[] {
  return Array.from({ length: Math.ceil(count / size) }, (_, i) => i);
}
