import {
  type BlockRequest,
  type ChallengeRequest,
  ChunksyncError,
  checkDestinationKey,
  chunkRange,
  type DigestAlgorithm,
  entryAsListed,
  planChunks,
  ValidationError,
} from "@chunksync/core";
import {
  type CompletedPart,
  counting,
  destinationTraits,
  type MultipartUpload,
  type ObjectHead,
  type ObjectSummary,
  sameEtag,
  type Written,
} from "@chunksync/storage";
import {
  checkMemory,
  completeUpload,
  copiedFromOld,
  copiesKnown,
  DestinationSide,
  DISTRUSTED_NOTE,
  destinationEntry,
  destinationFromIndex,
  destinationWrittenEntry,
  feedBody,
  inspectDestination,
  keepingTags,
  keySelection,
  Limiter,
  mapAhead,
  type ObjectWrite,
  readAttributes,
  SideIndex,
  settleDestinationOnly,
  sourceIdentity,
  UNPINNED_COPIES_NOTE,
  type WriteContext,
  writeObject,
  writeParts,
  writeRequestsOf,
  writeWhole,
} from "@chunksync/sync";
import type { z } from "zod";
import { CandidateWriter, SourceAnswers } from "./candidateRecords.js";
import {
  chunksPerBatch,
  type Decision,
  type DestinationContext,
  type DestinationRecord,
  type SourceRecord,
  type StepBytes,
  type UploadedRecord,
  UploadedRecordSchema,
  type UploadRecord,
} from "./context.js";
import {
  type BatchEvent,
  type BlockEvent,
  type CommitIndexEvent,
  type ObjectEvent,
  type PageEvent,
  type PrepareEvent,
  parseEvent,
  type WriteBatchEvent,
} from "./events.js";
import {
  commitSideIndex,
  type DigestsRecord,
  DigestsRecordSchema,
  digestRecords,
  digestsRecord,
  foundEntry,
  getEntry,
  getVersion,
  headOf,
  KEEPS_STOOD,
  pageRecord,
  putEntry,
  RECORDS_AHEAD,
  type SettledEntry,
  stepListing,
  versionRecord,
} from "./indexRecords.js";
import { batchNumbers, batchOf, listPage, type PageRecord, workKeys } from "./layout.js";
import {
  type CopiedOnDestination,
  type CopyWritten,
  copiedOnDestination,
  type PreparedCopy,
  uploadedRanges,
} from "./pageCopyRecords.js";
import { type DecidedOnDestination, decidedOnDestination } from "./pageDecisionRecords.js";
import {
  type AbsentRecord,
  type AnswerableRecord,
  mayAnswerFromEntry,
  PageFound,
  PageFoundWriter,
} from "./pageLookup.js";
import { needDecision, needDestination, needSource, needUpload, type StoredResult } from "./sourceSteps.js";
import { stepBytes } from "./stepBytes.js";
import { need } from "./WorkArea.js";

/**
 * Heads the destination object (in parallel with the source's planning) by the direct engine's
 * rule (see `inspectDestination`), from what its page's lookup found of it: nothing where the
 * listing lacks it, its standing index entry, a read of its first chunk (whose digest waits in
 * this side's own part for the challenge's answer), or a HEAD.
 */
export async function destinationHead(ctx: DestinationContext, event: z.infer<typeof PrepareEvent>) {
  const { runId, item } = event;
  const { key } = item;
  const destinationKey = ctx.prefix + key;
  // A key S3 cannot hold fails the object here, before the source is read for it.
  checkDestinationKey(destinationKey);
  // A restart heads the object afresh, as the direct engine does: the listing (and what the
  // index said of the version it named) is older than what made it restart.
  const first = (event.attempt ?? 1) === 1;
  const page = first
    ? await PageFound.read(ctx.work, "destination", runId, event.page, ctx.index?.scope)
    : undefined;
  const listed = page && { source: item, destination: page.listed(key) };
  const found = await page?.found(key);
  const bytes = stepBytes<StepBytes>(ctx, { destinationRead: 0 });
  const side = readingSide(ctx, bytes);
  // The version's head (its attributes) and chunks are all read after this time: taken after
  // the HEAD, a restatement in the HEAD's second could pass for a version read a second later.
  const at = ctx.store.serverTime();
  const inspectContext = {
    destination: ctx.store,
    destinationSide: side,
    chunkSize: ctx.chunkSize,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
  const { head, entry } = await inspectDestination(
    inspectContext,
    ctx.algorithm,
    destinationKey,
    listed,
    found?.entry,
    found?.versioned ?? false,
  );
  // The entry that stands, for the flow's later steps (its page's record is read by the page's).
  // A written entry, or one read within its version's second, that the HEAD saw past that
  // second now stands as one read (see `standingEntry`): the new index keeps that one, as the
  // direct engine's does, so that the next run needs no HEAD for it.
  if (found && entry)
    await putEntry(ctx.work, workKeys.found("destination", runId, key), { ...found, entry });
  const readAhead = head !== undefined && (bytes.destinationRead ?? 0) > 0;
  if (readAhead) await keepFirstChunk(ctx, side, runId, key, head);
  if (ctx.index && head) {
    await ctx.work.put(
      workKeys.version("destination", runId, key),
      versionRecord(head, at, entry !== undefined),
    );
  }
  const record = await destinationRecordOf(ctx, destinationKey, head);
  await ctx.work.put(workKeys.destination(runId, key), record);
  return { exists: record.exists, bytes };
}

/** The record of the destination version `head` (none: no object), as HeadDestination keeps it for the other steps. */
export async function destinationRecordOf(
  ctx: DestinationContext,
  destinationKey: string,
  head: ObjectHead | undefined,
): Promise<DestinationRecord> {
  return {
    bucket: ctx.store.bucket,
    destinationKey,
    exists: head !== undefined,
    ...destinationTraits(ctx.store.capabilities),
    ...(head
      ? {
          etag: head.etag,
          size: head.size,
          ...(head.versionId !== undefined ? { versionId: head.versionId } : {}),
          attributes: await readAttributes(ctx.store, head, ctx.copyTags, "destination"),
        }
      : {}),
  };
}

/** Keeps the digest of the first chunk of `head` that `side` read ahead, in this side's own part. */
async function keepFirstChunk(
  ctx: DestinationContext,
  side: DestinationSide,
  runId: string,
  key: string,
  head: ObjectHead,
): Promise<void> {
  const plan = planChunks(head.size, ctx.chunkSize);
  const digest = side.digestsOf(head.key, head.etag, ctx.algorithm, [chunkRange(plan, 0)])?.[0];
  if (digest === undefined) return;
  const record = digestsRecord(head.etag, ctx.algorithm, plan, new Map([[0, digest]]));
  await ctx.work.put(workKeys.firstChunk(runId, key), record);
}

/**
 * Hands `side` the digest of the first chunk HeadDestination read ahead, where the challenge
 * asks for it of the version that step read: the chunk is not read again.
 */
async function knownFirstChunk(
  ctx: DestinationContext,
  side: DestinationSide,
  runId: string,
  key: string,
  request: ChallengeRequest,
): Promise<void> {
  if (!request.indices.includes(0)) return;
  const stored = await ctx.work.get<unknown>(workKeys.firstChunk(runId, key));
  if (stored === undefined) return;
  const record = parseEvent(DigestsRecordSchema, stored, "first chunk digest");
  knowRecord(side, ctx.prefix + key, record, request.destination.etag, request.algorithm);
}

/** Hands `side` the digests `record` holds, where it is a record of version `etag` by `algorithm`. */
function knowRecord(
  side: DestinationSide,
  destinationKey: string,
  record: DigestsRecord,
  etag: string,
  algorithm: DigestAlgorithm,
): void {
  if (!sameEtag(record.etag, etag) || record.algorithm !== algorithm) return;
  const ranges = record.chunks.map((c) => ({ index: c.index, offset: c.offset, length: c.length }));
  const digests = record.chunks.map((c) => Buffer.from(c.digest, "base64"));
  side.know(destinationKey, etag, algorithm, ranges, digests);
}

/**
 * Hands `side` the digests of the challenged version from the destination's index entry, where
 * HeadDestination found that it still stands for it.
 */
async function knownFromIndex(
  ctx: DestinationContext,
  side: DestinationSide,
  runId: string,
  key: string,
  request: ChallengeRequest,
): Promise<boolean> {
  if (!ctx.index || request.algorithm !== ctx.index.scope.algorithm) return false;
  const version = await getVersion(ctx.work, workKeys.version("destination", runId, key));
  if (!version?.used || !sameEtag(version.head.etag, request.destination.etag)) return false;
  const entry = await getEntry(ctx.work, workKeys.found("destination", runId, key), ctx.index.scope);
  if (entry === undefined) return false;
  const listed = { key: request.destination.key, size: version.head.size, etag: version.head.etag };
  destinationFromIndex(side, entry, listed, request.algorithm, ctx.chunkSize);
  return true;
}

/** The digests `side` holds of the chunks `request` asked for, as a record. */
function answeredDigests(side: DestinationSide, request: ChallengeRequest) {
  const { key, etag } = request.destination;
  const held = new Map<number, Buffer>();
  for (const index of request.indices) {
    const range = chunkRange(request.plan, index);
    const digest = side.digestsOf(key, etag, request.algorithm, [range])?.[0];
    if (digest !== undefined) held.set(index, digest);
  }
  return digestsRecord(etag, request.algorithm, request.plan, held);
}

/** The destination side of one step, its reads counted in `bytes`. */
export function readingSide(
  ctx: DestinationContext,
  bytes: StepBytes,
  limiter = new Limiter(ctx.concurrency),
): DestinationSide {
  return new DestinationSide({
    store: ctx.store,
    secret: ctx.secret,
    limiter,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    onRead: (n) => {
      bytes.destinationRead = (bytes.destinationRead ?? 0) + n;
    },
  });
}

/**
 * Answers one round of an object's block exchange from the old object, every read pinned to
 * the version the challenge named; `round` is the one the source side asks next.
 */
export async function destinationAnswerBlocks(ctx: DestinationContext, event: z.infer<typeof BlockEvent>) {
  const { runId, key, round } = event;
  const [request, dst] = await Promise.all([
    need<BlockRequest>(ctx.work, workKeys.blockRequest(runId, key, round)),
    needDestination(ctx.work, runId, key),
  ]);
  // A request reaches only this object, at the version this side headed.
  const destinationKey = ctx.prefix + key;
  if (request.destination?.key !== destinationKey)
    throw new ValidationError("request.destination.key", destinationKey);
  const bytes = stepBytes<StepBytes>(ctx, { destinationRead: 0 });
  const response = await readingSide(ctx, bytes).answerBlocks(request, foundHead(dst));
  await ctx.work.put(workKeys.blockResponse(runId, key, round), response);
  return { round: round + 1, bytes };
}

/** The head of the version HeadDestination found (none where the object was absent). */
function foundHead(dst: DestinationRecord): { key: string; etag: string; size: number } | undefined {
  return dst.etag !== undefined && dst.size !== undefined
    ? { key: dst.destinationKey, etag: dst.etag, size: dst.size }
    : undefined;
}

/** Answers one batch of a challenge from the destination's own bytes. */
export async function destinationAnswer(ctx: DestinationContext, event: z.infer<typeof BatchEvent>) {
  const { runId, key, batch, phase } = event;
  const request = await need<ChallengeRequest>(ctx.work, workKeys.request(runId, key, phase, batch));
  const bytes = stepBytes<StepBytes>(ctx, { destinationRead: 0 });
  const side = readingSide(ctx, bytes);
  const indexed = phase === "challenge" && (await knownFromIndex(ctx, side, runId, key, request));
  if (phase === "challenge" && !indexed) await knownFirstChunk(ctx, side, runId, key, request);
  // The version HeadDestination found, or the one this run wrote: the answer needs no HEAD.
  const current =
    phase === "verify"
      ? await recallUploaded(ctx, side, runId, key, request)
      : foundHead(await needDestination(ctx.work, runId, key));
  const response = await side.answer(request, current);
  // What this batch holds of the version is kept for its new index entry, on this side only:
  // where the index answered, only if a chunk it could not answer was read (a shorter last chunk).
  if (ctx.index && (!indexed || bytes.destinationRead)) {
    await ctx.work.put(
      workKeys.digests("destination", runId, key, phase, batch),
      answeredDigests(side, request),
    );
  }
  await ctx.work.put(workKeys.response(runId, key, phase, batch), response);
  return { bytes };
}

/**
 * Hands `side` the digests the compose steps kept of the parts they uploaded with a checked
 * Content-MD5, when the challenged version is the one this run's write made: those chunks are
 * answered without reading them back. Returns that version's head as the write left it, so
 * the answer needs no HEAD either.
 */
async function recallUploaded(
  ctx: DestinationContext,
  side: DestinationSide,
  runId: string,
  key: string,
  request: ChallengeRequest,
): Promise<{ key: string; etag: string; size: number } | undefined> {
  const upload = await needUpload(ctx.work, runId, key);
  if (upload.etag === undefined || upload.etag !== request.destination.etag) return undefined;
  const decision = await needDecision(ctx.work, runId, key);
  const ranges: { offset: number; length: number; digest: Buffer }[] = [];
  for (const batch of batchNumbers(decision.parts.length, decision.batchSize)) {
    const stored = await ctx.work.get<unknown>(workKeys.uploaded(runId, key, batch));
    if (stored === undefined) continue;
    const record = parseEvent(UploadedRecordSchema, stored, "uploaded digests");
    if (record.attempt !== upload.attempt || record.algorithm !== request.algorithm) continue;
    ranges.push(...uploadedRanges(record));
  }
  side.written(request.destination.key, upload.etag, request.algorithm, ranges);
  const { size } = await needSource(ctx.work, runId, key);
  return { key: request.destination.key, etag: upload.etag, size };
}

/** The upload `write` began, reopened with the tag set it was created with (see `resumeUpload`). */
function resume(ctx: DestinationContext, write: ObjectWrite, uploadId: string | undefined): MultipartUpload {
  if (uploadId === undefined) {
    throw new ChunksyncError("UNEXPECTED", `no multipart upload was begun for ${write.key}`);
  }
  if (!ctx.store.resumeUpload) {
    throw new ChunksyncError("UNSUPPORTED", "this store cannot resume a multipart upload by id");
  }
  return ctx.store.resumeUpload(write.key, uploadId, write.attributes.tagging);
}

/** What an object's write takes: the source's and destination's records of it, and its decision. */
interface WriteRecords {
  src: SourceRecord;
  dst: DestinationRecord;
  decision: Decision;
}

/** The object's {@link WriteRecords}, as its flow's earlier steps kept them. */
async function writeRecords(ctx: DestinationContext, runId: string, key: string): Promise<WriteRecords> {
  // A request each, side by side (to a bucket maybe far away).
  const [src, dst, decision] = await Promise.all([
    needSource(ctx.work, runId, key),
    needDestination(ctx.work, runId, key),
    needDecision(ctx.work, runId, key),
  ]);
  return { src, dst, decision };
}

/** The object's write as the write phase takes it, from `records`. */
async function objectWrite(
  ctx: DestinationContext,
  key: string,
  { src, dst, decision }: WriteRecords,
  parts: (source: { bucket: string; key: string }) => ObjectWrite["parts"],
): Promise<{ write: ObjectWrite; batchSize: number }> {
  const destinationKey = ctx.prefix + key;
  const source = { ...sourceIdentity(src.bucket, src.sourceKey, src), size: src.size };
  const write: ObjectWrite = {
    key: destinationKey,
    attributes: src.attributes,
    decision,
    source,
    plan: src.plan,
    sourceRef: ctx.copySource?.ref(src.sourceKey, src.etag, src.versionId) ?? {
      bucket: src.bucket,
      key: src.sourceKey,
      etag: src.etag,
    },
    ...(dst.etag !== undefined && dst.size !== undefined
      ? { old: { ref: ctx.store.ref(destinationKey, dst.etag, dst.versionId), size: dst.size } }
      : {}),
    parts: parts(source),
  };
  return { write: await keepingTags(ctx.store, write, ctx.copyTags ?? false), batchSize: decision.batchSize };
}

/**
 * Where this side's store checks each part's Content-MD5, keeps the digests of the parts a write
 * uploads (see {@link Decision.uploadDigests}) as they are accepted, in `uploaded` (of attempt
 * `attempt`); `keep` hands them to the write.
 */
function uploadKeeper(ctx: DestinationContext, { uploadDigests }: Decision, attempt: number) {
  const algorithm = ctx.store.capabilities.writeChecksums.contentMd5 ? uploadDigests : undefined;
  const uploaded: UploadedRecord = { attempt, algorithm: algorithm ?? "sha256", ranges: [] };
  const keep: WriteContext["uploaded"] = algorithm && {
    algorithm,
    accepted: (chunk, digest) =>
      uploaded.ranges.push({ offset: chunk.offset, length: chunk.length, digest: digest.toString("base64") }),
  };
  return { uploaded, keep };
}

/**
 * The write phase's context on this side; `bytes` receives what the step moved, and
 * `uploaded` the digests of the parts it uploaded (see {@link Decision.uploadDigests}).
 */
function writeContext(
  ctx: DestinationContext,
  bytes: WriteContext["bytes"],
  uploaded?: WriteContext["uploaded"],
): WriteContext {
  const copySource = ctx.copySource;
  return {
    destination: ctx.store,
    limiter: new Limiter(ctx.concurrency),
    buffers: ctx.buffers,
    bytes,
    ...(copySource ? { headSource: (key: string) => copySource.head(key, ctx.signal) } : {}),
    ...(uploaded ? { uploaded } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
}

/** Parts that write nothing from the source (copies only): no link is needed. */
const noBytes = () =>
  Promise.reject(new ChunksyncError("UNEXPECTED", "this step writes no bytes from the source"));
const NO_BYTES = (): ObjectWrite["parts"] => ({ readInto: noBytes });

/**
 * Creates the object's multipart upload once, where the write needs one; a retry finds the
 * one already made. An object written in one request (PutObject, CopyObject) gets none. A
 * write whose chunk alone would not fit this function's memory fails here, before it starts.
 */
export async function destinationBegin(ctx: DestinationContext, event: z.infer<typeof ObjectEvent>) {
  const { runId, key } = event;
  const attempt = event.attempt ?? 1;
  const existing = await ctx.work.get<UploadRecord>(workKeys.upload(runId, key));
  if (existing?.attempt === attempt) return { uploadId: existing.uploadId ?? null };
  const { write } = await objectWrite(ctx, key, await writeRecords(ctx, runId, key), NO_BYTES);
  checkMemory(ctx, write);
  const record: UploadRecord = { attempt, key: write.key };
  if (writeRequestsOf(write).kind === "multipart") {
    record.uploadId = (await ctx.store.createUpload(write.key, write.attributes, ctx.signal)).uploadId;
  }
  await ctx.work.put(workKeys.upload(runId, key), record);
  return { uploadId: record.uploadId ?? null };
}

/** Reads source bytes through the link the source side signed, counting what it reads. */
function linkPartSource(
  ctx: DestinationContext,
  link: { url: string | null; etag: string },
  bytes: StepBytes,
): (source: { bucket: string; key: string }) => ObjectWrite["parts"] {
  return (source) => ({
    readInto: async (range, sink) => {
      const body =
        range.length === 0 || link.url === null
          ? []
          : await ctx.readLink(link.url, link.etag, range, ctx.signal);
      const counted = counting(sink, (n) => {
        bytes.sourceRead = (bytes.sourceRead ?? 0) + n;
      });
      await feedBody(source.bucket, source.key, body, range.length, "the object", counted);
    },
  });
}

/**
 * Writes one batch of the object: unchanged ranges by UploadPartCopy, changed ones
 * streamed from the source through the link the source side signed, or built from this
 * side's old ranges and source ranges read through that link (assembled parts). The digest of
 * every part uploaded, from the source or assembled, is kept for the verification. An object
 * written in one request (its single part) is written here whole, under its condition.
 */
export async function destinationCompose(ctx: DestinationContext, event: z.infer<typeof WriteBatchEvent>) {
  const { runId, key, batch } = event;
  const [link, record, records] = await Promise.all([
    need<{ url: string | null; etag: string }>(ctx.work, workKeys.links(runId, key, batch)),
    needUpload(ctx.work, runId, key),
    writeRecords(ctx, runId, key),
  ]);
  const bytes = composeBytes(ctx);
  const { write, batchSize } = await objectWrite(ctx, key, records, linkPartSource(ctx, link, bytes));
  const { uploaded, keep } = uploadKeeper(ctx, records.decision, record.attempt);
  const requests = writeRequestsOf(write);
  // Kept before the record that says the batch is done, so a retried step never lacks them;
  // so is the mark of copies that could not name the version they copied.
  const kept = async () => {
    await Promise.all([
      ctx.store.copiesNameVersions() ? undefined : ctx.work.put(workKeys.unnamed(runId, key), {}),
      keep && uploaded.ranges.length > 0
        ? ctx.work.put(workKeys.uploaded(runId, key, batch), uploaded)
        : undefined,
    ]);
  };
  if (requests.kind !== "multipart") {
    // A retried step finds the object written and its ETag recorded.
    if (record.etag !== undefined) return { bytes };
    const written = await writeWhole(writeContext(ctx, bytes, keep), write, requests);
    await recordWritten(ctx, runId, key, record, written, kept);
    return { bytes };
  }
  const upload = resume(ctx, write, record.uploadId);
  const parts = batchOf(write.decision.parts, batch, batchSize);
  const completed = await writeParts(writeContext(ctx, bytes, keep), upload, parts, write);
  await kept();
  await ctx.work.put(workKeys.parts(runId, key, batch), completed);
  return { bytes };
}

/** The bytes a write step moves, counted as it goes (see `stepBytes`). */
function composeBytes(ctx: DestinationContext) {
  return stepBytes(ctx, {
    sourceRead: 0,
    destinationRead: 0,
    transferred: 0,
    uploaded: 0,
    copiedServerSide: 0,
  });
}

/**
 * Writes a page's copy of object `key` (see pageCopy.ts) as its flow's own write steps would,
 * from the records and decision its source side prepared, through its link: one part, under the
 * decision's condition (the key's absence, or the version it replaces). Returns what this side
 * keeps of it.
 */
export async function writeCopy(
  ctx: DestinationContext,
  key: string,
  prepared: Pick<PreparedCopy, "source" | "decision" | "link" | "destination">,
): Promise<CopyWritten> {
  const bytes = composeBytes(ctx);
  const records = {
    src: prepared.source,
    dst: prepared.destination ?? (await destinationRecordOf(ctx, ctx.prefix + key, undefined)),
    decision: prepared.decision,
  };
  const { write } = await objectWrite(ctx, key, records, linkPartSource(ctx, prepared.link, bytes));
  checkMemory(ctx, write);
  const { uploaded, keep } = uploadKeeper(ctx, records.decision, 1);
  // One part: a PUT, or a replacement's upload of it (created, written and completed here).
  const { etag, versionId } = await writeObject(writeContext(ctx, bytes, keep), write);
  const at = ctx.index ? ctx.store.serverTime() : undefined;
  return {
    key,
    etag,
    ...(versionId !== undefined ? { versionId } : {}),
    ...(at !== undefined ? { at } : {}),
    ...(uploaded.ranges.length > 0 ? { uploaded } : {}),
    bytes,
  };
}

/**
 * Records the object's write done: the destination's server time then, with what its answer
 * named (the ETag, and the version ID where the bucket keeps versions), for that version's new
 * index entry (see `writtenEntry`); then, once that and `alongside` are kept, the upload record
 * with the ETag, by which a retried step finds the object written.
 */
async function recordWritten(
  ctx: DestinationContext,
  runId: string,
  key: string,
  record: UploadRecord,
  { etag, versionId }: Written,
  alongside?: () => Promise<void>,
): Promise<void> {
  const at = ctx.store.serverTime();
  const written = { attempt: record.attempt, etag, at, ...(versionId ? { versionId } : {}) };
  await Promise.all([
    ctx.index && at !== undefined ? ctx.work.put(workKeys.written(runId, key), written) : undefined,
    alongside?.(),
  ]);
  await ctx.work.put(workKeys.upload(runId, key), { ...record, etag } satisfies UploadRecord);
}

/**
 * Completes the upload under the planned condition and its guards (the HEAD before it on
 * stores that do not enforce the condition on complete, as Ceph RGW 16 does not), or puts the
 * tag set of a write of tags alone.
 */
export async function destinationComplete(ctx: DestinationContext, event: z.infer<typeof ObjectEvent>) {
  const { runId, key } = event;
  const record = await needUpload(ctx.work, runId, key);
  if (record.etag !== undefined) return { etag: record.etag };
  const { write, batchSize } = await objectWrite(ctx, key, await writeRecords(ctx, runId, key), NO_BYTES);
  const requests = writeRequestsOf(write);
  // A tag set alone has no batch to write it: it is put here, as its one request.
  if (requests.kind === "tags") {
    const bytes = stepBytes(ctx, { transferred: 0, uploaded: 0, destinationRead: 0, copiedServerSide: 0 });
    const written = await writeWhole(writeContext(ctx, bytes), write, requests);
    await recordWritten(ctx, runId, key, record, written);
    return { etag: written.etag };
  }
  const parts: CompletedPart[] = [];
  for (const batch of batchNumbers(write.decision.parts.length, batchSize)) {
    parts.push(...(await need<CompletedPart[]>(ctx.work, workKeys.parts(runId, key, batch))));
  }
  const upload = resume(ctx, write, record.uploadId);
  const written = await completeUpload(
    writeContext(ctx, { transferred: 0, uploaded: 0, destinationRead: 0, copiedServerSide: 0 }),
    upload,
    parts,
    write,
  );
  await recordWritten(ctx, runId, key, record, written);
  return { etag: written.etag };
}

/** Aborts the object's upload after a failure; nothing half-written stays behind. */
export async function destinationAbort(ctx: DestinationContext, event: z.infer<typeof ObjectEvent>) {
  const record = await ctx.work.get<UploadRecord>(workKeys.upload(event.runId, event.key));
  if (record?.uploadId !== undefined && record.etag === undefined) {
    await ctx.store.abortUpload(ctx.prefix + event.key, record.uploadId);
  }
  return {};
}

/**
 * Destination-only objects in the key range of one source page: after the previous
 * page's last key, up to this page's last key (to the end for the final page). With
 * `delete` they are deleted, but for those the source held when ConfirmDestinationOnly asked
 * (see `SourceAnswers`); a retried step finds the deleted ones gone and records the rest.
 * In the same pass, in key order, the destination writes its share of its new index for the
 * range: the entry each object of the page settled at, and what stood for the keys it kept.
 */
export async function destinationExtras(ctx: DestinationContext, event: z.infer<typeof PageEvent>) {
  const { runId } = event;
  const page = await need<PageRecord>(ctx.work, workKeys.page(runId, event.page));
  const onSource = new Set(page.keys);
  const selected = keySelection(ctx.filters ?? []);
  const index = ctx.index && (await SideIndex.open(ctx.index));
  // The page's records, side by side (a request each, to a bucket maybe far away).
  const [decided, copied, lookedUp] = index
    ? await Promise.all([
        decidedOnDestination(ctx.work, runId, event.page, index.writer.scope),
        copiedOnDestination(ctx.work, runId, event.page),
        PageFound.read(ctx.work, "destination", runId, event.page, index.writer.scope),
      ])
    : [];
  // What ConfirmDestinationOnly found on the source, read as a delete asks for it.
  const answers = new SourceAnswers(ctx.work, runId, event.page);
  let extras = 0;
  const listed = listPage(ctx.store, "destination", ctx.prefix, page, ctx.signal);
  // The page's objects' records are read ahead; entries are looked up and kept in key order.
  const ahead = mapAhead(listed, RECORDS_AHEAD, async ({ object, key }) => {
    const copy = copied?.get(key);
    const found: SettledEntry =
      index && copy
        ? copiedEntry(ctx, key, copy, index)
        : index && lookedUp && onSource.has(key)
          ? await settledDestinationEntry(ctx, runId, key, index, lookedUp, decided?.get(key))
          : undefined;
    return { object, key, found };
  });
  for await (const { object: o, key, found } of ahead) {
    // Every listed key is looked up, so the stored pieces are read in one pass. A rot mark
    // stays, as an entry that stood does, unless a write replaces its version.
    const stood = await index?.stoodOrMarked(o.key, o);
    if (onSource.has(key)) {
      const entry = found === KEEPS_STOOD ? stood : found;
      // In a stopped run's page, what was stored stays, as it was, for the objects it did not
      // settle, as the direct engine keeps it (see SideIndex.commitSettled).
      const kept = entry ?? (event.settled ? index?.storedEntry(o.key) : undefined);
      if (kept) await index?.keep(kept);
      continue;
    }
    if (!selected(key) || event.settled) {
      // What stood for a key passed over still stands for the next run, as for every
      // destination-only key of a stopped run's page: none is acted on then.
      if (stood) await index?.keep(stood);
      continue;
    }
    // A stop ends the page's deletes here, as the direct engine's: what is deleted is recorded.
    ctx.signal?.throwIfAborted();
    extras++;
    const result = await settleDestinationOnly(ctx.store, o, {
      delete: ctx.delete ?? false,
      dryRun: false,
      onSource: () => answers.mayHold(key),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    if (stood && !result.applied) await index?.keep(stood);
    const stored: StoredResult = {
      result,
      bytes: { sourceRead: 0, destinationRead: 0, transferred: 0, uploaded: 0, copiedServerSide: 0 },
    };
    await ctx.work.put(workKeys.extra(runId, event.page, key), stored);
  }
  if (index)
    await ctx.work.put(workKeys.indexPage("destination", runId, event.page), await pageRecord(index));
  return { extras };
}

/**
 * The destination's entry for the version object `key` settled at (for a failed object,
 * {@link KEEPS_STOOD}), from this side's own records: the version it held (its entry, or the
 * digests its answers read), or the version it wrote (the digests of the parts it uploaded
 * with a checked Content-MD5, of the chunks it copied from its digested old version, and those
 * it read back); those of its page's decision where that settled it (`onPage`), with what its
 * page's lookup found of it. Counts what the side's index saved it.
 */
async function settledDestinationEntry(
  ctx: DestinationContext,
  runId: string,
  key: string,
  index: SideIndex,
  lookedUp: PageFound,
  onPage: DecidedOnDestination | undefined,
): Promise<SettledEntry> {
  const [stored, version] = onPage
    ? [onPage.stored, onPage.version]
    : await Promise.all([
        ctx.work.get<StoredResult>(workKeys.result(runId, key)),
        getVersion(ctx.work, workKeys.version("destination", runId, key)),
      ]);
  if (stored === undefined) return undefined;
  // Decided from the entry or by a read only where the source was planned too: an object that
  // failed before (a source a scrub found rotted) decided nothing, as in the direct engine.
  const planned =
    stored.result.state !== "failed" ||
    (await ctx.work.get<unknown>(workKeys.source(runId, key))) !== undefined;
  if (planned && version?.used) index.report.fromIndex++;
  else if (planned && version) index.report.read++;
  if (stored.result.state === "failed") return KEEPS_STOOD;
  const { scope } = index.writer;
  const { algorithm, chunkSize } = scope;
  const side = new DestinationSide({ store: ctx.store, secret: ctx.secret, limiter: new Limiter(1) });
  const destinationKey = ctx.prefix + key;
  // The entry as HEAD found its version: a written entry learns its LastModified.
  // Its flow's HeadDestination kept the entry it used; the page's decision, one the HEAD learned more of.
  const entry = !version?.used
    ? undefined
    : onPage
      ? (onPage.found ?? (await lookedUp.found(key)))?.entry
      : await getEntry(ctx.work, workKeys.found("destination", runId, key), scope);
  const found = entry && version && entryAsListed(entry, version.head);
  // A pair the page decided was decided with no write.
  const decision = onPage ? undefined : await ctx.work.get<Decision>(workKeys.decision(runId, key));
  if (decision?.distrusted) {
    index.note(DISTRUSTED_NOTE);
    return undefined;
  }
  if (version && !version.head.archived) {
    if (found) destinationFromIndex(side, found, version.head, algorithm, chunkSize);
    else await knowRead(ctx, side, runId, key, "challenge", decision, version.head.etag, algorithm);
  }
  // Only a decision that writes began an upload.
  const upload =
    decision === undefined || decision.action === "none"
      ? undefined
      : await ctx.work.get<UploadRecord>(workKeys.upload(runId, key));
  if (decision === undefined || upload?.etag === undefined) {
    if (version === undefined) return undefined;
    const dst = onPage?.destination ?? (await needDestination(ctx.work, runId, key));
    const attributes = dst.attributes ?? { metadata: {} };
    return destinationEntry(side, headOf(version), attributes, version.at, algorithm, chunkSize, found);
  }
  const written = await ctx.work.get<{ attempt: number; etag: string; at: number; versionId?: string }>(
    workKeys.written(runId, key),
  );
  if (written?.attempt !== upload.attempt || written.etag !== upload.etag) return undefined;
  // Chunks the old entry could not answer were read by the challenge: the parts copied from them need their digests.
  if (found) await knowRead(ctx, side, runId, key, "challenge", decision, version.head.etag, algorithm);
  const src = await needSource(ctx.work, runId, key);
  const plan = planChunks(src.size, chunkSize);
  const uploaded: { offset: number; length: number; digest: Buffer }[] = [];
  for (const batch of batchNumbers(decision.parts.length, decision.batchSize)) {
    const kept = await ctx.work.get<unknown>(workKeys.uploaded(runId, key, batch));
    if (kept === undefined) continue;
    const record = parseEvent(UploadedRecordSchema, kept, "uploaded digests");
    if (record.attempt !== upload.attempt || record.algorithm !== algorithm) continue;
    uploaded.push(...uploadedRanges(record));
  }
  // The parts copied from the old version hold its bytes only where pinned to it (see
  // copiedFromOld), and where this side's store checks each part's Content-MD5, as the uploaded ones do.
  const named = (await ctx.work.get<unknown>(workKeys.unnamed(runId, key))) === undefined;
  const copier: Parameters<typeof copiedFromOld>[4] = {
    copiesNameVersions: () => named && ctx.store.copiesNameVersions(),
    enforcesCopySourceIfMatch: (k, ref, signal) => ctx.store.enforcesCopySourceIfMatch(k, ref, signal),
    ref: (k, etag, versionId) => ctx.store.ref(k, etag, versionId),
  };
  const checked = decision.uploadDigests !== undefined && ctx.store.capabilities.writeChecksums.contentMd5;
  const copied =
    version && copiesKnown(decision, checked)
      ? await copiedFromOld(
          plan,
          decision,
          version.head,
          { key: destinationKey, etag: upload.etag },
          copier,
          ctx.signal,
        )
      : undefined;
  if (copied?.unpinned) index.note(UNPINNED_COPIES_NOTE);
  side.written(destinationKey, upload.etag, algorithm, uploaded, copied);
  await knowRead(ctx, side, runId, key, "verify", decision, upload.etag, algorithm);
  const wrote = { key: destinationKey, size: src.size, etag: upload.etag, versionId: written.versionId };
  return destinationWrittenEntry(side, wrote, src.attributes, written.at, algorithm, chunkSize);
}

/**
 * The destination's entry for the version its page's copy of object `key` wrote (see
 * pageCopy.ts), from the digests of what it uploaded under a checked Content-MD5, as for a
 * version an object's flow wrote (see {@link settledDestinationEntry}); counts what the side's
 * index saved it.
 */
function copiedEntry(
  ctx: DestinationContext,
  key: string,
  { source, written, held }: CopiedOnDestination,
  index: SideIndex,
): SettledEntry {
  // The version it replaced was answered for from its entry (see pageDecision.ts).
  if (held) index.report.fromIndex++;
  const { algorithm, chunkSize } = index.writer.scope;
  if (written.at === undefined) return undefined;
  const side = new DestinationSide({ store: ctx.store, secret: ctx.secret, limiter: new Limiter(1) });
  const destinationKey = ctx.prefix + key;
  const { uploaded } = written;
  const ranges = uploaded?.algorithm === algorithm ? uploadedRanges(uploaded) : [];
  side.written(destinationKey, written.etag, algorithm, ranges);
  const wrote = { key: destinationKey, size: source.size, etag: written.etag, versionId: written.versionId };
  return destinationWrittenEntry(side, wrote, source.attributes, written.at, algorithm, chunkSize);
}

/** Hands `side` the digests of version `etag` that the object's `phase` answers read. */
async function knowRead(
  ctx: DestinationContext,
  side: DestinationSide,
  runId: string,
  key: string,
  phase: "challenge" | "verify",
  decision: Decision | undefined,
  etag: string,
  algorithm: DigestAlgorithm,
): Promise<void> {
  const src = await ctx.work.get<SourceRecord>(workKeys.source(runId, key));
  if (src === undefined) return;
  const batches =
    phase === "challenge"
      ? batchNumbers(src.plan.count, chunksPerBatch(ctx, src.plan.chunkSize)).length
      : decision
        ? batchNumbers(decision.verify.length, decision.batchSize).length
        : 0;
  for await (const record of digestRecords(ctx.work, "destination", runId, key, phase, batches))
    knowRecord(side, ctx.prefix + key, record, etag, algorithm);
}

/**
 * Looks up the keys of one listing page on the destination, before the page's objects: what
 * its listing holds of each (HeadDestination heads an object by it, as the direct engine
 * heads one by its merged listing), and the stored index entry that may stand for the version
 * listed (reading only the pieces that hold them). Both wait in this side's own part. With
 * `delete`, it also records the selected keys of the page's range the source did not list, which
 * ConfirmDestinationOnly asks the source for; returns how many.
 */
export async function destinationPageLookup(ctx: DestinationContext, event: z.infer<typeof PageEvent>) {
  const { runId } = event;
  const page = await need<PageRecord>(ctx.work, workKeys.page(runId, event.page));
  const onPage = new Set(page.keys);
  const index = ctx.index?.consult ? await SideIndex.open(ctx.index) : undefined;
  const selected = keySelection(ctx.filters ?? []);
  const candidates = ctx.delete ? new CandidateWriter(ctx.work, runId, event.page) : undefined;
  const answerable: AnswerableRecord["objects"] = [];
  /** The page's keys the listing holds: the rest are new objects (see pageCopy.ts). */
  const held = new Set<string>();
  const found = new PageFoundWriter(ctx.work, "destination", runId, event.page);
  const { versioned, through } = await stepListing(
    ctx.work,
    "destination",
    runId,
    ctx.store,
    index,
    ctx.signal,
  );
  for await (const { object: o, key } of through(
    listPage(ctx.store, "destination", ctx.prefix, page, ctx.signal, versioned),
  )) {
    if (!onPage.has(key)) {
      if (selected(key)) await candidates?.add(key);
      continue;
    }
    held.add(key);
    const listed: ObjectSummary = { key: o.key, size: o.size, etag: o.etag };
    if (o.lastModified !== undefined) listed.lastModified = o.lastModified;
    if (o.storageClass !== undefined) listed.storageClass = o.storageClass;
    if (o.versionId !== undefined) listed.versionId = o.versionId;
    const entry = await index?.find(o.key, o);
    found.add(key, entry && foundEntry(entry, versioned, o), listed);
    if (entry) {
      // Its version and size are no secret (HeadDestination's record shares them): the source
      // challenges these a page at a time (see pageDecision.ts). Tags would take a request each.
      if (!ctx.copyTags && mayAnswerFromEntry(o)) answerable.push({ key, etag: o.etag, size: o.size });
    }
  }
  await found.end();
  await candidates?.end();
  if (answerable.length > 0)
    await ctx.work.put(workKeys.answerable(runId, event.page), {
      bucket: ctx.store.bucket,
      objects: answerable,
    } satisfies AnswerableRecord);
  const absent = page.keys.filter((key) => !held.has(key));
  if (absent.length > 0)
    await ctx.work.put(workKeys.absent(runId, event.page), {
      bucket: ctx.store.bucket,
      ...destinationTraits(ctx.store.capabilities),
      keys: absent,
    } satisfies AbsentRecord);
  return { candidates: candidates?.count ?? 0, answerable: answerable.length, absent: absent.length };
}

/** Makes the pages' pieces the destination's index, as {@link commitSourceIndex} the source's. */
export async function destinationIndexCommit(
  ctx: DestinationContext,
  event: z.infer<typeof CommitIndexEvent>,
) {
  if (ctx.index) await commitSideIndex(ctx.work, "destination", event.runId, ctx.index, event.settled);
  return {};
}
