import { isObjectKey, planChunks } from "@chunksync/core";
import { isArchiveClass, type ObjectHead } from "@chunksync/storage";
import {
  describeError,
  failedResult,
  forEachConcurrent,
  Limiter,
  listedHead,
  presentSource,
  writeRequestsOf,
} from "@chunksync/sync";
import type { z } from "zod";
import type {
  Decision,
  DestinationContext,
  DestinationRecord,
  SourceContext,
  SourceRecord,
  StepBytes,
} from "./context.js";
import { RETRYABLE_STEP_ERRORS } from "./definition.js";
import { writeCopy } from "./destinationSteps.js";
import { WorkItemMissingError } from "./errors.js";
import { type ListedItem, type PageEvent, type PageItemsEvent, parseEvent } from "./events.js";
import { type DigestsRecord, entryRecord, RECORDS_AHEAD, type VersionRecord } from "./indexRecords.js";
import { workKeys } from "./layout.js";
import {
  ChangedRecordSchema,
  type Copied,
  CopiedRecordSchema,
  CopiesWrittenSchema,
  type CopyWritten,
  PAGE_STEP_BYTES,
  type Prepared,
  type PreparedCopy,
  preparedOf,
  writtenResult,
} from "./pageCopyRecords.js";
import { keptVersion, probeItem, sourceHeadFromEntry } from "./pageDecision.js";
import { ExpectedRecordSchema, type PageResults } from "./pageDecisionRecords.js";
import { type AbsentRecord, AbsentRecordSchema, PageFound } from "./pageLookup.js";
import { decisionFor, readingSide, type StoredResult, sourceRecordOf, totalBytes } from "./sourceSteps.js";
import { needRecord } from "./WorkArea.js";

/**
 * A page's new small objects (none on the destination's listing, one chunk at most) are copied
 * a page at a time, before the page's objects, as the direct engine copies each: one read on the
 * source (its head and digest in one GET), one PUT on the destination, conditional on the key's
 * absence, with a Content-MD5 the destination's server checks. The source prepares each copy in
 * one step (PrepareCopies: the records, decision and link the object's own flow would make), the
 * destination writes them in one (CopyPage: that flow's own write, a key at a time), and the
 * source records their results in one (RecordCopies). Each step keeps a record a page, not a
 * record a key (see pageCopyRecords.ts). The small pairs the page's decision found changed (see
 * pageDecision.ts) are rewritten with them, each by one part's upload completed under If-Match on
 * the version challenged. An object any step cannot copy so (one whose write needs more than one
 * request, or a verification that reads, or whose copy failed) goes on to the page's Map, whose
 * flow copies it afresh. In AWS a new or edited small object then costs no child execution of its
 * own.
 */

/**
 * The source's half: prepares the copy of each of the page's `items` its lookup found absent on
 * the destination that one PUT writes whole, and the rewrite of each its decision found changed
 * (see `comparePage`); returns how many it prepared.
 */
export async function prepareCopies(ctx: SourceContext, event: z.infer<typeof PageItemsEvent>) {
  const { runId, page } = event;
  const [rewrites, stored] = await Promise.all([
    rewritesOf(ctx, runId, page),
    ctx.work.get<unknown>(workKeys.absent(runId, page)),
  ]);
  const absent = stored === undefined ? undefined : parseEvent(AbsentRecordSchema, stored, "absent keys");
  const missing = new Set(absent?.keys);
  // The page's first new objects up to PAGE_STEP_BYTES in all, with its rewrites: CopyPage's one
  // Lambda then copies them well within its 15 minutes.
  let budget = PAGE_STEP_BYTES - rewrites.reduce((n, r) => n + r.copy.source.size, 0);
  const tried = [...event.items.entries()].filter(([, item]) => {
    if (!missing.has(item.key) || item.size > budget) return false;
    budget -= item.size;
    return true;
  });
  const prepared: (PreparedOnSource | string | undefined)[] = [];
  // Up to RECORDS_AHEAD objects at once (a failure's record is a request, to a bucket maybe far
  // away); the source's reads take the run's concurrency.
  const reads = new Limiter(ctx.concurrency);
  const found = await PageFound.read(ctx.work, "source", runId, page, ctx.index?.scope);
  await forEachConcurrent(tried, RECORDS_AHEAD, async ([i, item]) => {
    if (absent) prepared[i] = await prepareCopy(ctx, reads, runId, item, absent, found);
  });
  const copies = prepared.filter((p) => typeof p === "object");
  const record: Prepared = {
    copies: [...rewrites, ...copies].map((p) => p.copy),
    failed: prepared.filter((p) => typeof p === "string"),
  };
  const count = record.copies.length + record.failed.length;
  if (count === 0) return { count };
  // The versions and digests first: the shared record names the copies they belong to.
  if (ctx.index)
    await ctx.work.put(
      workKeys.preparedVersions(runId, page),
      [...rewrites, ...copies].map(({ copy: { key }, version, digests, entry }) => ({
        key,
        version,
        ...(digests ? { digests } : {}),
        ...(entry ? { entry } : {}),
      })),
    );
  await ctx.work.put(workKeys.prepared(runId, page), record);
  // What the page's challenge read of a rewrite was counted by its step.
  return { count, bytes: totalBytes(copies.map((p) => p.copy)) };
}

/**
 * The rewrites of the pairs page `page`'s decision found changed (see `comparePage`), each with
 * its link signed, and its version as the page's challenge kept it.
 */
async function rewritesOf(ctx: SourceContext, runId: string, page: number): Promise<PreparedOnSource[]> {
  const stored = await ctx.work.get<unknown>(workKeys.changedOnPage(runId, page));
  if (stored === undefined) return [];
  const changed = parseEvent(ChangedRecordSchema, stored, "changed pairs");
  const from = workKeys.pageExpected(runId, page);
  const expected = new Map(
    (await needRecord(ctx.work, from, ExpectedRecordSchema, "expected")).map((e) => [e.key, e]),
  );
  return Promise.all(
    changed.map(async ({ key, bytes, source, decision, destination }) => {
      const mine = expected.get(key);
      if (mine === undefined) throw new WorkItemMissingError(from);
      const url = await ctx.signer.sign(source.sourceKey, ctx.linkExpirySeconds);
      const copy = { key, bytes, source, decision, destination, link: { url, etag: source.etag } };
      const { version, digests, entry } = mine;
      return { copy, version, ...(digests ? { digests } : {}), ...(entry ? { entry } : {}) };
    }),
  );
}

/** A copy the source prepared, with what it keeps of its version in its own part (with an index). */
interface PreparedOnSource {
  copy: PreparedCopy;
  version?: VersionRecord;
  digests?: DigestsRecord;
  entry?: ReturnType<typeof entryRecord>;
}

/**
 * Errors of a copy's preparation that its object's own flow meets otherwise: a source changed
 * under the read (planned again: see MayRestart), and those a Task is retried on.
 */
const HANDED_ON: ReadonlySet<string> = new Set(["SourceChangedError", ...RETRYABLE_STEP_ERRORS]);

/**
 * Prepares the copy of new `item`: heads it (from this side's index entry where that stands for
 * the listed version; else, for its new entry, by reading it whole: the head and its digest in
 * one GET; with no index, by a HEAD) and returns the records, decision and link of its write, as
 * PlanSource, Decide and SignLinks would keep them, with its version and digest for this side's
 * index. Undefined, with nothing kept but the bytes it read, where one PUT does not write it or
 * its own flow would try again what failed; its key, with its failure recorded as RecordFailure
 * records it, where that flow would fail as it did (a source deleted since its listing).
 */
async function prepareCopy(
  ctx: SourceContext,
  reads: Limiter,
  runId: string,
  item: z.infer<typeof ListedItem>,
  absent: AbsentRecord,
  page: PageFound,
): Promise<PreparedOnSource | string | undefined> {
  const destinationKey = ctx.destinationPrefix + item.key;
  if (!isObjectKey(destinationKey) || isArchiveClass(item.storageClass)) return undefined;
  // The bucket and what the decision takes of its store, as the lookup recorded them.
  const { keys: _keys, ...store } = absent;
  const dst: DestinationRecord = { ...store, destinationKey, exists: false };
  // Nothing is read for an object whose write, as listed, takes more (see {@link onePut}).
  if (!onePut(decisionFor(ctx, listedSource(ctx, item), dst, undefined, undefined), item.size))
    return undefined;
  const found = await page.found(item.key);
  // A rot mark is the object's own flow's to refuse.
  if (found?.entry.rotted) return undefined;
  // The object's own: its result, or its own flow where it goes on to it, sums them.
  const bytes: StepBytes = { sourceRead: 0 };
  try {
    const side = readingSide(ctx, bytes, reads);
    const fromEntry = found && (await sourceHeadFromEntry(ctx, side, item, found));
    const sourceKey = ctx.prefix + item.key;
    // Read only for this side's index, as SignLinks digests a copy's chunks: else a HEAD heads it.
    const read = fromEntry || !ctx.index ? undefined : await probeItem(ctx, side, item);
    const headed = async () =>
      listedHead(await reads.run(() => ctx.store.head(sourceKey, ctx.signal), true), {
        ...item,
        key: sourceKey,
      });
    const head: ObjectHead = fromEntry?.head ?? presentSource(sourceKey, read ? read.head : await headed());
    const src = await sourceRecordOf(ctx, item.key, head);
    const decision = decisionFor(ctx, src, dst, undefined, undefined);
    if (!onePut(decision, src.size)) throw new NotOnPage();
    const url = await ctx.signer.sign(src.sourceKey, ctx.linkExpirySeconds);
    const copy = { key: item.key, bytes, source: src, decision, link: { url, etag: src.etag } };
    // With the digest the read took, for this side's new entry, as SignLinks keeps it.
    if (!ctx.index) return { copy };
    const kept = keptVersion(ctx, side, head, read?.at, fromEntry !== undefined);
    return fromEntry?.learned ? { copy, ...kept, entry: entryRecord(fromEntry.learned) } : { copy, ...kept };
  } catch (error) {
    if (ctx.signal?.aborted) throw error;
    if (error instanceof NotOnPage || (error instanceof Error && HANDED_ON.has(error.name))) {
      if ((bytes.sourceRead ?? 0) > 0)
        await ctx.work.put(workKeys.movedOnPage(runId, item.key), { steps: [{ bytes }] });
      return undefined;
    }
    const keys = { sourceKey: ctx.prefix + item.key, destinationKey, attempts: 1 };
    const result = failedResult(keys, describeError(error), item.size);
    await ctx.work.put(workKeys.result(runId, item.key), {
      result,
      bytes: totalBytes([{ bytes }]),
    } satisfies StoredResult);
    return item.key;
  }
}

/** The source record of `item` as its listing states it, before any request: its size and version. */
function listedSource(ctx: SourceContext, item: z.infer<typeof ListedItem>): SourceRecord {
  const { size, chunkSize, count } = planChunks(item.size, ctx.chunkSize);
  return {
    key: item.key,
    bucket: ctx.store.bucket,
    sourceKey: ctx.prefix + item.key,
    etag: item.etag,
    size: item.size,
    archived: false,
    plan: { size, chunkSize, count },
    attributes: { metadata: {} },
  };
}

/** Thrown where a prepared object's write takes more than one PUT: it goes on to its own flow. */
class NotOnPage extends Error {}

/**
 * Whether `decision` writes the object of at most one chunk in one PUT and verifies it with no
 * read (see `writeRequestsOf`). An object of more chunks streamed in one PUT goes on to its own
 * flow, whose source side reads it once, as it sends it.
 */
function onePut(decision: Decision, size: number): boolean {
  return (
    decision.action === "copy" &&
    decision.verify.length === 0 &&
    (decision.parts[0]?.chunkCount ?? 0) <= 1 &&
    writeRequestsOf({ decision, source: { size } }).kind === "put"
  );
}

/**
 * The destination's half: writes each prepared copy as the object flow's own write steps would
 * (see `writeCopy`), and keeps in its own part what it holds of each version it wrote. A copy
 * that fails is left to the object's own flow. A retried step writes none it wrote before; a
 * stopped one keeps what it wrote, for the run to report (see `unrecordedCopies`).
 */
export async function copyPage(ctx: DestinationContext, event: z.infer<typeof PageEvent>) {
  const { runId, page } = event;
  const [{ copies }, before] = await Promise.all([
    preparedOf(ctx.work, runId, page),
    ctx.work.get<unknown>(workKeys.copiesWritten(runId, page)),
  ]);
  const earlier = new Map(
    (before === undefined ? [] : parseEvent(CopiesWrittenSchema, before, "copies written")).map((w) => [
      w.key,
      w,
    ]),
  );
  const copied: (Copied | undefined)[] = [];
  const written: (CopyWritten | undefined)[] = [];
  try {
    // Up to RECORDS_AHEAD objects at once; each write takes a buffer of the run's memory budget
    // (see PartBuffers), which holds the reads and writes to about its concurrency.
    await forEachConcurrent(copies.entries(), RECORDS_AHEAD, async ([i, copy]) => {
      const { key } = copy;
      // The bytes its write counts, kept for the object whether or not its copy is written.
      const counting = { ...ctx, counted: [] as StepBytes[] };
      try {
        written[i] = earlier.get(key) ?? (await writeCopy(counting, key, copy));
        copied[i] = { key, bytes: written[i].bytes };
      } catch (error) {
        if (ctx.signal?.aborted) throw error;
        const moved = counting.counted.map((bytes) => ({ bytes }));
        copied[i] = { key, bytes: totalBytes(moved), failed: true };
      }
    });
  } finally {
    await ctx.work.put(
      workKeys.copiesWritten(runId, page),
      written.filter((w) => w !== undefined),
    );
  }
  const record = copied.filter((c) => c !== undefined);
  await ctx.work.put(workKeys.copied(runId, page), record);
  return { bytes: totalBytes(record.filter((c) => !c.failed)) };
}

/**
 * The source's last half: records the results of the copies the destination wrote, in one
 * record, as the object's own Record would, with the bytes both sides moved for each. Returns
 * the page's items left for its Map, in order.
 */
export async function recordCopies(ctx: SourceContext, event: z.infer<typeof PageItemsEvent>) {
  const { runId, page } = event;
  const [{ copies, failed }, copied] = await Promise.all([
    preparedOf(ctx.work, runId, page),
    needRecord(ctx.work, workKeys.copied(runId, page), CopiedRecordSchema, "copies"),
  ]);
  // The failures the source recorded as it prepared the page are settled too.
  const recorded = new Set<string>(failed);
  const tried = new Map(copied.map((c) => [c.key, c]));
  const results: PageResults = [];
  await forEachConcurrent(copies, RECORDS_AHEAD, async ({ key, bytes, source, decision }) => {
    const theirs = tried.get(key);
    const steps = [{ bytes }, ...(theirs ? [{ bytes: theirs.bytes }] : [])];
    if (theirs === undefined || theirs.failed) {
      // What both sides moved for a copy left unwritten is its own flow's to count.
      await ctx.work.put(workKeys.movedOnPage(runId, key), { steps });
      return;
    }
    const result = writtenResult(source, ctx.destinationPrefix + key, decision, 1);
    results.push({ key, result, bytes: totalBytes(steps) });
    recorded.add(key);
  });
  if (results.length > 0) await ctx.work.put(workKeys.copyResults(runId, page), results);
  return event.items.filter((item) => !recorded.has(item.key));
}
