import { Readable } from "node:stream";
import type { ChallengeRequest } from "@chunksync/core";
import { attributesOf, ChunksyncError, checkKeyLength } from "@chunksync/core";
import {
  type CompletedPart,
  enforcesCondition,
  type MultipartUpload,
  PreconditionFailedError,
  sameEtag,
} from "@chunksync/storage";
import {
  DestinationSide,
  keyFilter,
  Limiter,
  ObjectChangedError,
  settleDestinationOnly,
  withRetry,
} from "@chunksync/sync";
import type { z } from "zod";
import {
  type DestinationContext,
  type DestinationRecord,
  type SourceRecord,
  type StepBytes,
  toAttributes,
  toStoredAttributes,
  type UploadRecord,
} from "./context.js";
import type { BatchEvent, ObjectEvent, PageEvent, WriteBatchEvent } from "./events.js";
import { batchNumbers, batchOf, compareKeys, workKeys } from "./layout.js";
import { need, needDecision, type StoredResult } from "./sourceSteps.js";

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
    ...(head ? { etag: head.etag, size: head.size, attributes: toStoredAttributes(attributesOf(head)) } : {}),
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
    onRead: (n) => {
      bytes.destinationRead = (bytes.destinationRead ?? 0) + n;
    },
  });
  await ctx.work.put(workKeys.response(runId, key, phase, batch), await side.answer(request));
  return { bytes };
}

function resume(ctx: DestinationContext, key: string, uploadId: string): MultipartUpload {
  if (!ctx.store.resumeUpload) {
    throw new ChunksyncError("UNSUPPORTED", "this store cannot resume a multipart upload by id");
  }
  return ctx.store.resumeUpload(key, uploadId);
}

/** Creates the object's multipart upload once; a retry finds the one already made. */
export async function destinationBegin(ctx: DestinationContext, event: z.infer<typeof ObjectEvent>) {
  const { runId, key } = event;
  const existing = await ctx.work.get<UploadRecord>(workKeys.upload(runId, key));
  if (existing !== undefined) return { uploadId: existing.uploadId };
  const src = await need<SourceRecord>(ctx.work, workKeys.source(runId, key));
  const upload = await ctx.store.createUpload(ctx.prefix + key, toAttributes(src.attributes));
  await ctx.work.put(workKeys.upload(runId, key), { uploadId: upload.uploadId } satisfies UploadRecord);
  return { uploadId: upload.uploadId };
}

/**
 * Writes one batch of parts: unchanged ranges by UploadPartCopy from the old destination
 * object, changed ones streamed from the source through the link the source side signed.
 */
export async function destinationCompose(ctx: DestinationContext, event: z.infer<typeof WriteBatchEvent>) {
  const { runId, key, batch } = event;
  const decision = await needDecision(ctx.work, runId, key);
  const { uploadId } = await need<UploadRecord>(ctx.work, workKeys.upload(runId, key));
  const link = await need<{ url: string | null; etag: string }>(ctx.work, workKeys.links(runId, key, batch));
  const dst = await need<DestinationRecord>(ctx.work, workKeys.destination(runId, key));
  const destinationKey = ctx.prefix + key;
  const upload = resume(ctx, destinationKey, uploadId);
  const limiter = new Limiter(ctx.concurrency);
  const bytes = { sourceRead: 0, transferred: 0, copiedServerSide: 0 };
  const parts = await Promise.all(
    batchOf(decision.parts, batch, decision.batchSize).map((part) =>
      limiter.run(async (): Promise<CompletedPart> => {
        // This engine never plans a server-side copy from the source: the sides are two accounts.
        if (part.kind === "destinationCopy") {
          const from = { bucket: ctx.store.bucket, key: destinationKey, etag: dst.etag ?? "" };
          const done = await withRetry(async () => {
            try {
              return await upload.copyPart(part.partNumber, from, part);
            } catch (error) {
              if (error instanceof PreconditionFailedError)
                throw new ObjectChangedError("destination", destinationKey, error);
              throw error;
            }
          });
          bytes.copiedServerSide += part.length;
          return done;
        }
        const done = await withRetry(async () => {
          const body =
            part.length === 0 || link.url === null
              ? Readable.from([])
              : await ctx.readLink(link.url, link.etag, part);
          return upload.uploadPart(part.partNumber, body, part.length);
        });
        bytes.sourceRead += part.length;
        bytes.transferred += part.length;
        return done;
      }),
    ),
  );
  await ctx.work.put(workKeys.parts(runId, key, batch), parts);
  return { bytes };
}

/**
 * Completes the upload under the planned condition. The HEAD check before it covers
 * stores that do not declare the condition enforced on complete (Ceph RGW 16 ignores it).
 */
export async function destinationComplete(ctx: DestinationContext, event: z.infer<typeof ObjectEvent>) {
  const { runId, key } = event;
  const record = await need<UploadRecord>(ctx.work, workKeys.upload(runId, key));
  if (record.etag !== undefined) return { etag: record.etag };
  const decision = await needDecision(ctx.work, runId, key);
  const parts: CompletedPart[] = [];
  for (const batch of batchNumbers(decision.parts.length, decision.batchSize)) {
    parts.push(...(await need<CompletedPart[]>(ctx.work, workKeys.parts(runId, key, batch))));
  }
  parts.sort((a, b) => a.partNumber - b.partNumber);
  const destinationKey = ctx.prefix + key;
  const condition = decision.condition;
  if (!enforcesCondition(ctx.store.capabilities, "complete", condition)) {
    const now = await ctx.store.head(destinationKey);
    const holds = "ifMatch" in condition ? sameEtag(now?.etag, condition.ifMatch) : now === undefined;
    if (!holds) throw new ObjectChangedError("destination", destinationKey);
  }
  let etag: string;
  try {
    etag = (await resume(ctx, destinationKey, record.uploadId).complete(parts, condition)).etag;
  } catch (error) {
    if (error instanceof PreconditionFailedError)
      throw new ObjectChangedError("destination", destinationKey, error);
    throw error;
  }
  await ctx.work.put(workKeys.upload(runId, key), { ...record, etag } satisfies UploadRecord);
  return { etag };
}

/** Aborts the object's upload after a failure; nothing half-written stays behind. */
export async function destinationAbort(ctx: DestinationContext, event: z.infer<typeof ObjectEvent>) {
  const record = await ctx.work.get<UploadRecord>(workKeys.upload(event.runId, event.key));
  if (record !== undefined && record.etag === undefined) {
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
