import { pipeline, Readable, Transform } from "node:stream";
import type { ChallengeRequest } from "@chunksync/core";
import { ChunksyncError, checkKeyLength } from "@chunksync/core";
import type { CompletedPart, MultipartUpload } from "@chunksync/storage";
import {
  completeUpload,
  DestinationSide,
  keyFilter,
  Limiter,
  type ObjectWrite,
  readAttributes,
  settleDestinationOnly,
  sourceIdentity,
  type WriteContext,
  writeParts,
  writeRequestsOf,
  writeWhole,
} from "@chunksync/sync";
import type { z } from "zod";
import {
  type Decision,
  type DestinationContext,
  type DestinationRecord,
  type StepBytes,
  toAttributes,
  toStoredAttributes,
  type UploadedRecord,
  UploadedRecordSchema,
  type UploadRecord,
} from "./context.js";
import {
  type BatchEvent,
  type ObjectEvent,
  type PageEvent,
  parseEvent,
  type WriteBatchEvent,
} from "./events.js";
import { batchNumbers, batchOf, compareKeys, workKeys } from "./layout.js";
import {
  need,
  needDecision,
  needDestination,
  needSource,
  needUpload,
  type StoredResult,
} from "./sourceSteps.js";

/** Heads the destination object (in parallel with the source's planning). */
export async function destinationHead(ctx: DestinationContext, event: z.infer<typeof ObjectEvent>) {
  const destinationKey = ctx.prefix + event.key;
  // A key S3 cannot hold fails the object here, before the source is read for it.
  checkKeyLength(destinationKey);
  const head = await ctx.store.head(destinationKey);
  const record: DestinationRecord = {
    bucket: ctx.store.bucket,
    destinationKey,
    exists: head !== undefined,
    ...(head
      ? {
          etag: head.etag,
          size: head.size,
          attributes: toStoredAttributes(await readAttributes(ctx.store, head, ctx.copyTags)),
        }
      : {}),
  };
  await ctx.work.put(workKeys.destination(event.runId, event.key), record);
  return { exists: record.exists };
}

/** Answers one batch of a challenge from the destination's own bytes. */
export async function destinationAnswer(ctx: DestinationContext, event: z.infer<typeof BatchEvent>) {
  const { runId, key, batch, phase } = event;
  const request = await need<ChallengeRequest>(ctx.work, workKeys.request(runId, key, phase, batch));
  const bytes: StepBytes = { destinationRead: 0 };
  const side = new DestinationSide({
    store: ctx.store,
    secret: ctx.secret,
    limiter: new Limiter(ctx.concurrency),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    onRead: (n) => {
      bytes.destinationRead = (bytes.destinationRead ?? 0) + n;
    },
  });
  const written = phase === "verify" ? await recallUploaded(ctx, side, runId, key, request) : undefined;
  await ctx.work.put(workKeys.response(runId, key, phase, batch), await side.answer(request, written));
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
    for (const r of record.ranges) ranges.push({ ...r, digest: Buffer.from(r.digest, "base64") });
  }
  side.written(request.destination.key, upload.etag, request.algorithm, ranges);
  const { size } = await needSource(ctx.work, runId, key);
  return { key: request.destination.key, etag: upload.etag, size };
}

function resume(ctx: DestinationContext, key: string, uploadId: string | undefined): MultipartUpload {
  if (uploadId === undefined) {
    throw new ChunksyncError("UNEXPECTED", `no multipart upload was begun for ${key}`);
  }
  if (!ctx.store.resumeUpload) {
    throw new ChunksyncError("UNSUPPORTED", "this store cannot resume a multipart upload by id");
  }
  return ctx.store.resumeUpload(key, uploadId);
}

/** The object's write as the write phase takes it, from the records of the earlier steps. */
async function objectWrite(
  ctx: DestinationContext,
  runId: string,
  key: string,
  parts: ObjectWrite["parts"],
): Promise<{ write: ObjectWrite; batchSize: number; uploadDigests: Decision["uploadDigests"] }> {
  const src = await needSource(ctx.work, runId, key);
  const dst = await needDestination(ctx.work, runId, key);
  const decision = await needDecision(ctx.work, runId, key);
  const destinationKey = ctx.prefix + key;
  const source = { ...sourceIdentity(src.bucket, src.sourceKey, src), size: src.size };
  const write: ObjectWrite = {
    key: destinationKey,
    attributes: toAttributes(src.attributes),
    decision,
    source,
    sourceRef: ctx.copySource?.ref(src.sourceKey, src.etag) ?? {
      bucket: src.bucket,
      key: src.sourceKey,
      etag: src.etag,
    },
    ...(dst.etag !== undefined && dst.size !== undefined
      ? { old: { ref: ctx.store.ref(destinationKey, dst.etag), size: dst.size } }
      : {}),
    parts,
  };
  return { write, batchSize: decision.batchSize, uploadDigests: decision.uploadDigests };
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
    bytes,
    ...(copySource ? { headSource: (key: string) => copySource.head(key, ctx.signal) } : {}),
    ...(uploaded ? { uploaded } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
}

/** Parts that write nothing from the source (copies only): no link is needed. */
const NO_BYTES: ObjectWrite["parts"] = {
  open: () => Promise.reject(new ChunksyncError("UNEXPECTED", "this step writes no bytes from the source")),
};

/**
 * Creates the object's multipart upload once, where the write needs one; a retry finds the
 * one already made. An object written in one request (PutObject, CopyObject) gets none.
 */
export async function destinationBegin(ctx: DestinationContext, event: z.infer<typeof ObjectEvent>) {
  const { runId, key } = event;
  const attempt = event.attempt ?? 1;
  const existing = await ctx.work.get<UploadRecord>(workKeys.upload(runId, key));
  if (existing?.attempt === attempt) return { uploadId: existing.uploadId ?? null };
  const { write } = await objectWrite(ctx, runId, key, NO_BYTES);
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
): ObjectWrite["parts"] {
  return {
    async open(part) {
      if (part.length === 0 || link.url === null) return Readable.from([]);
      const body = await ctx.readLink(link.url, link.etag, part, ctx.signal);
      const tap = new Transform({
        transform(piece: Buffer, _encoding, done) {
          bytes.sourceRead = (bytes.sourceRead ?? 0) + piece.length;
          done(null, piece);
        },
      });
      // pipeline() destroys the link's read when the upload gives up, and vice versa.
      return pipeline(body, tap, () => {});
    },
  };
}

/**
 * Writes one batch of the object: unchanged ranges by UploadPartCopy, changed ones
 * streamed from the source through the link the source side signed. An object written in
 * one request (its single part) is written here whole, under its condition.
 */
export async function destinationCompose(ctx: DestinationContext, event: z.infer<typeof WriteBatchEvent>) {
  const { runId, key, batch } = event;
  const link = await need<{ url: string | null; etag: string }>(ctx.work, workKeys.links(runId, key, batch));
  const record = await needUpload(ctx.work, runId, key);
  const bytes = { sourceRead: 0, transferred: 0, copiedServerSide: 0 };
  const { write, batchSize, uploadDigests } = await objectWrite(
    ctx,
    runId,
    key,
    linkPartSource(ctx, link, bytes),
  );
  const algorithm = ctx.store.capabilities.writeChecksums.contentMd5 ? uploadDigests : undefined;
  const uploaded: UploadedRecord = { attempt: record.attempt, algorithm: algorithm ?? "sha256", ranges: [] };
  const keep: WriteContext["uploaded"] = algorithm && {
    algorithm,
    accepted: (p, digest) =>
      uploaded.ranges.push({ offset: p.offset, length: p.length, digest: digest.toString("base64") }),
  };
  const requests = writeRequestsOf(write);
  // Kept before the record that says the batch is done, so a retried step never lacks them.
  const kept = () =>
    keep && uploaded.ranges.length > 0
      ? ctx.work.put(workKeys.uploaded(runId, key, batch), uploaded)
      : undefined;
  if (requests.kind !== "multipart") {
    // A retried step finds the object written and its ETag recorded.
    if (record.etag !== undefined) return { bytes };
    const etag = await writeWhole(writeContext(ctx, bytes, keep), write, requests);
    await kept();
    await ctx.work.put(workKeys.upload(runId, key), { ...record, etag } satisfies UploadRecord);
    return { bytes };
  }
  const upload = resume(ctx, write.key, record.uploadId);
  const parts = batchOf(write.decision.parts, batch, batchSize);
  const completed = await writeParts(writeContext(ctx, bytes, keep), upload, parts, write);
  await kept();
  await ctx.work.put(workKeys.parts(runId, key, batch), completed);
  return { bytes };
}

/**
 * Completes the upload under the planned condition and its guards (the HEAD before it on
 * stores that do not enforce the condition on complete, as Ceph RGW 16 does not).
 */
export async function destinationComplete(ctx: DestinationContext, event: z.infer<typeof ObjectEvent>) {
  const { runId, key } = event;
  const record = await needUpload(ctx.work, runId, key);
  if (record.etag !== undefined) return { etag: record.etag };
  const { write, batchSize } = await objectWrite(ctx, runId, key, NO_BYTES);
  const parts: CompletedPart[] = [];
  for (const batch of batchNumbers(write.decision.parts.length, batchSize)) {
    parts.push(...(await need<CompletedPart[]>(ctx.work, workKeys.parts(runId, key, batch))));
  }
  const upload = resume(ctx, write.key, record.uploadId);
  const etag = await completeUpload(
    writeContext(ctx, { transferred: 0, copiedServerSide: 0 }),
    upload,
    parts,
    write,
  );
  await ctx.work.put(workKeys.upload(runId, key), { ...record, etag } satisfies UploadRecord);
  return { etag };
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
 * `delete` they are deleted; a retried step finds the deleted ones gone and records the rest.
 */
export async function destinationExtras(ctx: DestinationContext, event: z.infer<typeof PageEvent>) {
  const page = await need<{ keys: string[]; after: string | null; last: string | null }>(
    ctx.work,
    workKeys.page(event.runId, event.page),
  );
  const onSource = new Set(page.keys);
  const selected = keyFilter(ctx.filters ?? []);
  let extras = 0;
  const startAfter = page.after === null ? undefined : ctx.prefix + page.after;
  for await (const o of ctx.store.list(ctx.prefix, undefined, startAfter)) {
    const key = o.key.slice(ctx.prefix.length);
    if (key === "" || (page.after !== null && compareKeys(key, page.after) <= 0)) continue;
    if (page.last !== null && compareKeys(key, page.last) > 0) break;
    if (onSource.has(key) || !selected(key)) continue;
    extras++;
    const stored: StoredResult = {
      result: await settleDestinationOnly(ctx.store, o, { delete: ctx.delete ?? false, dryRun: false }),
      bytes: { sourceRead: 0, destinationRead: 0, transferred: 0, copiedServerSide: 0 },
    };
    await ctx.work.put(workKeys.extra(event.runId, key), stored);
  }
  return { extras };
}
