import {
  allChunks,
  type ChallengeExpectation,
  type ChallengeRequest,
  type ChallengeResponse,
  chunksToAnswer,
  entryMayStand,
  isObjectKey,
  planChunks,
} from "@chunksync/core";
import { isArchiveClass, type ObjectHead, sameEtag } from "@chunksync/storage";
import {
  changedChunks,
  type DestinationSide,
  decidedResult,
  destinationFromStanding,
  forEachConcurrent,
  Limiter,
  listedHead,
  MIN_BLOCK_BYTES,
  type SourceSide,
  sourceFromStanding,
  sourceIdentity,
  standingEntry,
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
import { readingSide as destinationReadingSide, destinationRecordOf } from "./destinationSteps.js";
import { type ListedItem, type PageEvent, type PageItemsEvent, parseEvent } from "./events.js";
import {
  type DigestsRecord,
  digestsRecord,
  entryRecord,
  type FoundEntry,
  listedOf,
  RECORDS_AHEAD,
  type VersionRecord,
  versionRecord,
} from "./indexRecords.js";
import { workKeys } from "./layout.js";
import { type ChangedRecordSchema, PAGE_STEP_BYTES } from "./pageCopyRecords.js";
import {
  type AnsweredRecordSchema,
  AnswersRecordSchema,
  ChallengesRecordSchema,
  ExpectedRecordSchema,
  type PageResults,
} from "./pageDecisionRecords.js";
import { AnswerableRecordSchema, PageFound } from "./pageLookup.js";
import { decisionFor, readingSide, sourceRecordOf, totalBytes } from "./sourceSteps.js";
import { stepBytes } from "./stepBytes.js";
import { needRecord } from "./WorkArea.js";

/**
 * A page's pairs whose both versions stand in their sides' indexes (confirmed, where the listing
 * cannot settle an entry, by the one HEAD the object's own flow would send) are decided a page at
 * a time, before the page's objects: the source challenges them all in one step, the destination
 * answers them all from its entries in one, and the source compares in one, as the direct engine
 * decides such pairs from its indexes with no read. A pair found identical settles there, its
 * versions and result kept in the page's records (see pageDecisionRecords.ts), where its object's
 * own flow would keep a record of each; a small one found changed is rewritten by the page's
 * copies (see pageCopy.ts); any other (an attribute that differs, a write the page does not make,
 * an answer that did not come) goes on to the page's Map, which challenges it again alone. No
 * byte of either object is read, and in AWS an unchanged object costs no child execution. So are
 * small objects (one chunk under 1 MiB, which no block round would match) whose source entry no
 * longer stands: the source reads each in one GET, and the destination reads as much of its old
 * object as a shorter source's chunk covers.
 */

/**
 * The source's half of a page's decision: challenges each pair of `items` whose destination
 * version the lookup found answerable and whose source version its own index answers for
 * (after the one HEAD PlanSource would send, where the listing cannot settle the entry).
 * Returns how many it challenged.
 */
export async function challengePage(ctx: SourceContext, event: z.infer<typeof PageItemsEvent>) {
  const { runId, page } = event;
  const indexed = ctx.index && { ...ctx, index: ctx.index };
  const stored =
    indexed && !ctx.copyTags ? await ctx.work.get<unknown>(workKeys.answerable(runId, page)) : undefined;
  if (stored === undefined || indexed === undefined) return { count: 0 };
  const answerable = parseEvent(AnswerableRecordSchema, stored, "answerable");
  const destinations = new Map(answerable.objects.map((o) => [o.key, o]));
  const bytes = stepBytes<StepBytes>(ctx, { sourceRead: 0 });
  const side = readingSide(ctx, bytes);
  // Each item's records are read and written side by side (a request each, to a bucket maybe
  // far away); what the step keeps stays in page order. The source's reads take the run's
  // concurrency, up to PAGE_STEP_BYTES a page, as a page's copies do.
  const pairs: ({ challenge: PageChallenge; expected: PageExpected } | undefined)[] = [];
  const reads = { limiter: new Limiter(ctx.concurrency), left: PAGE_STEP_BYTES, bytes };
  const found = await PageFound.read(ctx.work, "source", runId, page, indexed.index.scope);
  await forEachConcurrent(event.items.entries(), RECORDS_AHEAD, async ([i, item]) => {
    const dst = destinations.get(item.key);
    if (dst !== undefined && (dst.size === item.size || resized(item.size, dst.size)))
      pairs[i] = await challengeItem(indexed, side, { runId, reads }, found, item, dst, answerable.bucket);
  });
  const challenges = pairs.flatMap((p) => (p ? [p.challenge] : []));
  const expected = pairs.flatMap((p) => (p ? [p.expected] : []));
  if (challenges.length === 0) return { count: 0, bytes };
  await ctx.work.put(workKeys.pageExpected(runId, page), expected);
  await ctx.work.put(workKeys.pageChallenges(runId, page), challenges);
  return { count: challenges.length, bytes };
}

/**
 * Whether a source of `size` bytes and a destination of `old` bytes of another size are both
 * one small chunk (under 1 MiB: no block round would match them). Grown, the source's chunk lies
 * past the old object's end, so the destination answers it, changed, with no read; shrunk, the
 * destination reads that much of its old object to answer it.
 */
function resized(size: number, old: number): boolean {
  return oneSmallChunk(size) && old < MIN_BLOCK_BYTES;
}

/**
 * Whether an object of `size` bytes is one chunk (chunks are at least 5 MiB) under 1 MiB, which
 * no block round would match block by block: what a page's steps read, answer and rewrite.
 */
function oneSmallChunk(size: number): boolean {
  return size > 0 && size < MIN_BLOCK_BYTES;
}

/** What a page's step may read of one side: its slots, the bytes it has left, and the step's count. */
interface PageReads {
  limiter: Limiter;
  left: number;
  bytes: StepBytes;
}

type PageChallenge = z.infer<typeof ChallengesRecordSchema>[number];
type PageExpected = z.infer<typeof ExpectedRecordSchema>[number];

/**
 * The challenge of listed `item` against destination version `dst`: where its source entry
 * stands for it, from that entry; else, for an object of one chunk (no block round would match
 * it block by block), from one GET of it that heads it and takes its digest, as PlanSource
 * reads it. Undefined where neither serves: its object's own flow plans it.
 */
async function challengeItem(
  ctx: SourceContext & { index: NonNullable<SourceContext["index"]> },
  side: SourceSide,
  reading: { runId: string; reads: PageReads },
  page: PageFound,
  item: z.infer<typeof ListedItem>,
  dst: { etag: string },
  bucket: string,
): Promise<{ challenge: PageChallenge; expected: PageExpected } | undefined> {
  const destinationKey = ctx.destinationPrefix + item.key;
  if (!isObjectKey(destinationKey)) return undefined;
  const found = await page.found(item.key);
  const fromEntry = found && (await sourceHeadFromEntry(ctx, side, item, found));
  const read = fromEntry ? undefined : await readItem(ctx, reading.runId, reading.reads, item, found);
  const head = fromEntry?.head ?? read?.head;
  if (head === undefined) return undefined;
  const reader = read?.side ?? side;
  // The version read may be newer than the one listed: its plan is its own, as PlanSource's.
  const plan = planChunks(head.size, ctx.chunkSize);
  const id = sourceIdentity(ctx.store.bucket, head.key, head);
  const exchange =
    plan.count > 0
      ? await reader.challenge(id, { bucket, key: destinationKey, etag: dst.etag }, plan, allChunks(plan))
      : undefined;
  return {
    challenge: { key: item.key, request: exchange?.request ?? null },
    expected: {
      key: item.key,
      source: await sourceRecordOf(ctx, item.key, head),
      ...keptVersion(ctx, reader, head, read?.at, read === undefined),
      expectation: exchange?.expectation ?? null,
      ...(read ? { bytes: read.bytes } : {}),
      ...(fromEntry?.learned ? { entry: entryRecord(fromEntry.learned) } : {}),
    },
  };
}

/**
 * Reads listed `item` whose source entry does not stand (`found`: what its page's lookup found
 * of it) for its page's challenge: its head and its one chunk's digest in one GET, where it is
 * of one chunk and within what the page may read; undefined where it is not (an empty object, a
 * rot mark, an archived object, a source gone or changed since its listing: its own flow meets
 * them). What a read that served no challenge moved is kept for its object's flow to count.
 */
async function readItem(
  ctx: SourceContext,
  runId: string,
  reads: PageReads,
  item: z.infer<typeof ListedItem>,
  found: FoundEntry | undefined,
): Promise<{ head: ObjectHead; side: SourceSide; at: number | undefined; bytes: StepBytes } | undefined> {
  if (
    !oneSmallChunk(item.size) ||
    found?.entry.rotted ||
    isArchiveClass(item.storageClass) ||
    item.size > reads.left
  )
    return undefined;
  reads.left -= item.size;
  const bytes: StepBytes = { sourceRead: 0 };
  const side = readingSide(ctx, bytes, reads.limiter);
  try {
    const { head, at } = await probeItem(ctx, side, item);
    if (head !== undefined) return { head, side, at, bytes };
  } catch (error) {
    if (ctx.signal?.aborted) throw error;
  } finally {
    reads.bytes.sourceRead = (reads.bytes.sourceRead ?? 0) + (bytes.sourceRead ?? 0);
  }
  if ((bytes.sourceRead ?? 0) > 0)
    await ctx.work.put(workKeys.movedOnPage(runId, item.key), { steps: [{ bytes }] });
  return undefined;
}

/**
 * Reads listed `item`, whose source entry does not stand, on `side` as PlanSource reads it: its
 * head (none: it is gone) and its first chunk's digest in one GET, and this side's time before
 * it (the version read is read after it, see `versionRecord`).
 */
export async function probeItem(
  ctx: SourceContext,
  side: SourceSide,
  item: z.infer<typeof ListedItem>,
): Promise<{ head: ObjectHead | undefined; at: number | undefined }> {
  const at = ctx.store.serverTime();
  const sourceKey = ctx.prefix + item.key;
  const head = listedHead(await side.probe(sourceKey, ctx.chunkSize, item), { ...item, key: sourceKey });
  return { head, at };
}

/**
 * What the source keeps of version `head` a page's step settled on, for its new index entry:
 * its version record (`used`: its digests came from its entry, with no read), and where `side`
 * read it, the digest of its first chunk that read took.
 */
export function keptVersion(
  ctx: SourceContext,
  side: SourceSide,
  head: ObjectHead,
  at: number | undefined,
  used: boolean,
): { version: VersionRecord; digests?: DigestsRecord } {
  const version = versionRecord(head, at, used);
  const plan = planChunks(head.size, ctx.chunkSize);
  if (used || plan.count === 0) return { version };
  const id = sourceIdentity(ctx.store.bucket, head.key, head);
  return { version, digests: digestsRecord(id.etag, ctx.algorithm, plan, side.held(id, [0])) };
}

/**
 * The head of listed `item` from the source's stored entry `found` where that stands for the
 * version listed, as PlanSource takes it (with no request, or one HEAD where the listing cannot
 * settle it), its digests handed to `side`, and the entry as that HEAD left it where it learned
 * more of it (one read within its version's second: see `standingEntry`); undefined where it
 * does not stand, or is a rot mark (the object's own flow refuses that source).
 */
export async function sourceHeadFromEntry(
  ctx: SourceContext,
  side: SourceSide,
  item: z.infer<typeof ListedItem>,
  found: FoundEntry,
): Promise<{ head: ObjectHead; learned?: FoundEntry } | undefined> {
  if (found.entry.rotted) return undefined;
  const listed = { ...item, key: ctx.prefix + item.key, ...listedOf(found) };
  if (
    !entryMayStand(found.entry, listed) ||
    isArchiveClass(found.entry.storageClass) ||
    isArchiveClass(listed.storageClass) ||
    found.entry.digests.length !== planChunks(item.size, ctx.chunkSize).count
  )
    return undefined;
  const known = await standingEntry(ctx.store, found.entry, listed, found.versioned, ctx.signal);
  if (known === undefined) return undefined;
  const { head } = sourceFromStanding(side, known, listed);
  return known.entry === found.entry ? { head } : { head, learned: { ...found, entry: known.entry } };
}

/**
 * The destination's half: answers each challenge of the page from its own index entry, where
 * that entry still answers for the version its lookup listed, and keeps that version's records
 * as HeadDestination would (the object's own flow, where the pair goes on to it, heads it again).
 * Reads no byte of an object but where a shorter small source's chunk lies inside its version
 * (see {@link answerFromEntry}): a pair whose entry does not serve is not answered.
 */
export async function answerPage(ctx: DestinationContext, event: z.infer<typeof PageEvent>) {
  const { runId, page } = event;
  const challenges = await needRecord(
    ctx.work,
    workKeys.pageChallenges(runId, page),
    ChallengesRecordSchema,
    "challenges",
  );
  const bytes = stepBytes<StepBytes>(ctx, { destinationRead: 0 });
  const side = destinationReadingSide(ctx, bytes);
  // What the step may read of old objects a shorter source's challenge lies inside.
  const reads = { limiter: new Limiter(ctx.concurrency), left: PAGE_STEP_BYTES, bytes };
  const answers: z.infer<typeof AnswersRecordSchema> = [];
  const kept: (z.infer<typeof AnsweredRecordSchema>[number] | undefined)[] = [];
  const indexed = ctx.index && { ...ctx, index: ctx.index };
  const found = await PageFound.read(ctx.work, "destination", runId, page, ctx.index?.scope);
  await forEachConcurrent(challenges.entries(), RECORDS_AHEAD, async ([i, { key, request }]) => {
    const asked = request as ChallengeRequest | null;
    const answer = indexed && (await answerFromEntry(indexed, side, reads, found, key, asked));
    answers[i] = answer
      ? {
          key,
          answered: true,
          response: answer.response,
          destination: answer.destination,
          ...(answer.bytes ? { bytes: answer.bytes } : {}),
        }
      : { key, answered: false, response: null };
    kept[i] = answer && { key, version: answer.version, ...(answer.entry ? { entry: answer.entry } : {}) };
  });
  await Promise.all([
    ctx.work.put(
      workKeys.pageAnswered(runId, page),
      kept.filter((k) => k !== undefined),
    ),
    ctx.work.put(workKeys.pageAnswers(runId, page), answers),
  ]);
  return { bytes };
}

/**
 * The answer to `request` (null: an empty object, nothing asked) from `key`'s entry, with the
 * records of the version it answers for (its entry where the HEAD learned more of it);
 * undefined where the entry does not serve.
 */
async function answerFromEntry(
  ctx: DestinationContext & { index: NonNullable<DestinationContext["index"]> },
  side: DestinationSide,
  reads: PageReads,
  page: PageFound,
  key: string,
  request: ChallengeRequest | null,
): Promise<
  | {
      response: ChallengeResponse | null;
      destination: DestinationRecord;
      version: VersionRecord;
      entry?: ReturnType<typeof entryRecord>;
      bytes?: StepBytes;
    }
  | undefined
> {
  const listed = page.listed(key);
  const found = await page.found(key);
  if (listed === undefined || found === undefined) return undefined;
  const { entry } = found;
  const plan = planChunks(entry.size, ctx.chunkSize);
  const { algorithm } = ctx.index.scope;
  // A source of another size asks for chunks this entry does not hold: those that lie inside
  // this version (see `chunksToAnswer`) are read, where it is one small chunk and the page may
  // read that much.
  const inside =
    request !== null && request.plan.size !== entry.size ? chunksToAnswer(request, entry.size) : [];
  const reading = inside.reduce((n, range) => n + range.length, 0);
  if (
    isArchiveClass(listed.storageClass) ||
    entry.digests.length !== plan.count ||
    (request !== null && request.algorithm !== algorithm) ||
    (reading > 0 && (!oneSmallChunk(entry.size) || reading > reads.left))
  )
    return undefined;
  reads.left -= reading;
  // As HeadDestination takes it: with no request, or one HEAD where the listing cannot settle it;
  // the version's time is taken before that HEAD and any read of it (see `versionRecord`).
  const at = ctx.store.serverTime();
  const known = await standingEntry(ctx.store, entry, listed, found.versioned, ctx.signal);
  if (known === undefined) return undefined;
  // What this answer reads is its object's own to count.
  const bytes: StepBytes | undefined = reading > 0 ? { destinationRead: 0 } : undefined;
  const answering = bytes ? destinationReadingSide(ctx, bytes, reads.limiter) : side;
  const { head } = destinationFromStanding(answering, known, listed, algorithm, ctx.chunkSize);
  // The version challenged is the one listed: `answer` refuses any other.
  if (request !== null && !sameEtag(head.etag, request.destination.etag)) return undefined;
  let response: ChallengeResponse | null = null;
  try {
    response = request === null ? null : await answering.answer(request, head);
  } catch (error) {
    // A read that failed (a version replaced since its lookup) answers nothing: the pair's own
    // flow meets what failed, and reports it as that object's.
    if (bytes === undefined || ctx.signal?.aborted) throw error;
    return undefined;
  } finally {
    reads.bytes.destinationRead = (reads.bytes.destinationRead ?? 0) + (bytes?.destinationRead ?? 0);
  }
  return {
    ...(bytes ? { bytes } : {}),
    response,
    destination: await destinationRecordOf(ctx, listed.key, head),
    version: versionRecord(head, at, true),
    // A written entry, or one read within its version's second, that the HEAD saw past that
    // second stands as one read (see `standingEntry`).
    ...(known.entry === entry ? {} : { entry: entryRecord({ ...found, entry: known.entry }) }),
  };
}

/**
 * The source's last half: compares each answer with what it expected and settles each pair
 * found identical (its source version record and its result, as the object's own flow would
 * leave them). Returns the page's items left for its Map, in order.
 */
export async function comparePage(ctx: SourceContext, event: z.infer<typeof PageItemsEvent>) {
  const { runId, page } = event;
  const [challenges, expected, answers] = await Promise.all([
    needRecord(ctx.work, workKeys.pageChallenges(runId, page), ChallengesRecordSchema, "challenges"),
    needRecord(ctx.work, workKeys.pageExpected(runId, page), ExpectedRecordSchema, "expected"),
    needRecord(ctx.work, workKeys.pageAnswers(runId, page), AnswersRecordSchema, "answers"),
  ]);
  const results: (PageResults[number] | undefined)[] = [];
  const changed: (ChangedOnPage | undefined)[] = [];
  let left = PAGE_STEP_BYTES;
  for (const [i, { key, request }] of challenges.entries()) {
    const mine = expected[i];
    const answer = answers[i];
    if (mine?.key !== key || answer?.key !== key || !answer.answered || answer.destination === undefined)
      continue;
    try {
      const decided = pageDecided(ctx, mine, request, { ...answer, destination: answer.destination });
      if (decided.identical) results[i] = decided.identical;
      else if (decided.rewrite && mine.source.size <= left) {
        left -= mine.source.size;
        changed[i] = decided.rewrite;
      }
    } catch {
      // The object's own flow meets the same failure, and reports it as that object's.
    }
  }
  const settled = results.filter((r) => r !== undefined);
  const rewrites = changed.filter((c) => c !== undefined);
  if (settled.length > 0) await ctx.work.put(workKeys.pageResults(runId, page), settled);
  if (rewrites.length > 0) await ctx.work.put(workKeys.changedOnPage(runId, page), rewrites);
  const decided = new Set(settled.map((r) => r.key));
  const copied = new Set(rewrites.map((c) => c.key));
  // What each side read to decide a pair left to its own flow is that flow's to count; a
  // rewrite's is its copy's.
  const read = new Map<string, { bytes: unknown }[]>();
  for (const [i, { key }] of challenges.entries()) {
    const steps = readSteps(expected[i], answers[i]);
    if (steps.length > 0 && !decided.has(key) && !copied.has(key)) read.set(key, steps);
  }
  await forEachConcurrent(read, RECORDS_AHEAD, ([key, steps]) =>
    ctx.work.put(workKeys.movedOnPage(runId, key), { steps }),
  );
  return event.items.filter((item) => !decided.has(item.key));
}

/** What each side read to decide a pair (the source's read, the destination's answer), as steps. */
function readSteps(
  mine: { key: string; bytes?: unknown } | undefined,
  answer: { key: string; bytes?: unknown } | undefined,
): { bytes: unknown }[] {
  return [mine, answer].flatMap((s) =>
    s?.bytes !== undefined && s.key === mine?.key ? [{ bytes: s.bytes }] : [],
  );
}

/** A pair a page's decision found changed, which its copies rewrite (see pageCopy.ts). */
type ChangedOnPage = z.infer<typeof ChangedRecordSchema>[number];

/**
 * The keys of the page a ComparePage or RecordCopies step settled, from its event and output:
 * those of its items it did not hand on to the Map.
 */
export function settledOnPage(input: unknown, output: unknown): string[] {
  const handed = new Set((output as { key: string }[]).map((item) => item.key));
  return (input as { items: { key: string }[] }).items
    .map((item) => item.key)
    .filter((key) => !handed.has(key));
}

/**
 * The decision of one pair answered from the destination's version `dst`: its result where it
 * is identical (its source version stays in the page's expected record); where it is changed
 * and a page's copy rewrites it, that rewrite; neither where its own flow is to decide it.
 */
function pageDecided(
  ctx: SourceContext,
  mine: { key: string; source: SourceRecord; expectation: unknown; bytes?: unknown },
  request: unknown,
  answer: { key: string; response: unknown; destination: DestinationRecord; bytes?: unknown },
): { identical?: PageResults[number]; rewrite?: ChangedOnPage } {
  const { key, source } = mine;
  const { response, destination: dst } = answer;
  // What both sides read to decide it.
  const bytes = totalBytes(readSteps(mine, answer));
  // Whether anything was asked is the source's own record's to say (an empty object has no
  // chunk), never the shared records': a challenge taken out of them must not pass as none.
  if (source.plan.count > 0 && (request === null || mine.expectation === null || response === null))
    return {};
  const changed =
    source.plan.count === 0
      ? []
      : changedChunks({
          request: request as ChallengeRequest,
          expectation: mine.expectation as ChallengeExpectation,
          response: response as ChallengeResponse,
        });
  const decision = decisionFor(ctx, source, dst, changed, undefined);
  if (decision.action === "none") {
    const keys = { sourceKey: source.sourceKey, destinationKey: dst.destinationKey, attempts: 1 };
    return { identical: { key, result: decidedResult(keys, source, decision, false), bytes } };
  }
  return rewritesOnPage(decision, source.size)
    ? { rewrite: { key, bytes, source, decision, destination: dst } }
    : {};
}

/**
 * Whether a page's copy writes `decision` as its object's own flow would: one part of the
 * source's bytes, that no read verifies, of an object no block round would match block by block.
 */
function rewritesOnPage(decision: Decision, size: number): boolean {
  const [part, ...more] = decision.parts;
  return (
    oneSmallChunk(size) && more.length === 0 && part?.kind === "sourceBytes" && decision.verify.length === 0
  );
}
