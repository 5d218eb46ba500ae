import {
  type AssemblyPlan,
  allChunks,
  type BlockRounds,
  type ChallengeExpectation,
  type ChallengeRequest,
  type ChallengeResponse,
  ChunksyncError,
  crossingBytes,
  decideObject,
  decisionOptionsOf,
  entryMayStand,
  entryStanding,
  type PlannedPart,
  planChunks,
  rebuildsChangedInPlace,
} from "@chunksync/core";
import { isArchiveClass, type ObjectHead } from "@chunksync/storage";
import type { ChallengeExchange } from "@chunksync/sync";
import {
  addPlanned,
  afterBlockAnswer,
  buildReport,
  changedChunks,
  checkWritten,
  countResult,
  DISTRUSTED_NOTE,
  describeError,
  describeFailure,
  etagIsMd5,
  failedResult,
  forEachConcurrent,
  headOfEntry,
  keySelection,
  Limiter,
  listedHead,
  mapAhead,
  noPlanned,
  ObjectChangedError,
  type ObjectResult,
  objectLine,
  presentSource,
  type RunReport,
  RunStats,
  readAttributes,
  refuseRottedSource,
  SideIndex,
  type SideIndexReport,
  SourceSide,
  sourceEntry,
  sourceFromIndex,
  sourceHolds,
  sourceIdentity,
  standingEntry,
  startBlockRounds,
  summaryLine,
  unverifiedResult,
} from "@chunksync/sync";
import type { z } from "zod";
import {
  assemblyOf,
  roundsOf,
  type StoredAssembly,
  type StoredRounds,
  storedAssembly,
  storedRounds,
} from "./blockRecords.js";
import { candidateRecords, type OnSourceRecord } from "./candidateRecords.js";
import {
  chunksPerBatch,
  type Decision,
  DecisionSchema,
  type DestinationRecord,
  DestinationRecordSchema,
  type SourceContext,
  type SourceRecord,
  SourceRecordSchema,
  type StepBytes,
  type UploadRecord,
  UploadRecordSchema,
} from "./context.js";
import type {
  BatchEvent,
  BlockEvent,
  CommitIndexEvent,
  DecideEvent,
  ListPageEvent,
  PageEvent,
  PrepareEvent,
  RecordEvent,
  ReportEvent,
  WriteBatchEvent,
} from "./events.js";
import {
  commitSideIndex,
  type DigestPhase,
  type DigestsRecord,
  digestRecords,
  digestsRecord,
  foundEntry,
  getEntry,
  getFound,
  getVersion,
  headOf,
  KEEPS_STOOD,
  listedOf,
  pageRecord,
  putEntry,
  RECORDS_AHEAD,
  type SettledEntry,
  stepListing,
  versionRecord,
} from "./indexRecords.js";
import {
  batchNumbers,
  batchOf,
  endPage,
  jsonBytes,
  listAfter,
  listPage,
  PAGE_BYTES,
  type PageRecord,
  workKeys,
} from "./layout.js";
import { copiedOnSource, writtenResult } from "./pageCopyRecords.js";
import { type DecidedOnSource, decidedOnSource } from "./pageDecisionRecords.js";
import { PageFound, PageFoundWriter } from "./pageLookup.js";
import { movedBytes, stepBytes } from "./stepBytes.js";
import { need, needRecord, type WorkArea } from "./WorkArea.js";

/** The object's stored decision, checked against its schema. */
export async function needDecision(work: WorkArea, runId: string, key: string): Promise<Decision> {
  return needRecord(work, workKeys.decision(runId, key), DecisionSchema, "decision");
}

/** The object's source record (written by the source side), checked against its schema. */
export async function needSource(work: WorkArea, runId: string, key: string): Promise<SourceRecord> {
  return needRecord(work, workKeys.source(runId, key), SourceRecordSchema, "source");
}

/** The object's upload record (written by the destination side), checked against its schema. */
export async function needUpload(work: WorkArea, runId: string, key: string): Promise<UploadRecord> {
  return needRecord(work, workKeys.upload(runId, key), UploadRecordSchema, "upload");
}

/** The object's destination record (written by the destination side), checked against its schema. */
export async function needDestination(
  work: WorkArea,
  runId: string,
  key: string,
): Promise<DestinationRecord> {
  return needRecord(work, workKeys.destination(runId, key), DestinationRecordSchema, "destination");
}

/** The object's source and destination records, read side by side. */
export function needRecords(
  work: WorkArea,
  runId: string,
  key: string,
): Promise<[SourceRecord, DestinationRecord]> {
  return Promise.all([needSource(work, runId, key), needDestination(work, runId, key)]);
}

/** One page of the source listing: the items of one Map run, and where the next page starts. */
export async function listSourcePage(ctx: SourceContext, event: z.infer<typeof ListPageEvent>) {
  const items: z.infer<typeof PrepareEvent>["item"][] = [];
  const found = new PageFoundWriter(ctx.work, "source", event.runId, event.page);
  let bytes = 0;
  let more = false;
  const after = event.after ?? undefined;
  const selected = keySelection(ctx.filters ?? []);
  // Only the pieces of the stored index that hold the page's keys are read.
  const index = ctx.index?.consult ? await SideIndex.open(ctx.index) : undefined;
  const { versioned, through } = await stepListing(
    ctx.work,
    "source",
    event.runId,
    ctx.store,
    index,
    ctx.signal,
  );
  for await (const { object: o, key } of through(
    listAfter(ctx.store, "source", ctx.prefix, after, ctx.signal, versioned),
  )) {
    if (!selected(key)) continue;
    if (items.length >= ctx.pageSize || bytes >= PAGE_BYTES) {
      more = true;
      break;
    }
    // An archived object's class goes with it: neither side reads it ahead (see inspect).
    const archived = isArchiveClass(o.storageClass) ? o.storageClass : undefined;
    const item = {
      key,
      size: o.size,
      etag: o.etag,
      ...(archived ? { storageClass: archived } : {}),
      ...(o.lastModified !== undefined ? { lastModified: o.lastModified } : {}),
      ...(o.versionId !== undefined ? { versionId: o.versionId } : {}),
    };
    items.push(item);
    bytes += jsonBytes(item);
    // The entry that still stands for the listed version waits in this side's own part, as
    // does one a scrub marked rotted (see refuseRottedSource).
    const entry = await index?.stoodOrMarked(o.key, o);
    if (entry) found.add(key, foundEntry(entry, versioned, o));
  }
  await found.end();
  const keys = items.map((i) => i.key);
  const next = await endPage(ctx.work, workKeys.page(event.runId, event.page), keys, {
    page: event.page,
    after,
    more,
  });
  return { items, next };
}

/** Heads and plans the source object; the digest batches become the items of the challenge Map. */
export async function prepareSource(ctx: SourceContext, event: z.infer<typeof PrepareEvent>) {
  const { runId, item } = event;
  const sourceKey = ctx.prefix + item.key;
  // A restart plans the version that made it restart, which the listing did not name.
  const stored =
    ctx.index && (event.attempt ?? 1) === 1
      ? await (await PageFound.read(ctx.work, "source", runId, event.page, ctx.index.scope)).found(item.key)
      : undefined;
  let head: ObjectHead;
  let at: number | undefined;
  const listed = stored && { ...item, key: sourceKey, ...listedOf(stored) };
  if (stored?.entry.rotted && listed)
    await refuseRottedSource(ctx.store, stored.entry, listed, stored.versioned, ctx.signal);
  const known =
    stored &&
    listed &&
    !stored.entry.rotted &&
    entryMayStand(stored.entry, listed) &&
    !isArchiveClass(stored.entry.storageClass)
      ? await standingEntry(ctx.store, stored.entry, listed, stored.versioned, ctx.signal)
      : undefined;
  if (stored && listed && known) {
    // The entry stands for the listed version: its head is known, with no request or one HEAD.
    head = known.head ?? headOfEntry(known.entry, listed);
    // For the flow's later steps and its page's index step: the entry as it stood, which a HEAD
    // may have learned more of (see `standingEntry`).
    await putEntry(ctx.work, workKeys.found("source", runId, item.key), { ...stored, entry: known.entry });
  } else {
    // Its head (its attributes) is read after this time, and its chunks in later steps: taken
    // after the HEAD, a restatement in the HEAD's second could pass for one read a second later.
    at = ctx.store.serverTime();
    head = presentSource(sourceKey, listedHead(await ctx.store.head(sourceKey), { ...item, key: sourceKey }));
  }
  if (ctx.index) {
    await ctx.work.put(
      workKeys.version("source", runId, item.key),
      versionRecord(head, at, at === undefined),
    );
  }
  const plan = planChunks(head.size, ctx.chunkSize);
  await ctx.work.put(workKeys.source(runId, item.key), await sourceRecordOf(ctx, item.key, head));
  return {
    archived: head.archived,
    count: plan.count,
    batches: batchNumbers(plan.count, chunksPerBatch(ctx, plan.chunkSize)),
  };
}

/** The record of the source version `head` of relative `key`, as PlanSource keeps it for the other steps. */
export async function sourceRecordOf(
  ctx: SourceContext,
  key: string,
  head: ObjectHead,
): Promise<SourceRecord> {
  const plan = planChunks(head.size, ctx.chunkSize);
  return {
    key,
    bucket: ctx.store.bucket,
    sourceKey: head.key,
    etag: head.etag,
    ...(head.versionId ? { versionId: head.versionId } : {}),
    size: head.size,
    archived: head.archived,
    ...(head.storageClass ? { storageClass: head.storageClass } : {}),
    // As the direct engine takes it: a head from the index does not say whether the object is
    // encrypted so that its ETag is no MD5, and the streamed write measures the MD5 and sends the
    // body again where the storing server refuses that ETag (see `sendStreamed`).
    ...(etagIsMd5(head) ? { etagIsMd5: true } : {}),
    plan: { size: plan.size, chunkSize: plan.chunkSize, count: plan.count },
    attributes: await readAttributes(ctx.store, head, ctx.copyTags, "source"),
  };
}

/** Digests one batch of chunks (on this side only) and stores the challenge for the destination. */
export async function sourceChallenge(ctx: SourceContext, event: z.infer<typeof BatchEvent>) {
  const { runId, key, batch, phase } = event;
  const [src, dst] = await needRecords(ctx.work, runId, key);
  let indices: number[];
  let etag = dst.etag ?? "";
  if (phase === "challenge") {
    indices = batchOf(allChunks(src.plan), batch, chunksPerBatch(ctx, src.plan.chunkSize));
  } else {
    const decision = await needDecision(ctx.work, runId, key);
    indices = batchOf(decision.verify, batch, decision.batchSize);
    etag = (await needUpload(ctx.work, runId, key)).etag ?? "";
  }
  const bytes = stepBytes<StepBytes>(ctx, { sourceRead: 0 });
  const side = readingSide(ctx, bytes);
  const id = sourceIdentity(ctx.store.bucket, src.sourceKey, src);
  const indexed = await knownFromIndex(ctx, side, runId, src);
  const { request, expectation } = await side.challenge(
    id,
    { bucket: dst.bucket, key: dst.destinationKey, etag },
    src.plan,
    indices,
  );
  // What this batch read is kept for the object's new index entry, on this side only.
  if (ctx.index && !indexed) {
    await ctx.work.put(
      workKeys.digests("source", runId, key, phase, batch),
      digestsRecord(id.etag, ctx.algorithm, src.plan, side.held(id, indices)),
    );
  }
  await ctx.work.put(workKeys.request(runId, key, phase, batch), request);
  await ctx.work.put(workKeys.expectation(runId, key, phase, batch), expectation);
  return { bytes };
}

/** The source side of one step, its reads counted in `bytes`, its requests in `limiter`'s slots. */
export function readingSide(
  ctx: SourceContext,
  bytes: StepBytes,
  limiter = new Limiter(ctx.concurrency),
): SourceSide {
  return new SourceSide({
    store: ctx.store,
    secret: ctx.secret,
    algorithm: ctx.algorithm,
    variant: ctx.variant,
    limiter,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    onRead: (n) => {
      bytes.sourceRead = (bytes.sourceRead ?? 0) + n;
    },
  });
}

/**
 * Hands `side` the digests of the planned version from the source's index entry, where
 * PlanSource took that version from it: the challenge then reads nothing.
 */
async function knownFromIndex(
  ctx: SourceContext,
  side: SourceSide,
  runId: string,
  src: SourceRecord,
): Promise<boolean> {
  if (!ctx.index) return false;
  const version = await getVersion(ctx.work, workKeys.version("source", runId, src.key));
  if (!version?.used || version.head.etag !== src.etag) return false;
  const entry = await getEntry(ctx.work, workKeys.found("source", runId, src.key), ctx.index.scope);
  if (entry?.etag !== src.etag) return false;
  sourceFromIndex(side, entry, { key: src.sourceKey, size: src.size, etag: src.etag });
  return true;
}

/** Checks the destination's answers; a verify batch that is not all-equal fails the object. */
export async function sourceCompare(ctx: SourceContext, event: z.infer<typeof BatchEvent>) {
  const { runId, key, batch, phase } = event;
  const [request, expectation, response] = await Promise.all([
    need<ChallengeRequest>(ctx.work, workKeys.request(runId, key, phase, batch)),
    need<ChallengeExpectation>(ctx.work, workKeys.expectation(runId, key, phase, batch)),
    need<ChallengeResponse>(ctx.work, workKeys.response(runId, key, phase, batch)),
  ]);
  const exchange: ChallengeExchange = { request, expectation, response };
  if (phase === "verify") {
    checkWritten(exchange);
    return { changed: 0 };
  }
  const changed = changedChunks(exchange);
  await ctx.work.put(workKeys.changed(runId, key, batch), changed);
  return { changed: changed.length };
}

/** The destination version the object's steps challenge: the one the destination side headed, if any. */
function challenged(dst: DestinationRecord): { etag: string; size: number } | undefined {
  return dst.exists && dst.etag !== undefined && dst.size !== undefined
    ? { etag: dst.etag, size: dst.size }
    : undefined;
}

/**
 * The chunks the challenge batches found changed, in order; undefined where nothing was
 * challenged (the definition challenges only a readable source against an existing destination).
 */
async function changedChunksOf(
  ctx: SourceContext,
  runId: string,
  src: SourceRecord,
  dst: DestinationRecord,
): Promise<number[] | undefined> {
  if (challenged(dst) === undefined || src.archived) return undefined;
  const changed: number[] = [];
  for (const batch of batchNumbers(src.plan.count, chunksPerBatch(ctx, src.plan.chunkSize))) {
    changed.push(...(await need<number[]>(ctx.work, workKeys.changed(runId, src.key, batch))));
  }
  return changed;
}

/** The outcome of an object's block exchange, for the versions it matched. */
interface StoredOutcome {
  source: string;
  destination: string | null;
  /** Null where the object stays at chunk level. */
  assembly: StoredAssembly | null;
}

/**
 * One round of an object's block exchange on the source's side, the phase the direct engine
 * runs in one loop (`exchangeBlocks`): round 0 starts it where it can pay, a later round takes
 * the destination's answer to the round before. Each round's state stays in the source's own
 * part, its request goes where the destination reads it; once the exchange ends, the assembly
 * it found (or none) waits for Decide. `ask`: the destination answers this round's request.
 */
export async function matchBlocks(ctx: SourceContext, event: z.infer<typeof BlockEvent>) {
  const { runId, key, round } = event;
  const [src, dst] = await needRecords(ctx.work, runId, key);
  const old = challenged(dst);
  const changed = await changedChunksOf(ctx, runId, src, dst);
  const bytes = stepBytes<StepBytes>(ctx, { sourceRead: 0 });
  let next: { rounds: BlockRounds } | { assembly: AssemblyPlan | undefined };
  if (round === 0) {
    const rounds = await startBlockRounds(
      readingSide(ctx, bytes),
      {
        blocks: ctx.blocks ?? true,
        serverSideCopy: ctx.serverSideCopy ?? false,
        copySourceEscapesReadOnce: dst.copySourceEscapesReadOnce,
      },
      sourceIdentity(ctx.store.bucket, src.sourceKey, src),
      old && { bucket: dst.bucket, key: dst.destinationKey, ...old },
      src.plan,
      changed,
    );
    next = rounds ? { rounds } : { assembly: undefined };
  } else {
    if (old === undefined || changed === undefined)
      throw new ChunksyncError(
        "UNEXPECTED",
        `round ${round} of ${key}'s block exchange has no challenged version`,
      );
    const rounds = roundsOf(await need<StoredRounds>(ctx.work, workKeys.blockRounds(runId, key, round - 1)));
    const response = await need<unknown>(ctx.work, workKeys.blockResponse(runId, key, round - 1));
    const id = sourceIdentity(ctx.store.bucket, src.sourceKey, src);
    next = await afterBlockAnswer(readingSide(ctx, bytes), id, src.plan, changed, old.size, rounds, response);
  }
  if ("rounds" in next) {
    await ctx.work.put(workKeys.blockRounds(runId, key, round), storedRounds(next.rounds));
    await ctx.work.put(workKeys.blockRequest(runId, key, round), next.rounds.request);
    return { round, ask: true, bytes };
  }
  const stored: StoredOutcome = {
    source: src.etag,
    destination: old?.etag ?? null,
    assembly: next.assembly ? storedAssembly(next.assembly) : null,
  };
  await ctx.work.put(workKeys.assembly(runId, key), stored);
  return { round, ask: false, bytes };
}

/**
 * The assembly the object's block exchange found for these very versions (a restarted
 * object's earlier exchange matched another source version).
 */
async function foundAssembly(
  ctx: SourceContext,
  runId: string,
  src: SourceRecord,
  old: { etag: string; size: number },
): Promise<AssemblyPlan | undefined> {
  const stored = await ctx.work.get<StoredOutcome>(workKeys.assembly(runId, src.key));
  if (stored?.source !== src.etag || stored.destination !== old.etag || !stored.assembly) return undefined;
  return assemblyOf(stored.assembly, src.plan, old.size);
}

/** Gathers the challenge verdicts and settles what to write: nothing, a copy, a compose or a metadata rewrite. */
export async function decide(ctx: SourceContext, event: z.infer<typeof DecideEvent>) {
  const { runId, key } = event;
  const [src, dst] = await needRecords(ctx.work, runId, key);
  const old = challenged(dst);
  const changed = await changedChunksOf(ctx, runId, src, dst);
  const assembly = old && changed ? await foundAssembly(ctx, runId, src, old) : undefined;
  const decision = decisionFor(ctx, src, dst, changed, assembly);
  // The other writer's version is left as it is, unless it holds the source's bytes and attributes.
  if (event.recheck && decision.action !== "none")
    throw new ObjectChangedError("destination", dst.destinationKey);
  await ctx.work.put(workKeys.decision(runId, key), decision);
  return {
    action: decision.action,
    writeBatches: batchNumbers(decision.parts.length, decision.batchSize),
    verifyBatches: batchNumbers(decision.verify.length, decision.batchSize),
  };
}

/**
 * What to write of the pair `src` and `dst`, from the challenge's verdict `changed` (undefined:
 * not challenged) and the block exchange's `assembly`.
 */
export function decisionFor(
  ctx: SourceContext,
  src: SourceRecord,
  dst: DestinationRecord,
  changed: number[] | undefined,
  assembly: AssemblyPlan | undefined,
): Decision {
  const old = challenged(dst);
  const destination = old && { ...old, attributes: dst.attributes ?? { metadata: {} } };
  const batchSize = chunksPerBatch(ctx, src.plan.chunkSize);
  return {
    ...decideObject({
      source: {
        size: src.size,
        etag: src.etag,
        archived: src.archived,
        etagIsMd5: src.etagIsMd5 ?? false,
        attributes: src.attributes,
      },
      destination,
      plan: src.plan,
      changed,
      assembly,
      options: decisionOptionsOf(
        { serverSideCopy: ctx.serverSideCopy ?? false, verify: ctx.verify, copyTags: ctx.copyTags ?? false },
        dst,
        { source: src.sourceKey, old: old && dst.destinationKey },
      ),
    }),
    batchSize,
    // The destination decides by its own store's capability whether it keeps them.
    ...(ctx.verify !== "full" ? { uploadDigests: ctx.algorithm } : {}),
    ...(assembly && changed && rebuildsChangedInPlace(src.plan, changed, assembly)
      ? { distrusted: true as const }
      : {}),
  };
}

/**
 * Signs a short-lived read link to the source object for the destination's compose step,
 * where the batch reads any bytes from the source (whole parts or assembled parts' source pieces).
 */
export async function presignBatch(ctx: SourceContext, event: z.infer<typeof WriteBatchEvent>) {
  const { runId, key, batch } = event;
  const [src, decision] = await Promise.all([
    needSource(ctx.work, runId, key),
    needDecision(ctx.work, runId, key),
  ]);
  const parts = batchOf(decision.parts, batch, decision.batchSize);
  const fromSource = parts.some((p) => crossingBytes(p) > 0);
  const url = fromSource ? await ctx.signer.sign(src.sourceKey, ctx.linkExpirySeconds) : null;
  await ctx.work.put(workKeys.links(runId, key, batch), { url, etag: src.etag });
  return { bytes: await digestUnchallenged(ctx, runId, src, decision, parts, batch) };
}

/**
 * Digests, for this side's index, the chunks of a copy's parts that no challenge reads on this
 * side: a missing destination is not challenged, and the verification leaves out what it need
 * not read (none under `--verify none`; chunks sent as read to a store that checks their
 * Content-MD5). The direct engine digests them as it reads them for the upload; here the
 * destination's side reads them through the link, and raw digests never cross sides.
 */
async function digestUnchallenged(
  ctx: SourceContext,
  runId: string,
  src: SourceRecord,
  decision: Decision,
  parts: readonly PlannedPart[],
  batch: number,
): Promise<StepBytes> {
  const bytes = stepBytes<StepBytes>(ctx, { sourceRead: 0 });
  if (!ctx.index || decision.state !== "missing") return bytes;
  const verified = new Set(decision.verify);
  const indices = parts
    .filter((p) => p.kind === "sourceBytes")
    .flatMap((p) => Array.from({ length: p.chunkCount }, (_, i) => p.firstChunk + i))
    .filter((i) => !verified.has(i));
  if (indices.length === 0) return bytes;
  const side = readingSide(ctx, bytes);
  const id = sourceIdentity(ctx.store.bucket, src.sourceKey, src);
  // The source's entry stood for the planned version: its digests are known, and nothing is read.
  if (await knownFromIndex(ctx, side, runId, src)) return bytes;
  await side.digest(id, src.plan, indices);
  await ctx.work.put(
    workKeys.digests("source", runId, src.key, "write", batch),
    digestsRecord(id.etag, ctx.algorithm, src.plan, side.held(id, indices)),
  );
  return bytes;
}

/**
 * Writes the source's share of its new index for one page's key range, once the page's
 * objects have settled: lists the range again and, in key order, takes the entry each object
 * of the page settled at, and keeps what stood for the keys the run passed over.
 */
export async function indexSourcePage(ctx: SourceContext, event: z.infer<typeof PageEvent>) {
  if (!ctx.index) return {};
  const { runId } = event;
  const page = await need<PageRecord>(ctx.work, workKeys.page(runId, event.page));
  const onPage = new Set(page.keys);
  const index = await SideIndex.open(ctx.index);
  // The page's records, side by side (a request each, to a bucket maybe far away).
  const [decided, copied, lookedUp] = await Promise.all([
    decidedOnSource(ctx.work, runId, event.page, ctx.index.scope),
    copiedOnSource(ctx.work, runId, event.page, ctx.index.scope),
    PageFound.read(ctx.work, "source", runId, event.page, ctx.index.scope),
  ]);
  const listed = listPage(ctx.store, "source", ctx.prefix, page, ctx.signal);
  // Each object's records are read ahead; its entry is looked up and kept in key order.
  const ahead = mapAhead(listed, RECORDS_AHEAD, async ({ object, key }) => {
    const found: SettledEntry = onPage.has(key)
      ? await settledSourceEntry(ctx, runId, key, index, lookedUp, onPageOf(decided, copied, key))
      : undefined;
    return { object, key, found };
  });
  for await (const { object: o, key, found } of ahead) {
    // Every listed key is looked up, so the stored pieces are read in one pass. A rot mark
    // stays, as an entry that stood does, until a new version replaces it.
    const stood = await index.stoodOrMarked(o.key, o);
    const settled = found === KEEPS_STOOD ? stood : found;
    // In a stopped run's page, what was stored stays, as it was, for the objects it did not
    // settle, as the direct engine keeps it (see SideIndex.commitSettled).
    const kept = event.settled ? index.storedEntry(o.key) : stood;
    const entry = onPage.has(key) && !event.settled ? settled : (settled ?? kept);
    if (entry) await index.keep(entry);
  }
  await ctx.work.put(workKeys.indexPage("source", runId, event.page), await pageRecord(index));
  return {};
}

/**
 * The source's entry for the version object `key` settled at (for a failed object, {@link
 * KEEPS_STOOD}), from this side's own records of it (those of its page's decision or copy where
 * that settled it: `onPage`), with what its page's listing found of it; counts what the side's
 * index saved it.
 */
async function settledSourceEntry(
  ctx: SourceContext,
  runId: string,
  key: string,
  index: SideIndex,
  lookedUp: PageFound,
  onPage: (DecidedOnSource & { held: boolean }) | undefined,
): Promise<SettledEntry> {
  // A pair the page decided was challenged where the destination held it; a copy says whether
  // it replaced a version the destination held.
  const [version, stored, dst] = onPage
    ? [onPage.version, onPage.stored, { exists: onPage.held }]
    : await Promise.all([
        getVersion(ctx.work, workKeys.version("source", runId, key)),
        ctx.work.get<StoredResult>(workKeys.result(runId, key)),
        ctx.work.get<DestinationRecord>(workKeys.destination(runId, key)),
      ]);
  if (stored === undefined) return undefined;
  // An object that failed before its version was settled (its HEAD refused, a rot mark) keeps what stood.
  if (version === undefined) return stored.result.state === "failed" ? KEEPS_STOOD : undefined;
  if (dst?.exists) {
    if (version.used) index.report.fromIndex++;
    else index.report.read++;
  }
  if (stored.result.state === "failed") return KEEPS_STOOD;
  if (version.head.archived) return undefined;
  // Only a compose runs a block round that may find the object's digests wrong.
  const decided = () => ctx.work.get<Decision>(workKeys.decision(runId, key));
  const decision = stored.result.action === "compose" ? await decided() : undefined;
  if (decision?.distrusted) {
    index.note(DISTRUSTED_NOTE);
    return undefined;
  }
  // The entry used, as the page's listing found it; where a HEAD learned more of it (one read
  // within its version's second, see `standingEntry`), as the page's step or the flow's
  // PlanSource kept it then.
  if (version.used) {
    if (onPage?.found) return onPage.found.entry;
    const listed = await lookedUp.found(key);
    if (onPage || listed === undefined || entryStanding(listed.entry, version.head) !== "racy")
      return listed?.entry;
    return (await getFound(ctx.work, workKeys.found("source", runId, key), index.writer.scope))?.entry;
  }
  const src = onPage?.source ?? (await needSource(ctx.work, runId, key));
  const side = new SourceSide({
    store: ctx.store,
    secret: ctx.secret,
    algorithm: ctx.algorithm,
    variant: ctx.variant,
    limiter: new Limiter(1),
  });
  const id = { key: version.head.key, etag: version.head.etag };
  const records = onPage
    ? onPage.digests
      ? [onPage.digests]
      : []
    : flowDigests(ctx, runId, src, decision ?? (await decided()));
  for await (const record of records) {
    if (record.etag !== id.etag || record.algorithm !== ctx.algorithm) continue;
    for (const c of record.chunks) side.keepDigest(id, c.index, Buffer.from(c.digest, "base64"));
  }
  return sourceEntry(side, headOf(version), src.attributes, version.at, ctx.chunkSize);
}

/**
 * What a page's steps settled of `key` (see {@link settledSourceEntry}): a pair its decision
 * found identical, where the destination held it, or a copy (of a new object, or of one its
 * decision found changed).
 */
function onPageOf(
  decided: ReadonlyMap<string, DecidedOnSource>,
  copied: ReadonlyMap<string, DecidedOnSource & { held: boolean }>,
  key: string,
): (DecidedOnSource & { held: boolean }) | undefined {
  const pair = decided.get(key);
  return pair ? { ...pair, held: true } : copied.get(key);
}

/** Every digests record the source's steps of object `src`'s own flow kept, of each phase. */
async function* flowDigests(
  ctx: SourceContext,
  runId: string,
  src: SourceRecord,
  decision: Decision | undefined,
): AsyncIterable<DigestsRecord> {
  const batches: Record<DigestPhase, number> = {
    challenge: batchNumbers(src.plan.count, chunksPerBatch(ctx, src.plan.chunkSize)).length,
    verify: decision ? batchNumbers(decision.verify.length, decision.batchSize).length : 0,
    write: decision ? batchNumbers(decision.parts.length, decision.batchSize).length : 0,
  };
  for (const phase of ["challenge", "verify", "write"] as const)
    yield* digestRecords(ctx.work, "source", runId, src.key, phase, batches[phase]);
}

/**
 * With `delete`, asks the source for each destination-only key of a page's range (as its lookup
 * listed them) before FindDestinationOnly deletes them, as the direct engine HEADs the source
 * before a delete: a key the source holds now (written since its listing) keeps the
 * destination's object. A retried step keeps the records it confirmed already.
 */
export async function confirmDestinationOnly(ctx: SourceContext, event: z.infer<typeof PageEvent>) {
  const { runId, page } = event;
  for await (const { record, keys } of candidateRecords(ctx.work, runId, page)) {
    const at = workKeys.onSource(runId, page, record);
    if ((await ctx.work.get(at)) !== undefined) continue;
    const found: OnSourceRecord = { held: [], failed: [] };
    await forEachConcurrent(keys, ctx.concurrency, async (key) => {
      try {
        if (await sourceHolds(ctx.store, ctx.prefix + key, ctx.signal)) found.held.push(key);
      } catch (error) {
        // A stopped run's request says nothing of the key: the run ends as stopped.
        if (ctx.signal?.aborted) throw error;
        // The key's result reports it, as the direct engine's does.
        found.failed.push({ key, error: describeError(error) });
      }
    });
    await ctx.work.put(at, found);
  }
  return {};
}

/**
 * Makes the pages' pieces the source's index: its manifest is written last, at the run's end,
 * or, after a run that stopped before it (`settled`), of the pages it finished.
 */
export async function commitSourceIndex(ctx: SourceContext, event: z.infer<typeof CommitIndexEvent>) {
  if (ctx.index) await commitSideIndex(ctx.work, "source", event.runId, ctx.index, event.settled);
  return {};
}

/** Sums every `bytes` object found in the outputs of an object's steps. */
export function sumBytes(steps: unknown, into: RunStats["bytes"]): void {
  if (Array.isArray(steps)) {
    for (const s of steps) sumBytes(s, into);
    return;
  }
  if (typeof steps !== "object" || steps === null) return;
  for (const [k, v] of Object.entries(steps)) {
    if (k === "bytes" && typeof v === "object" && v !== null) {
      for (const field of Object.keys(into) as (keyof RunStats["bytes"])[]) {
        const n = (v as Record<string, unknown>)[field];
        if (typeof n === "number" && Number.isFinite(n)) into[field] += n;
      }
    } else sumBytes(v, into);
  }
}

/** The byte counts of `steps` summed (see {@link sumBytes}), as a result or a step's output holds them. */
export function totalBytes(...steps: unknown[]): RunStats["bytes"] {
  const total = new RunStats().bytes;
  sumBytes(steps, total);
  return total;
}

/** What the record step stores per object, and the report sums. */
export interface StoredResult {
  result: ObjectResult;
  bytes: RunStats["bytes"];
}

/** A failure as the Catch recorded it, with the code the direct engine reports for it. */
export function failureOf(error: NonNullable<z.infer<typeof RecordEvent>["error"]>) {
  let message = error.Cause ?? error.Error;
  // Lambda reports a failed function's error as JSON text in Cause.
  try {
    const parsed = JSON.parse(message) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === "string") message = parsed.errorMessage;
  } catch {}
  return describeFailure(error.Error, message);
}

/** Records one object's outcome in the work area (a failure when the event carries an error). */
export function recordResult(ctx: SourceContext, event: z.infer<typeof RecordEvent>) {
  // A failed step has no output: what it moved was kept apart (see stepBytes). Only a flow that
  // met a failure (an attempt restarted, or the object failed) lists it all; any other takes
  // what its page's copy kept apart, where the page tried and left it (see pageCopy.ts).
  const failed = event.error !== undefined || (event.attempt ?? 1) > 1;
  return storeResult(ctx, event, failed ? "every" : "page");
}

/**
 * Stores the outcome of `event`'s object, summing the bytes of its steps' outputs and those its
 * failed steps kept apart (`moved`: see {@link movedBytes}; none: there were none).
 */
export async function storeResult(
  ctx: SourceContext,
  event: z.infer<typeof RecordEvent>,
  moved: Parameters<typeof movedBytes>[3] | undefined,
) {
  const { runId, key } = event;
  const [src, dst, decision, kept] = await Promise.all([
    ctx.work.get<SourceRecord>(workKeys.source(runId, key)),
    ctx.work.get<DestinationRecord>(workKeys.destination(runId, key)),
    ctx.work.get<Decision>(workKeys.decision(runId, key)),
    moved && movedBytes(ctx.work, runId, key, moved),
  ]);
  const bytes = totalBytes(event.steps, kept);
  const keys = {
    sourceKey: src?.sourceKey ?? ctx.prefix + key,
    destinationKey: dst?.destinationKey ?? ctx.destinationPrefix + key,
    attempts: event.attempt ?? 1,
  };
  // A failure reports the size the run listed, as the direct engine does.
  const listedSize = event.size ?? 0;
  let result: ObjectResult;
  if (event.error !== undefined) result = failedResult(keys, failureOf(event.error), listedSize);
  else if (decision === undefined || src === undefined) {
    result = failedResult(
      keys,
      { code: "UNEXPECTED", message: "the object's flow ended without a decision" },
      listedSize,
    );
  } else {
    // Without an error the flow wrote what the decision said (or had nothing to write).
    result = writtenResult(src, keys.destinationKey, decision, keys.attempts);
  }
  await ctx.work.put(workKeys.result(runId, key), { result, bytes } satisfies StoredResult);
  return { state: result.state };
}

/**
 * The result of an object whose write completed in a run stopped before its flow recorded one
 * (its verification not made), as the direct engine reports such an object (see
 * `unverifiedResult`); undefined where the flow recorded a result.
 */
export async function unrecordedWrite(
  work: WorkArea,
  runId: string,
  key: string,
  attempt: number,
): Promise<ObjectResult | undefined> {
  if ((await work.get<StoredResult>(workKeys.result(runId, key))) !== undefined) return undefined;
  const src = await work.get<SourceRecord>(workKeys.source(runId, key));
  const dst = await work.get<DestinationRecord>(workKeys.destination(runId, key));
  const decision = await work.get<Decision>(workKeys.decision(runId, key));
  if (src === undefined || dst === undefined || decision === undefined) return undefined;
  return unverifiedResult(writtenResult(src, dst.destinationKey, decision, attempt));
}

/**
 * Streams every recorded result into the run's JSON Lines report next to them, then its
 * totals line (timed from the execution's start where the event gives it); holds counters
 * only, whatever the number of objects.
 */
export async function writeReport(
  work: WorkArea,
  event: z.infer<typeof ReportEvent>,
): Promise<Pick<RunReport, "objects" | "bytes" | "planned" | "index"> & { reportKey: string }> {
  const stats = new RunStats();
  const planned = noPlanned();
  async function* lines() {
    // A page's decision keeps its results in one record (see pageDecisionRecords.ts).
    const results = mapAhead(work.list(workKeys.results(event.runId)), RECORDS_AHEAD, async (k) =>
      workKeys.isPageResults(k) ? need<StoredResult[]>(work, k) : [await need<StoredResult>(work, k)],
    );
    for await (const some of results) {
      for (const stored of some) {
        for (const f of Object.keys(stats.bytes) as (keyof RunStats["bytes"])[])
          stats.bytes[f] += stored.bytes[f];
        if (stored.result.state !== "extra") stats.objects.scanned++;
        countResult(stats.objects, stored.result);
        addPlanned(planned, stored.result);
        yield objectLine(stored.result);
      }
    }
    yield summaryLine(
      buildReport({
        startedAt: new Date(event.startedAt ?? stats.startedAt),
        dryRun: false,
        objects: stats.objects,
        bytes: stats.bytes,
        planned,
        ...(index ? { index } : {}),
      }),
    );
  }
  const [source, destination] = await Promise.all([
    work.get<SideIndexReport>(workKeys.indexReport("source", event.runId)),
    work.get<SideIndexReport>(workKeys.indexReport("destination", event.runId)),
  ]);
  const index =
    source || destination
      ? { ...(source ? { source } : {}), ...(destination ? { destination } : {}) }
      : undefined;
  await work.putLines(workKeys.report(event.runId), lines());
  // Counts only: the per-object results could exceed a state's 256 KiB; they stay in the work area.
  return {
    reportKey: workKeys.report(event.runId),
    objects: stats.objects,
    bytes: stats.bytes,
    planned,
    ...(index ? { index } : {}),
  };
}
