import type { Readable } from "node:stream";
import {
  type ChunkPlan,
  ChunksyncError,
  chunkRange,
  MAX_CHUNK_SIZE,
  type ObjectIdentity,
  planChunks,
  planCompose,
  verifyResponse,
} from "@chunksync/core";
import {
  type CompletedPart,
  isArchiveClass,
  type ObjectAttributes,
  type ObjectHead,
  type ObjectStore,
  type ObjectSummary,
  type ObjectVersionRef,
  PreconditionFailedError,
  sameEtag,
  type WriteCondition,
} from "@chunksync/storage";
import type { DestinationSide } from "./DestinationSide.js";
import { brokenRead } from "./digestRange.js";
import { ObjectChangedError, RunAbortedError, VerificationFailedError } from "./errors.js";
import { type Limiter, settleAll } from "./Limiter.js";
import type { ObjectResult } from "./ObjectResult.js";
import type { RunStats } from "./RunStats.js";
import { retryFor, withRetry } from "./retry.js";
import type { SourceSide } from "./SourceSide.js";

export type VerifyMode = "none" | "changed" | "full";

/** Everything one object's sync needs; built once per run by runSync (or by a Lambda handler). */
export interface ObjectSyncContext {
  source: ObjectStore;
  destination: ObjectStore;
  sourceSide: SourceSide;
  destinationSide: DestinationSide;
  limiter: Limiter;
  stats: RunStats;
  chunkSize: number;
  verify: VerifyMode;
  /** Both sides are one endpoint and account: changed chunks are copied server-side too. */
  serverSideCopy: boolean;
  /** Copy the source's tag set onto written objects. */
  copyTags: boolean;
  dryRun: boolean;
  /** How many times an object restarts from its plan after it changed under the run. */
  maxAttempts: number;
  signal?: AbortSignal;
}

/** What the run's listings said of one object: on the source, and on the destination if there. */
export interface ListedPair {
  source: ObjectSummary;
  destination: ObjectSummary | undefined;
}

/** A part to write: copied from the old destination, copied from the source, or uploaded from it. */
interface PartSpec {
  from: "destination" | "source";
  transfer: boolean;
  offset: number;
  length: number;
}

/**
 * Brings one destination object to the source's bytes and attributes, moving only
 * the chunks the challenge found different. Never throws for an object-level
 * failure (that is reported in the result); throws only when the run is aborted.
 */
export async function syncObject(
  ctx: ObjectSyncContext,
  sourceKey: string,
  destinationKey: string,
  listed?: ListedPair,
): Promise<ObjectResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      // A restart heads both sides afresh: the listing is older than what made it restart.
      return await attemptObject(ctx, sourceKey, destinationKey, attempt, attempt === 1 ? listed : undefined);
    } catch (error) {
      if (ctx.signal?.aborted) throw new RunAbortedError(error);
      // A changed source is re-planned against its new version. A destination another writer
      // replaced is left to that writer and reported: the run never overwrites a version it
      // did not challenge, and the next run decides about it with a fresh plan.
      const replan = error instanceof ObjectChangedError && error.side === "source";
      if (replan && attempt < ctx.maxAttempts && !ctx.dryRun) continue;
      return {
        sourceKey,
        destinationKey,
        size: 0,
        state: "failed",
        action: "none",
        planned: { transfer: 0, serverSide: 0 },
        applied: false,
        attempts: attempt,
        error: describeError(error),
      };
    } finally {
      ctx.sourceSide.forget(sourceKey);
      ctx.destinationSide.forget(destinationKey);
    }
  }
}

export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof ChunksyncError) return { code: error.code, message: error.message };
  return { code: "UNEXPECTED", message: error instanceof Error ? error.message : String(error) };
}

/**
 * Both sides' heads. Where the listings say both objects exist and hold bytes, each side
 * reads its first chunk instead of a HEAD: one GET gives the head of the version it reads
 * and that chunk's digest, which the challenge then does not read again. Where the
 * destination listing has no such key, its HEAD is skipped: the write is conditional on
 * the key's absence (If-None-Match, or a HEAD just before a multipart completion).
 */
function inspect(
  ctx: ObjectSyncContext,
  sourceKey: string,
  destinationKey: string,
  listed: ListedPair | undefined,
): Promise<[ObjectHead | undefined, ObjectHead | undefined]> {
  const { source, destination, signal } = ctx;
  if (listed && listed.destination === undefined) {
    return Promise.all([source.head(sourceKey, signal), undefined]);
  }
  if (
    listed?.destination &&
    listed.source.size > 0 &&
    listed.destination.size > 0 &&
    !isArchiveClass(listed.source.storageClass) &&
    !isArchiveClass(listed.destination.storageClass)
  ) {
    return Promise.all([
      ctx.sourceSide.probe(sourceKey, ctx.chunkSize),
      ctx.destinationSide.probe(destinationKey, ctx.chunkSize, ctx.sourceSide.options.algorithm),
    ]);
  }
  // Both HEADs at once: they are independent, and small objects are bound by round trips.
  return Promise.all([source.head(sourceKey, signal), destination.head(destinationKey, signal)]);
}

async function attemptObject(
  ctx: ObjectSyncContext,
  sourceKey: string,
  destinationKey: string,
  attempts: number,
  listed: ListedPair | undefined,
): Promise<ObjectResult> {
  const { source, destination } = ctx;
  const [src, dst] = await inspect(ctx, sourceKey, destinationKey, listed);
  if (src === undefined) throw new ObjectChangedError("source", sourceKey);
  const base = { sourceKey, destinationKey, size: src.size, attempts };
  if (src.archived) {
    return {
      ...base,
      state: "unreadable",
      action: "none",
      planned: { transfer: 0, serverSide: 0 },
      applied: false,
      error: {
        code: "OBJECT_ARCHIVED",
        message: `s3://${source.bucket}/${sourceKey} is in storage class ${src.storageClass} and must be restored before it can be synced`,
      },
    };
  }
  const plan = planChunks(src.size, ctx.chunkSize);
  const srcId: ObjectIdentity = {
    bucket: source.bucket,
    key: sourceKey,
    etag: src.etag,
    ...(src.versionId ? { versionId: src.versionId } : {}),
  };
  const attributes = await attributesOf(ctx, src);
  const allChunks = (p: ChunkPlan) => Array.from({ length: p.count }, (_, i) => i);

  if (dst === undefined) {
    const parts = wholeObjectParts(ctx, plan);
    const result: ObjectResult = {
      ...base,
      state: "missing",
      action: "copy",
      chunks: { total: plan.count, chunkSize: plan.chunkSize, changed: allChunks(plan) },
      planned: plannedBytes(parts),
      applied: false,
    };
    if (ctx.dryRun) return result;
    // runSync planned this copy when its listings had the object on the source only.
    const planned = listed !== undefined && listed.destination === undefined;
    if (!planned) ctx.stats.plannedWork += writeWork(ctx, plan, parts, false);
    await write(ctx, srcId, plan, destinationKey, attributes, parts, { ifNoneMatch: "*" });
    return { ...result, applied: true };
  }

  const dstId: ObjectIdentity = { bucket: destination.bucket, key: destinationKey, etag: dst.etag };
  let changed: number[] = [];
  if (plan.count > 0) {
    const { request, expectation } = await ctx.sourceSide.challenge(srcId, dstId, plan, allChunks(plan));
    const response = await ctx.destinationSide.answer(request, dst);
    changed = verifyResponse({ request, expectation, response })
      .chunks.filter((c) => c.status !== "equal")
      .map((c) => c.index);
  }
  const chunks = { total: plan.count, chunkSize: plan.chunkSize, changed };
  const bytesEqual = changed.length === 0 && dst.size === src.size;
  if (bytesEqual && !attributesDiffer(attributes, dst)) {
    return {
      ...base,
      state: "identical",
      action: "none",
      chunks,
      planned: { transfer: 0, serverSide: 0 },
      applied: true,
    };
  }

  let action: ObjectResult["action"];
  let parts: PartSpec[];
  if (bytesEqual) {
    action = "metadata";
    // Rewritten from the destination's own bytes; a zero-byte object is simply put again.
    parts =
      plan.count === 0
        ? wholeObjectParts(ctx, plan)
        : planCompose(plan, new Set()).parts.map((p) => ({
            from: "destination",
            transfer: false,
            offset: p.offset,
            length: p.length,
          }));
  } else if (plan.count < 2) {
    // An object of one chunk is one unit: re-composing it would copy nothing.
    action = "copy";
    parts = wholeObjectParts(ctx, plan);
  } else {
    action = "compose";
    parts = planCompose(plan, new Set(changed)).parts.map((p) =>
      p.kind === "copy"
        ? { from: "destination", transfer: false, offset: p.offset, length: p.length }
        : { from: "source", transfer: !ctx.serverSideCopy, offset: p.offset, length: p.length },
    );
  }
  const result: ObjectResult = {
    ...base,
    state: "changed",
    action,
    chunks,
    planned: plannedBytes(parts),
    applied: false,
  };
  if (ctx.dryRun) return result;
  ctx.stats.plannedWork += writeWork(ctx, plan, parts, true);
  await write(ctx, srcId, plan, destinationKey, attributes, parts, { ifMatch: dst.etag }, dst);
  return { ...result, applied: true };
}

function plannedBytes(parts: PartSpec[]): ObjectResult["planned"] {
  let transfer = 0;
  let serverSide = 0;
  for (const p of parts) {
    if (p.transfer) transfer += p.length;
    else serverSide += p.length;
  }
  return { transfer, serverSide };
}

/** The whole object from the source: one part per chunk (a single part for one-chunk objects). */
function wholeObjectParts(ctx: ObjectSyncContext, plan: ChunkPlan): PartSpec[] {
  const transfer = !ctx.serverSideCopy;
  if (plan.count <= 1) return [{ from: "source", transfer, offset: 0, length: plan.size }];
  return Array.from({ length: plan.count }, (_, i) => {
    const { offset, length } = chunkRange(plan, i);
    return { from: "source" as const, transfer, offset, length };
  });
}

async function attributesOf(ctx: ObjectSyncContext, src: ObjectHead): Promise<ObjectAttributes> {
  const tagging = ctx.copyTags ? await ctx.source.tagging(src.key) : undefined;
  return {
    ...(src.contentType ? { contentType: src.contentType } : {}),
    ...(src.contentEncoding ? { contentEncoding: src.contentEncoding } : {}),
    ...(src.contentLanguage ? { contentLanguage: src.contentLanguage } : {}),
    ...(src.contentDisposition ? { contentDisposition: src.contentDisposition } : {}),
    ...(src.cacheControl ? { cacheControl: src.cacheControl } : {}),
    ...(src.expires ? { expires: src.expires } : {}),
    metadata: { ...src.metadata },
    ...(tagging ? { tagging } : {}),
  };
}

/** Attributes the engine restates on every write and so also keeps in step on identical bytes. */
function attributesDiffer(want: ObjectAttributes, have: ObjectHead): boolean {
  const fields = [
    "contentType",
    "contentEncoding",
    "contentLanguage",
    "contentDisposition",
    "cacheControl",
  ] as const;
  if (fields.some((f) => (want[f] ?? "") !== (have[f] ?? ""))) return true;
  if ((want.expires?.getTime() ?? 0) !== (have.expires?.getTime() ?? 0)) return true;
  const a = Object.entries(want.metadata).sort();
  const b = Object.entries(have.metadata).sort();
  return JSON.stringify(a) !== JSON.stringify(b);
}

/**
 * Writes the destination object from `parts` under `condition`, then verifies the
 * chunks that crossed. Nothing becomes visible unless the final request succeeds;
 * every failure aborts the multipart upload.
 */
async function write(
  ctx: ObjectSyncContext,
  srcId: ObjectIdentity,
  plan: ChunkPlan,
  key: string,
  attributes: ObjectAttributes,
  parts: PartSpec[],
  condition: WriteCondition,
  old?: { etag: string; size: number },
): Promise<void> {
  const { destination, signal } = ctx;
  const sourceRef = ctx.source.ref(srcId.key, srcId.etag);
  const oldRef = old && destination.ref(key, old.etag);
  let etag: string;
  // A replacement goes through multipart even for one part: CompleteMultipartUpload takes
  // If-Match on AWS, while Ceph RGW (Pacific) answers 412 to any If-Match on PutObject.
  const single = parts.length === 1 && parts[0]!.length <= MAX_CHUNK_SIZE ? parts[0]! : undefined;
  // CopyObject has no range: it serves only a part that is its whole source object.
  const wholeCopy =
    single && !single.transfer && single.length === (single.from === "source" ? plan.size : old?.size);
  if (single && wholeCopy) {
    const from = single.from === "source" ? sourceRef : oldRef!;
    etag = await conditional(ctx, key, condition, single.from === "source" ? srcId : undefined, {}, () =>
      destination.copyObject(from, key, attributes, condition, signal),
    );
    ctx.stats.bytes.copiedServerSide += single.length;
  } else if (single?.transfer && "ifNoneMatch" in condition) {
    etag = await withRetry(async () => {
      const body = await ctx.sourceSide.openChunk(srcId, plan, 0);
      // If-None-Match on PutObject is enforced by AWS, MinIO and RGW alike: no HEAD first.
      return conditional(ctx, key, condition, undefined, { precheck: false }, () =>
        streamed(ctx, srcId, body, (s) =>
          destination.put(key, body, single.length, attributes, condition, s),
        ),
      );
    }, retryFor(signal));
    ctx.stats.bytes.transferred += single.length;
  } else {
    etag = await writeMultipart(ctx, srcId, plan, key, attributes, parts, condition, sourceRef, oldRef);
  }
  await verifyWritten(ctx, srcId, plan, key, etag, parts);
}

async function writeMultipart(
  ctx: ObjectSyncContext,
  srcId: ObjectIdentity,
  plan: ChunkPlan,
  key: string,
  attributes: ObjectAttributes,
  parts: PartSpec[],
  condition: WriteCondition,
  sourceRef: ObjectVersionRef,
  oldRef: ObjectVersionRef | undefined,
): Promise<string> {
  const { destination, limiter, signal, stats } = ctx;
  const retry = retryFor(signal);
  const upload = await destination.createUpload(key, attributes, signal);
  try {
    const completed = await settleAll(
      parts.map((part, i) =>
        limiter.run(async (): Promise<CompletedPart> => {
          const partNumber = i + 1;
          if (!part.transfer) {
            const from = part.from === "source" ? sourceRef : oldRef!;
            const done = await withRetry(
              () => pinned(part.from, key, () => upload.copyPart(partNumber, from, part, signal)),
              retry,
            );
            stats.bytes.copiedServerSide += part.length;
            return done;
          }
          const index = part.offset / plan.chunkSize;
          const done = await withRetry(async () => {
            const body = await ctx.sourceSide.openChunk(srcId, plan, index);
            return streamed(ctx, srcId, body, (s) => upload.uploadPart(partNumber, body, part.length, s));
          }, retry);
          stats.bytes.transferred += part.length;
          return done;
        }),
      ),
    );
    const copiedFromSource = parts.some((p) => p.from === "source" && !p.transfer);
    return await conditional(ctx, key, condition, copiedFromSource ? srcId : undefined, {}, () =>
      upload.complete(completed, condition),
    );
  } catch (error) {
    await upload.abort().catch(() => {});
    throw error;
  }
}

/**
 * Sends a request whose body streams from the source. The SDK pipes the body into the
 * request without watching it, so a source read that breaks mid-chunk would leave the
 * request waiting for bytes that never come: the request is aborted instead, and the
 * read's own error (retryable, naming the source object) is what the step reports.
 */
async function streamed<T>(
  ctx: ObjectSyncContext,
  srcId: ObjectIdentity,
  body: Readable,
  send: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const local = new AbortController();
  const onAbort = () => local.abort(ctx.signal?.reason);
  if (ctx.signal?.aborted) onAbort();
  else ctx.signal?.addEventListener("abort", onAbort, { once: true });
  let broken: unknown;
  const onError = (error: unknown) => {
    broken = error;
    local.abort(error);
  };
  body.once("error", onError);
  try {
    return await send(local.signal);
  } catch (error) {
    if (broken !== undefined) throw brokenRead(ctx.source, srcId.key, broken);
    throw error;
  } finally {
    body.off("error", onError);
    ctx.signal?.removeEventListener("abort", onAbort);
  }
}

/** A 412 on a copy source means that side's object changed under the run. */
async function pinned<T>(side: "source" | "destination", key: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof PreconditionFailedError) throw new ObjectChangedError(side, key, error);
    throw error;
  }
}

/**
 * Runs the final, visible write under `condition`. Ceph RGW (Pacific) ignores If-Match on
 * CompleteMultipartUpload and CopyObject and x-amz-copy-source-if-match on every copy, so
 * the pins are also checked by HEAD just before that write: the destination must still be
 * the challenged version, and a source copied server-side the planned one. That narrows a
 * concurrent writer's window to one round trip on such servers; AWS enforces the headers.
 */
async function conditional(
  ctx: ObjectSyncContext,
  key: string,
  condition: WriteCondition,
  copiedSource: ObjectIdentity | undefined,
  { precheck = true }: { precheck?: boolean },
  run: () => Promise<{ etag: string }>,
): Promise<string> {
  const now = precheck ? await ctx.destination.head(key, ctx.signal) : undefined;
  if (precheck && !("ifMatch" in condition ? sameEtag(now?.etag, condition.ifMatch) : now === undefined)) {
    throw new ObjectChangedError("destination", key);
  }
  if (
    copiedSource &&
    !sameEtag((await ctx.source.head(copiedSource.key, ctx.signal))?.etag, copiedSource.etag)
  ) {
    throw new ObjectChangedError("source", copiedSource.key);
  }
  try {
    return (await run()).etag;
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error;
    // The copy source's pin and the write condition both answer 412; the HEAD tells which lost.
    const after = await ctx.destination.head(key, ctx.signal);
    const destinationMoved = "ifMatch" in condition ? !sameEtag(after?.etag, now?.etag) : after !== undefined;
    throw new ObjectChangedError(destinationMoved || !copiedSource ? "destination" : "source", key, error);
  }
}

/** The chunks a write's verification re-challenges: those that crossed (or all, with `full`). */
function verifiedChunks(ctx: ObjectSyncContext, plan: ChunkPlan, parts: PartSpec[]): number[] {
  if (ctx.verify === "none" || plan.count === 0) return [];
  if (ctx.verify === "full") return Array.from({ length: plan.count }, (_, i) => i);
  return [...crossedChunks(plan, parts)].sort((a, b) => a - b);
}

/** The chunks whose bytes pass through this process (uploaded parts). */
function crossedChunks(plan: ChunkPlan, parts: PartSpec[]): Set<number> {
  const crossed = new Set<number>();
  for (const p of parts) {
    if (!p.transfer) continue;
    for (let i = p.offset / plan.chunkSize; i < Math.ceil((p.offset + p.length) / plan.chunkSize); i++)
      crossed.add(i);
  }
  return crossed;
}

/**
 * Bytes of work a write does, in RunStats' units: each part once, each verified chunk read
 * on the destination, and on the source too unless the source side already holds its digest
 * (every chunk of a `challenged` object, every chunk it uploaded).
 */
function writeWork(ctx: ObjectSyncContext, plan: ChunkPlan, parts: PartSpec[], challenged: boolean): number {
  let work = 0;
  for (const p of parts) work += p.length;
  const uploaded = crossedChunks(plan, parts);
  for (const i of verifiedChunks(ctx, plan, parts)) {
    const digested = challenged || uploaded.has(i);
    work += (digested ? 1 : 2) * chunkRange(plan, i).length;
  }
  return work;
}

/** Bytes of work of copying a whole object of `size` bytes that the destination lacks (see RunStats). */
export function copyWork(ctx: ObjectSyncContext, size: number): number {
  const plan = planChunks(size, ctx.chunkSize);
  return writeWork(ctx, plan, wholeObjectParts(ctx, plan), false);
}

/** Re-challenges the chunks that crossed (or all, with `full`) against the object just written. */
async function verifyWritten(
  ctx: ObjectSyncContext,
  srcId: ObjectIdentity,
  plan: ChunkPlan,
  key: string,
  etag: string,
  parts: PartSpec[],
): Promise<void> {
  const indices = verifiedChunks(ctx, plan, parts);
  if (indices.length === 0) return;
  const dstId: ObjectIdentity = { bucket: ctx.destination.bucket, key, etag };
  const { request, expectation } = await ctx.sourceSide.challenge(srcId, dstId, plan, indices);
  // The object was just written at this ETag and size; the answer's reads are pinned to it.
  const response = await ctx.destinationSide.answer(request, { key, etag, size: plan.size });
  const bad = verifyResponse({ request, expectation, response })
    .chunks.filter((c) => c.status !== "equal")
    .map((c) => c.index);
  if (bad.length > 0) throw new VerificationFailedError(key, bad);
}
