import type { Readable } from "node:stream";
import {
  attributesOf,
  type ChunkPlan,
  ChunksyncError,
  checkKeyLength,
  chunkRange,
  decideObject,
  MAX_CHUNK_SIZE,
  type ObjectDecision,
  type ObjectIdentity,
  type PlannedPart,
  planChunks,
  type VerifyMode,
  verifyResponse,
} from "@chunksync/core";
import {
  type CompletedPart,
  type ConditionalWrite,
  enforcesCondition,
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
      // A key S3 cannot hold fails here, before the source is read for it.
      checkKeyLength(destinationKey);
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
  const plan = planChunks(src.size, ctx.chunkSize);
  const srcId: ObjectIdentity = {
    bucket: source.bucket,
    key: sourceKey,
    etag: src.etag,
    ...(src.versionId ? { versionId: src.versionId } : {}),
  };
  const readable = !src.archived;
  // A HEAD carries no tag set: with --tags both sides' sets are read, to restate and to compare.
  const [srcTags, dstTags] =
    ctx.copyTags && readable
      ? await Promise.all([source.tagging(sourceKey), dst && destination.tagging(destinationKey)])
      : [];
  let changed: number[] | undefined;
  if (dst !== undefined && readable) {
    changed = plan.count > 0 ? await challenge(ctx, srcId, dst, plan) : [];
  }
  const attributes = attributesOf(src, srcTags);
  const decision = decideObject({
    source: { size: src.size, etag: src.etag, archived: src.archived, attributes },
    destination: dst && { size: dst.size, etag: dst.etag, attributes: attributesOf(dst, dstTags) },
    plan,
    changed,
    options: { serverSideCopy: ctx.serverSideCopy, verify: ctx.verify, copyTags: ctx.copyTags },
  });
  const result: ObjectResult = {
    sourceKey,
    destinationKey,
    size: src.size,
    attempts,
    state: decision.state,
    action: decision.action,
    ...(readable
      ? { chunks: { total: plan.count, chunkSize: plan.chunkSize, changed: decision.changed } }
      : {}),
    planned: decision.planned,
    applied: decision.state === "identical",
  };
  if (!readable) {
    return {
      ...result,
      error: {
        code: "OBJECT_ARCHIVED",
        message: `s3://${source.bucket}/${sourceKey} is in storage class ${src.storageClass} and must be restored before it can be synced`,
      },
    };
  }
  if (decision.action === "none" || ctx.dryRun) return result;
  // runSync planned a copy's work when its listings had the object on the source only.
  const plannedAtListing = dst === undefined && listed !== undefined && listed.destination === undefined;
  if (!plannedAtListing) ctx.stats.plannedWork += writeWork(plan, decision, dst !== undefined);
  await write(ctx, srcId, plan, destinationKey, attributes, decision, dst);
  return { ...result, applied: true };
}

/** The indexes of the chunks where the destination's bytes differ from the source's. */
async function challenge(
  ctx: ObjectSyncContext,
  srcId: ObjectIdentity,
  dst: ObjectHead,
  plan: ChunkPlan,
): Promise<number[]> {
  const dstId: ObjectIdentity = { bucket: ctx.destination.bucket, key: dst.key, etag: dst.etag };
  const all = Array.from({ length: plan.count }, (_, i) => i);
  const { request, expectation } = await ctx.sourceSide.challenge(srcId, dstId, plan, all);
  const response = await ctx.destinationSide.answer(request, dst);
  return verifyResponse({ request, expectation, response })
    .chunks.filter((c) => c.status !== "equal")
    .map((c) => c.index);
}

/**
 * Writes the destination object from the decision's parts under its condition, then
 * verifies the chunks it names. Nothing becomes visible unless the final request
 * succeeds; every failure aborts the multipart upload.
 */
async function write(
  ctx: ObjectSyncContext,
  srcId: ObjectIdentity,
  plan: ChunkPlan,
  key: string,
  attributes: ObjectAttributes,
  { parts, condition, verify }: ObjectDecision,
  old: { etag: string; size: number } | undefined,
): Promise<void> {
  const { destination, signal } = ctx;
  const sourceRef = ctx.source.ref(srcId.key, srcId.etag);
  const oldRef = old && destination.ref(key, old.etag);
  let etag: string;
  // A replacement goes through multipart even for one part: CompleteMultipartUpload takes
  // If-Match on AWS, while Ceph RGW (Pacific) answers 412 to any If-Match on PutObject.
  const single = parts.length === 1 && parts[0]!.length <= MAX_CHUNK_SIZE ? parts[0]! : undefined;
  const fromSource = single?.kind === "sourceCopy";
  // CopyObject has no range: it serves only a part that is its whole source object.
  const wholeCopy =
    single && single.kind !== "sourceBytes" && single.length === (fromSource ? plan.size : old?.size);
  if (single && wholeCopy) {
    const from = fromSource ? sourceRef : oldRef!;
    etag = await conditional(ctx, key, "copy", condition, fromSource ? srcId : undefined, () =>
      destination.copyObject(from, key, attributes, condition, signal),
    );
    ctx.stats.bytes.copiedServerSide += single.length;
  } else if (single?.kind === "sourceBytes" && "ifNoneMatch" in condition) {
    etag = await withRetry(async () => {
      const body = await ctx.sourceSide.openChunk(srcId, plan, single.firstChunk);
      return conditional(ctx, key, "put", condition, undefined, () =>
        streamed(ctx, srcId, body, (s) =>
          destination.put(key, body, single.length, attributes, condition, s),
        ),
      );
    }, retryFor(signal));
    ctx.stats.bytes.transferred += single.length;
  } else {
    etag = await writeMultipart(ctx, srcId, plan, key, attributes, parts, condition, sourceRef, oldRef);
  }
  await verifyWritten(ctx, srcId, plan, key, etag, verify);
}

async function writeMultipart(
  ctx: ObjectSyncContext,
  srcId: ObjectIdentity,
  plan: ChunkPlan,
  key: string,
  attributes: ObjectAttributes,
  parts: PlannedPart[],
  condition: WriteCondition,
  sourceRef: ObjectVersionRef,
  oldRef: ObjectVersionRef | undefined,
): Promise<string> {
  const { destination, limiter, signal, stats } = ctx;
  const retry = retryFor(signal);
  const upload = await destination.createUpload(key, attributes, signal);
  try {
    const completed = await settleAll(
      parts.map((part) =>
        limiter.run(async (): Promise<CompletedPart> => {
          if (part.kind !== "sourceBytes") {
            const side = part.kind === "sourceCopy" ? "source" : "destination";
            const from = side === "source" ? sourceRef : oldRef!;
            const done = await withRetry(
              () => pinned(side, key, () => upload.copyPart(part.partNumber, from, part, signal)),
              retry,
            );
            stats.bytes.copiedServerSide += part.length;
            return done;
          }
          // Bytes from the source are one chunk per part (or the whole object of at most one chunk).
          const done = await withRetry(async () => {
            const body = await ctx.sourceSide.openChunk(srcId, plan, part.firstChunk);
            return streamed(ctx, srcId, body, (s) =>
              upload.uploadPart(part.partNumber, body, part.length, s),
            );
          }, retry);
          stats.bytes.transferred += part.length;
          return done;
        }),
      ),
    );
    const copiedFromSource = parts.some((p) => p.kind === "sourceCopy");
    return await conditional(ctx, key, "complete", condition, copiedFromSource ? srcId : undefined, () =>
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
 * Runs the final, visible write (`write`) under `condition`. Where the destination does not
 * declare that it enforces the condition on that write (Ceph RGW 16 ignores If-Match on
 * CompleteMultipartUpload and CopyObject), or the pin of a source copied server-side
 * (x-amz-copy-source-if-match), that pin is checked by HEAD just before the write: the
 * destination must still be the challenged version, and the source the planned one. That
 * narrows a concurrent writer's window to one round trip on such servers.
 */
async function conditional(
  ctx: ObjectSyncContext,
  key: string,
  write: ConditionalWrite,
  condition: WriteCondition,
  copiedSource: ObjectIdentity | undefined,
  run: () => Promise<{ etag: string }>,
): Promise<string> {
  const { capabilities } = ctx.destination;
  if (!enforcesCondition(capabilities, write, condition)) {
    const now = await ctx.destination.head(key, ctx.signal);
    if (!("ifMatch" in condition ? sameEtag(now?.etag, condition.ifMatch) : now === undefined)) {
      throw new ObjectChangedError("destination", key);
    }
  }
  if (
    copiedSource &&
    !capabilities.conditionalWrites.copySourceIfMatch &&
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
    const destinationMoved =
      "ifMatch" in condition ? !sameEtag(after?.etag, condition.ifMatch) : after !== undefined;
    throw new ObjectChangedError(destinationMoved || !copiedSource ? "destination" : "source", key, error);
  }
}

/**
 * Bytes of work a write does, in RunStats' units: each part once, each verified chunk read
 * on the destination, and on the source too unless the source side already holds its digest
 * (every chunk of a `challenged` object, every chunk it uploaded).
 */
function writeWork(plan: ChunkPlan, decision: ObjectDecision, challenged: boolean): number {
  let work = 0;
  const uploaded = new Set<number>();
  for (const p of decision.parts) {
    work += p.length;
    if (p.kind !== "sourceBytes") continue;
    for (let i = p.firstChunk; i < p.firstChunk + p.chunkCount; i++) uploaded.add(i);
  }
  for (const i of decision.verify) {
    work += (challenged || uploaded.has(i) ? 1 : 2) * chunkRange(plan, i).length;
  }
  return work;
}

/** Bytes of work of copying a whole object of `size` bytes that the destination lacks (see RunStats). */
export function copyWork(ctx: ObjectSyncContext, size: number): number {
  const plan = planChunks(size, ctx.chunkSize);
  const decision = decideObject({
    source: { size, etag: "", archived: false, attributes: { metadata: {} } },
    destination: undefined,
    plan,
    changed: undefined,
    options: { serverSideCopy: ctx.serverSideCopy, verify: ctx.verify, copyTags: false },
  });
  return writeWork(plan, decision, false);
}

/** Re-challenges the chunks the decision names (those that crossed, or all) against the object just written. */
async function verifyWritten(
  ctx: ObjectSyncContext,
  srcId: ObjectIdentity,
  plan: ChunkPlan,
  key: string,
  etag: string,
  indices: number[],
): Promise<void> {
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
