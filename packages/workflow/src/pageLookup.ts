import type { IndexScope } from "@chunksync/core";
import { isArchiveClass, type ObjectSummary } from "@chunksync/storage";
import { forEachConcurrent } from "@chunksync/sync";
import { z } from "zod";
import { destinationTraitsShape } from "./context.js";
import { parseEvent, relativeKey } from "./events.js";
import {
  entryRecord,
  type FoundEntry,
  foundOf,
  getFound,
  putEntry,
  RECORDS_AHEAD,
  StoredEntrySchema,
} from "./indexRecords.js";
import { type Side, workKeys } from "./layout.js";
import type { WorkArea } from "./WorkArea.js";

/**
 * What a page's listing steps keep for the page's other steps: what the destination's lookup
 * (LookUpDestinationPage) hands the source's page steps, in the shared part of the work area
 * (versions, sizes and keys only, never a digest), and what each side's listing step found of
 * the page's keys, in that side's own part.
 */

/** The destination's versions its page's lookup found entries for that may answer (see {@link mayAnswerFromEntry}). */
export const AnswerableRecordSchema = z.strictObject({
  bucket: z.string().min(1).max(255),
  objects: z.array(
    z.strictObject({ key: relativeKey, etag: z.string().min(1), size: z.number().int().min(0) }),
  ),
});
export type AnswerableRecord = z.infer<typeof AnswerableRecordSchema>;

/**
 * Whether a destination version `listed`, whose stored entry may stand for it, may be answered
 * for from that entry (after one HEAD where the listing cannot settle it, as HeadDestination
 * takes it): not an archived object (not challenged), nor one listed with no ETag to challenge.
 */
export function mayAnswerFromEntry(listed: ObjectSummary): boolean {
  return !isArchiveClass(listed.storageClass) && listed.etag !== "" && listed.etag !== '""';
}

/** The page's keys the destination's listing lacks, as its lookup found them, with what decides their writes. */
export const AbsentRecordSchema = z.strictObject({
  bucket: z.string().min(1).max(255),
  ...destinationTraitsShape,
  keys: z.array(relativeKey),
});
export type AbsentRecord = z.infer<typeof AbsentRecordSchema>;

/** An object of the destination's listing, as its page's lookup kept it. */
export const ListedSchema = z.strictObject({
  key: z.string().min(1),
  size: z.number().int().min(0),
  etag: z.string().min(1),
  lastModified: z.number().int().min(0).optional(),
  storageClass: z.string().min(1).optional(),
  versionId: z.string().min(1).optional(),
}) satisfies z.ZodType<ObjectSummary>;

/**
 * An entry whose line is longer than this (some 90 chunks' digests) is kept in a record of its
 * own rather than in its page's, so that a page's record stays within some 8 MiB of entries (a
 * page holds at most 2,000 keys) for the object flows that read it for one key.
 */
const ENTRY_APART_CHARS = 4096;

/**
 * What a page's listing step found of each key, in that side's own part: the stored entry that
 * may stand for the version listed (or `apart`: in the key's own `found` record), and on the
 * destination what its listing held of the key (none: the key is new there).
 */
const PageFoundSchema = z.array(
  z.strictObject({
    key: relativeKey,
    listed: ListedSchema.optional(),
    entry: StoredEntrySchema.optional(),
    apart: z.literal(true).optional(),
  }),
);

/**
 * Collects what a page's listing step finds of its keys, and keeps it in one record of the
 * side's own part (each entry too long for it in its key's own record): one request a page where
 * a record a key took one each.
 */
export class PageFoundWriter {
  readonly #items: z.infer<typeof PageFoundSchema> = [];
  readonly #apart: { key: string; found: FoundEntry }[] = [];

  constructor(
    readonly work: WorkArea,
    readonly side: Side,
    readonly runId: string,
    readonly page: number,
  ) {}

  add(key: string, found: FoundEntry | undefined, listed?: ObjectSummary): void {
    if (found === undefined && listed === undefined) return;
    const entry = found && entryRecord(found);
    const apart = entry !== undefined && entry.line.length > ENTRY_APART_CHARS;
    if (apart && found) this.#apart.push({ key, found });
    this.#items.push({
      key,
      ...(listed ? { listed } : {}),
      ...(entry && !apart ? { entry } : {}),
      ...(apart ? { apart } : {}),
    });
  }

  async end(): Promise<void> {
    const { work, side, runId } = this;
    await forEachConcurrent(this.#apart, RECORDS_AHEAD, ({ key, found }) =>
      putEntry(work, workKeys.found(side, runId, key), found),
    );
    const key = workKeys.pageFound(side, runId, this.page);
    // A retried listing step writes its page's record again, before any step reads it.
    readPages.get(work)?.delete(key);
    if (this.#items.length > 0) await work.put(key, this.#items);
  }
}

type PageItems = ReadonlyMap<string, z.infer<typeof PageFoundSchema>[number]>;

/**
 * The pages' records read lately, per work area: each object flow of a page reads its page's
 * record (a few hundred KiB for a page of small objects), and in one process (an in-process run,
 * a warm function) one read and parse serves them all. A page's record is written by its listing
 * step before any step reads it; its listing step, retried, drops what was kept of it.
 */
const readPages = new WeakMap<WorkArea, Map<string, Promise<PageItems>>>();
/** Pages run one after another: a few pages' records suffice. */
const PAGES_KEPT = 4;

/** The items of the page's record at `key`, read once while kept (see {@link readPages}). */
function pageItems(work: WorkArea, key: string): Promise<PageItems> {
  const kept = readPages.get(work) ?? new Map<string, Promise<PageItems>>();
  readPages.set(work, kept);
  const known = kept.get(key);
  if (known !== undefined) return known;
  const read = work.get<unknown>(key).then((stored) => {
    const items = stored === undefined ? [] : parseEvent(PageFoundSchema, stored, "page found");
    return new Map(items.map((item) => [item.key, item]));
  });
  kept.set(key, read);
  // A read that failed is read again by the next step.
  read.catch(() => kept.delete(key));
  if (kept.size > PAGES_KEPT) kept.delete(kept.keys().next().value as string);
  return read;
}

/** What a page's listing step found of its keys (see {@link PageFoundWriter}), read once a step. */
export class PageFound {
  private constructor(
    readonly work: WorkArea,
    readonly side: Side,
    readonly runId: string,
    readonly scope: IndexScope | undefined,
    readonly items: PageItems,
  ) {}

  /** The page's record; `scope`: the side's index's, where it keeps one (else no entry is read). */
  static async read(
    work: WorkArea,
    side: Side,
    runId: string,
    page: number,
    scope: IndexScope | undefined,
  ): Promise<PageFound> {
    const items = await pageItems(work, workKeys.pageFound(side, runId, page));
    return new PageFound(work, side, runId, scope, items);
  }

  /** What the destination's listing held of `key`; undefined where it held nothing. */
  listed(key: string): ObjectSummary | undefined {
    return this.items.get(key)?.listed;
  }

  /** The stored entry found for `key`'s listed version, or undefined (none, or not of this scope). */
  async found(key: string): Promise<FoundEntry | undefined> {
    const item = this.items.get(key);
    if (this.scope === undefined || item === undefined) return undefined;
    if (item.apart) return getFound(this.work, workKeys.found(this.side, this.runId, key), this.scope);
    return item.entry && foundOf(item.entry, this.scope);
  }
}
