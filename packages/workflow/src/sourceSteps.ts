import {
  type ChallengeExpectation,
  type ChallengeRequest,
  type ChallengeResponse,
  chunkRange,
  type ObjectIdentity,
  planChunks,
  planCompose,
  verifyResponse,
} from "@chunksync/core";
import type { ObjectHead } from "@chunksync/storage";
import {
  countResult,
  keyFilter,
  Limiter,
  type ObjectResult,
  plannedOf,
  type RunReport,
  RunStats,
  SourceSide,
  VerificationFailedError,
} from "@chunksync/sync";
import type { z } from "zod";
import {
  chunksPerBatch,
  type Decision,
  type DestinationRecord,
  type PartPlan,
  type SourceContext,
  type SourceRecord,
  type StepBytes,
  type UploadRecord,
} from "./context.js";
import { WorkItemMissingError } from "./errors.js";
import type {
  BatchEvent,
  DecideEvent,
  ListPageEvent,
  PrepareEvent,
  RecordEvent,
  ReportEvent,
  WriteBatchEvent,
} from "./events.js";
import { batchNumbers, batchOf, compareKeys, workKeys } from "./layout.js";
import type { WorkArea } from "./WorkArea.js";

/** Rough JSON bytes of a page of items, kept well below Step Functions' 256 KiB payload limit. */
const PAGE_BYTES = 96 * 1024;

export async function need<T>(work: WorkArea, key: string): Promise<T> {
  const value = await work.get<T>(key);
  if (value === undefined) throw new WorkItemMissingError(key);
  return value;
}

/** One page of the source listing: the items of one Map run, and where the next page starts. */
export async function listSourcePage(ctx: SourceContext, event: z.infer<typeof ListPageEvent>) {
  const items: { key: string; size: number; etag: string }[] = [];
  let bytes = 0;
  let more = false;
  const after = event.after ?? undefined;
  const selected = keyFilter(ctx.include ?? [], ctx.exclude ?? []);
  for await (const o of ctx.store.list(
    ctx.prefix,
    undefined,
    after === undefined ? undefined : ctx.prefix + after,
  )) {
    const key = o.key.slice(ctx.prefix.length);
    if (key === "" || (after !== undefined && compareKeys(key, after) <= 0)) continue;
    if (!selected(key)) continue;
    if (items.length >= ctx.pageSize || bytes >= PAGE_BYTES) {
      more = true;
      break;
    }
    items.push({ key, size: o.size, etag: o.etag });
    bytes += Buffer.byteLength(key) + o.etag.length + 48;
  }
  const last = items.at(-1)?.key;
  await ctx.work.put(workKeys.page(event.runId, event.page), {
    keys: items.map((i) => i.key),
    after: after ?? null,
    // The final page owns every destination key after its start.
    last: more ? (last ?? null) : null,
  });
  return { items, next: more && last !== undefined ? { page: event.page + 1, after: last } : null };
}

function attributesOf(h: ObjectHead): SourceRecord["attributes"] {
  return {
    ...(h.contentType ? { contentType: h.contentType } : {}),
    ...(h.contentEncoding ? { contentEncoding: h.contentEncoding } : {}),
    ...(h.contentLanguage ? { contentLanguage: h.contentLanguage } : {}),
    ...(h.contentDisposition ? { contentDisposition: h.contentDisposition } : {}),
    ...(h.cacheControl ? { cacheControl: h.cacheControl } : {}),
    ...(h.expires ? { expires: h.expires.toISOString() } : {}),
    metadata: { ...h.metadata },
  };
}

/** Heads and plans the source object; the digest batches become the items of the challenge Map. */
export async function prepareSource(ctx: SourceContext, event: z.infer<typeof PrepareEvent>) {
  const sourceKey = ctx.prefix + event.item.key;
  const head = await ctx.store.head(sourceKey);
  if (head === undefined) throw new WorkItemMissingError(`s3://${ctx.store.bucket}/${sourceKey}`);
  const plan = planChunks(head.size, ctx.chunkSize);
  const record: SourceRecord = {
    key: event.item.key,
    sourceKey,
    etag: head.etag,
    ...(head.versionId ? { versionId: head.versionId } : {}),
    size: head.size,
    archived: head.archived,
    ...(head.storageClass ? { storageClass: head.storageClass } : {}),
    plan: { size: plan.size, chunkSize: plan.chunkSize, count: plan.count },
    attributes: attributesOf(head),
  };
  await ctx.work.put(workKeys.source(event.runId, event.item.key), record);
  return {
    archived: head.archived,
    count: plan.count,
    batches: batchNumbers(plan.count, chunksPerBatch(ctx, plan.chunkSize)),
  };
}

function identity(src: SourceRecord, bucket: string): ObjectIdentity {
  return {
    bucket,
    key: src.sourceKey,
    etag: src.etag,
    ...(src.versionId ? { versionId: src.versionId } : {}),
  };
}

/** Digests one batch of chunks (on this side only) and stores the challenge for the destination. */
export async function sourceChallenge(ctx: SourceContext, event: z.infer<typeof BatchEvent>) {
  const { runId, key, batch, phase } = event;
  const src = await need<SourceRecord>(ctx.work, workKeys.source(runId, key));
  const dst = await need<DestinationRecord>(ctx.work, workKeys.destination(runId, key));
  let indices: number[];
  let etag = dst.etag ?? "";
  if (phase === "challenge") {
    indices = batchOf(
      Array.from({ length: src.plan.count }, (_, i) => i),
      batch,
      chunksPerBatch(ctx, src.plan.chunkSize),
    );
  } else {
    const decision = await need<Decision>(ctx.work, workKeys.decision(runId, key));
    indices = batchOf(decision.verify, batch, decision.batchSize);
    etag = (await need<UploadRecord>(ctx.work, workKeys.upload(runId, key))).etag ?? "";
  }
  const bytes: StepBytes = { sourceRead: 0 };
  const side = new SourceSide({
    store: ctx.store,
    secret: ctx.secret,
    algorithm: ctx.algorithm,
    variant: ctx.variant,
    limiter: new Limiter(ctx.concurrency),
    onRead: (n) => {
      bytes.sourceRead = (bytes.sourceRead ?? 0) + n;
    },
  });
  const { request, expectation } = await side.challenge(
    identity(src, ctx.store.bucket),
    { bucket: dst.bucket, key: dst.destinationKey, etag },
    src.plan,
    indices,
  );
  await ctx.work.put(workKeys.request(runId, key, phase, batch), request);
  await ctx.work.put(workKeys.expectation(runId, key, phase, batch), expectation);
  return { bytes };
}

/** Checks the destination's answers; a verify batch that is not all-equal fails the object. */
export async function sourceCompare(ctx: SourceContext, event: z.infer<typeof BatchEvent>) {
  const { runId, key, batch, phase } = event;
  const request = await need<ChallengeRequest>(ctx.work, workKeys.request(runId, key, phase, batch));
  const expectation = await need<ChallengeExpectation>(
    ctx.work,
    workKeys.expectation(runId, key, phase, batch),
  );
  const response = await need<ChallengeResponse>(ctx.work, workKeys.response(runId, key, phase, batch));
  const changed = verifyResponse({ request, expectation, response })
    .chunks.filter((c) => c.status !== "equal")
    .map((c) => c.index);
  if (phase === "verify") {
    if (changed.length > 0) throw new VerificationFailedError(request.destination.key, changed);
  } else {
    await ctx.work.put(workKeys.changed(runId, key, batch), changed);
  }
  return { changed: changed.length };
}

function attributesDiffer(a: SourceRecord["attributes"], b: DestinationRecord["attributes"]): boolean {
  const fields = [
    "contentType",
    "contentEncoding",
    "contentLanguage",
    "contentDisposition",
    "cacheControl",
  ] as const;
  if (fields.some((f) => (a[f] ?? "") !== (b?.[f] ?? ""))) return true;
  if ((a.expires ? Date.parse(a.expires) : 0) !== (b?.expires ? Date.parse(b.expires) : 0)) return true;
  const sorted = (m: Record<string, string> | undefined) => JSON.stringify(Object.entries(m ?? {}).sort());
  return sorted(a.metadata) !== sorted(b?.metadata);
}

/** Every chunk as its own part (one part for objects of up to one chunk, even empty ones). */
function wholeObjectParts(plan: SourceRecord["plan"]): PartPlan[] {
  if (plan.count <= 1) return [{ partNumber: 1, from: "source", offset: 0, length: plan.size }];
  return Array.from({ length: plan.count }, (_, i) => {
    const { offset, length } = chunkRange(plan, i);
    return { partNumber: i + 1, from: "source" as const, offset, length };
  });
}

/** Gathers the challenge verdicts and settles what to write: nothing, a copy, a compose or a metadata rewrite. */
export async function decide(ctx: SourceContext, event: z.infer<typeof DecideEvent>) {
  const { runId, key } = event;
  const src = await need<SourceRecord>(ctx.work, workKeys.source(runId, key));
  const dst = await need<DestinationRecord>(ctx.work, workKeys.destination(runId, key));
  const all = Array.from({ length: src.plan.count }, (_, i) => i);
  let decision: Omit<Decision, "verify" | "planned" | "batchSize">;
  if (src.archived) {
    decision = {
      state: "unreadable",
      action: "none",
      changed: [],
      parts: [],
      condition: { ifNoneMatch: "*" },
    };
  } else if (!dst.exists || dst.etag === undefined) {
    const parts = wholeObjectParts(src.plan);
    decision = { state: "missing", action: "copy", changed: all, parts, condition: { ifNoneMatch: "*" } };
  } else {
    const changed: number[] = [];
    if (src.plan.count > 0) {
      for (const batch of batchNumbers(src.plan.count, chunksPerBatch(ctx, src.plan.chunkSize))) {
        changed.push(...(await need<number[]>(ctx.work, workKeys.changed(runId, key, batch))));
      }
    }
    const condition = { ifMatch: dst.etag };
    const bytesEqual = changed.length === 0 && dst.size === src.size;
    if (bytesEqual && !attributesDiffer(src.attributes, dst.attributes)) {
      decision = { state: "identical", action: "none", changed, parts: [], condition };
    } else if (bytesEqual) {
      // Rewritten from the destination's own bytes; a zero-byte object is simply written again.
      const parts: PartPlan[] =
        src.plan.count === 0
          ? wholeObjectParts(src.plan)
          : planCompose(src.plan, new Set()).parts.map((p, i) => ({
              partNumber: i + 1,
              from: "destination",
              offset: p.offset,
              length: p.length,
            }));
      decision = { state: "changed", action: "metadata", changed, parts, condition };
    } else if (src.plan.count < 2) {
      decision = { state: "changed", action: "copy", changed, parts: wholeObjectParts(src.plan), condition };
    } else {
      const parts = planCompose(src.plan, new Set(changed)).parts.map((p, i) => ({
        partNumber: i + 1,
        from: p.kind === "copy" ? ("destination" as const) : ("source" as const),
        offset: p.offset,
        length: p.length,
      }));
      decision = { state: "changed", action: "compose", changed, parts, condition };
    }
  }
  const planned = { transfer: 0, serverSide: 0 };
  const crossed = new Set<number>();
  for (const p of decision.parts) {
    if (p.from === "destination") {
      planned.serverSide += p.length;
      continue;
    }
    planned.transfer += p.length;
    if (p.length === 0) continue;
    const first = p.offset / src.plan.chunkSize;
    for (let i = first; i < Math.ceil((p.offset + p.length) / src.plan.chunkSize); i++) crossed.add(i);
  }
  const verify = ctx.verify === "none" ? [] : [...crossed].sort((a, b) => a - b);
  const batchSize = chunksPerBatch(ctx, src.plan.chunkSize);
  await ctx.work.put(workKeys.decision(runId, key), {
    ...decision,
    verify,
    planned,
    batchSize,
  } satisfies Decision);
  return {
    action: decision.action,
    writeBatches: batchNumbers(decision.parts.length, batchSize),
    verifyBatches: batchNumbers(verify.length, batchSize),
  };
}

/** Signs a short-lived read link to the source object for the destination's compose step. */
export async function presignBatch(ctx: SourceContext, event: z.infer<typeof WriteBatchEvent>) {
  const { runId, key, batch } = event;
  const src = await need<SourceRecord>(ctx.work, workKeys.source(runId, key));
  const decision = await need<Decision>(ctx.work, workKeys.decision(runId, key));
  const fromSource = batchOf(decision.parts, batch, decision.batchSize).some(
    (p) => p.from === "source" && p.length > 0,
  );
  const url = fromSource ? await ctx.signer.sign(src.sourceKey, ctx.linkExpirySeconds) : null;
  await ctx.work.put(workKeys.links(runId, key, batch), { url, etag: src.etag });
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

/** What the record step stores per object, and the report sums. */
export interface StoredResult {
  result: ObjectResult;
  bytes: RunStats["bytes"];
}

function errorOf(error: z.infer<typeof RecordEvent>["error"]): ObjectResult["error"] {
  if (error === undefined) return undefined;
  let message = error.Cause ?? error.Error;
  // Lambda reports a failed function's error as JSON text in Cause.
  try {
    const parsed = JSON.parse(message) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === "string") message = parsed.errorMessage;
  } catch {}
  return { code: error.Error, message };
}

/** Records one object's outcome in the work area (a failure when the event carries an error). */
export async function recordResult(ctx: SourceContext, event: z.infer<typeof RecordEvent>) {
  const { runId, key } = event;
  const src = await ctx.work.get<SourceRecord>(workKeys.source(runId, key));
  const dst = await ctx.work.get<DestinationRecord>(workKeys.destination(runId, key));
  const decision = await ctx.work.get<Decision>(workKeys.decision(runId, key));
  const bytes = new RunStats().bytes;
  sumBytes(event.steps, bytes);
  const base = {
    sourceKey: src?.sourceKey ?? ctx.prefix + key,
    destinationKey: dst?.destinationKey ?? key,
    size: src?.size ?? 0,
    attempts: 1,
  };
  let result: ObjectResult;
  if (event.error !== undefined || decision === undefined || src === undefined) {
    result = {
      ...base,
      state: "failed",
      action: "none",
      planned: { transfer: 0, serverSide: 0 },
      applied: false,
      error: errorOf(event.error) ?? {
        code: "UNEXPECTED",
        message: "the object's flow ended without a decision",
      },
    };
  } else {
    result = {
      ...base,
      state: decision.state,
      action: decision.action,
      chunks: { total: src.plan.count, chunkSize: src.plan.chunkSize, changed: decision.changed },
      planned: decision.planned,
      applied: decision.state !== "unreadable",
      ...(decision.state === "unreadable"
        ? {
            error: {
              code: "OBJECT_ARCHIVED",
              message: `s3://${ctx.store.bucket}/${src.sourceKey} is in storage class ${src.storageClass} and must be restored before it can be synced`,
            },
          }
        : {}),
    };
  }
  await ctx.work.put(workKeys.result(runId, key), { result, bytes } satisfies StoredResult);
  return { state: result.state };
}

/** Builds the run report from every recorded result and stores it next to them. */
export async function writeReport(
  work: WorkArea,
  event: z.infer<typeof ReportEvent>,
  startedAt?: string,
): Promise<Pick<RunReport, "objects" | "bytes" | "planned"> & { reportKey: string }> {
  const stats = new RunStats();
  const results: ObjectResult[] = [];
  for await (const k of work.list(workKeys.results(event.runId))) {
    const stored = await need<StoredResult>(work, k);
    results.push(stored.result);
    for (const f of Object.keys(stats.bytes) as (keyof RunStats["bytes"])[])
      stats.bytes[f] += stored.bytes[f];
    if (stored.result.state !== "extra") stats.objects.scanned++;
    countResult(stats, stored.result);
  }
  const planned = plannedOf(results);
  const start = startedAt ?? new Date(stats.startedAt).toISOString();
  const report: RunReport = {
    startedAt: start,
    durationMs: Date.now() - Date.parse(start),
    dryRun: false,
    objects: { ...stats.objects },
    bytes: { ...stats.bytes },
    planned,
    results,
  };
  await work.put(workKeys.report(event.runId), report);
  // Counts only: the per-object results could exceed a state's 256 KiB; they stay in the work area.
  return { reportKey: workKeys.report(event.runId), objects: report.objects, bytes: report.bytes, planned };
}
