import {
  type AuditRequest,
  type AuditResponse,
  auditRequest,
  checkDestinationKey,
  compareAudit,
  drawAuditNonce,
  type RangeVerdict,
  type SampledRange,
  Sampler,
  type SamplerState,
  type SampleSpec,
  ValidationError,
} from "@chunksync/core";
import type { ObjectReader } from "@chunksync/storage";
import {
  type AuditReport,
  type AuditSide,
  AuditTally,
  answerAudit,
  expectAudit,
  keySelection,
  Limiter,
} from "@chunksync/sync";
import { z } from "zod";
import type { DestinationContext, SourceContext } from "../context.js";
import { ListPageEvent, PageEvent, parseEvent, ReportEvent, relativeKey } from "../events.js";
import {
  endPage,
  jsonBytes,
  listAfter,
  listPage,
  objectId,
  PAGE_BYTES,
  type PageRecord,
  pageFile,
} from "../layout.js";
import { failureOf } from "../sourceSteps.js";
import type { Step } from "../steps.js";
import { need } from "../WorkArea.js";
import type { AuditSourceFunction } from "./auditDefinition.js";

/** The report step's event: `settled`, of an audit stopped before its end (what it judged until then). */
const AuditReportEvent = ReportEvent.extend({ settled: z.literal(true).optional() });

/** What the source-side audit steps need: its store, the work area, the secret and the sample. */
export type AuditSourceContext = Pick<
  SourceContext,
  "store" | "prefix" | "work" | "secret" | "concurrency" | "filters" | "pageSize" | "signal"
> & {
  sample: SampleSpec;
  rangeSize: number;
};

/** What the destination-side audit steps need: its store, the work area, the secret and the filters. */
export type AuditDestinationContext = Pick<
  DestinationContext,
  "prefix" | "work" | "secret" | "concurrency" | "filters" | "signal"
> & {
  store: ObjectReader;
};

/**
 * Where an audit run keeps its items. Its nonce, sample and expected values stay under
 * `source/` (the destination must not see a value before it reads its own bytes); requests,
 * responses, results and the report are `shared/`.
 */
export const auditKeys = {
  nonce: (runId: string) => `source/audits/${runId}/nonce.json`,
  /** A listing page's key range (its keys are the source's: the destination counts the others). */
  page: (runId: string, page: number) => `shared/audits/${runId}/pages/${pageFile(page)}`,
  extras: (runId: string) => `shared/audits/${runId}/extras/`,
  extra: (runId: string, page: number) => `${auditKeys.extras(runId)}${pageFile(page)}`,
  sample: (runId: string, key: string) => `source/audits/${runId}/objects/${objectId(key)}/sample.json`,
  /** Where the sampler stood after a page: the next page goes on from it, as one stream. */
  sampler: (runId: string, page: number) => `source/audits/${runId}/sampler/${pageFile(page)}`,
  expectation: (runId: string, key: string) =>
    `source/audits/${runId}/objects/${objectId(key)}/expectation.json`,
  request: (runId: string, key: string) => `shared/audits/${runId}/objects/${objectId(key)}/request.json`,
  response: (runId: string, key: string) => `shared/audits/${runId}/objects/${objectId(key)}/response.json`,
  results: (runId: string) => `shared/audits/${runId}/results/`,
  result: (runId: string, key: string) => `shared/audits/${runId}/results/${objectId(key)}.json`,
  /** The audit's report (the direct engine's shape), where a scheduled run leaves it. */
  report: (runId: string) => `shared/audits/${runId}/report.json`,
};

const runId = ListPageEvent.shape.runId;
const count = z.number().int("a whole number").min(0, "a number from 0");
const AuditItem = z.strictObject({
  key: relativeKey,
  size: count,
  etag: z.string().min(1),
  sampled: z.boolean(),
});
const AuditHead = z.strictObject({
  exists: z.boolean(),
  /** The bucket and key the destination serves the object from: the source knows neither. */
  bucket: z.string().min(1),
  key: z.string().min(1),
  etag: z.string().optional(),
  size: count.optional(),
});
const caught = z.object({ Error: z.string(), Cause: z.string().optional() });

export const AuditObjectEvent = z.strictObject({ runId, key: relativeKey });
export const AuditSourceEvent = z.strictObject({ runId, item: AuditItem, head: AuditHead });
export const AuditCompareEvent = z.strictObject({ runId, item: AuditItem });
export const AuditRecordEvent = z.strictObject({
  runId,
  item: AuditItem,
  head: AuditHead.optional(),
  error: caught.optional(),
});

/** One object's outcome, as the report step adds it up. */
interface AuditResult {
  key: string;
  size: number;
  present: boolean;
  /** The destination object's size, where its head or answer stated it. */
  destinationSize?: number;
  ranges: number;
  sampledBytes: number;
  verdicts: RangeVerdict[];
  bytes: { sourceRead: number; destinationRead: number };
  failure?: { code: string; message: string };
}

function side(
  ctx: AuditSourceContext | AuditDestinationContext,
  which: "source" | "destination",
  onRead: (n: number) => void,
): AuditSide {
  return {
    store: ctx.store,
    side: which,
    secret: ctx.secret,
    limiter: new Limiter(ctx.concurrency),
    onRead,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
}

/** An object as the sampler holds it across pages: what its item needs. */
type Offered = Pick<z.infer<typeof AuditItem>, "key" | "size" | "etag">;

/**
 * Lists a page of the source and draws its sample (a fraction or every range: a count needs
 * the whole listing first, which one page cannot see). Page 0 draws the run's nonce. The page's
 * key range is kept for the destination, which counts the keys in it the source lacks.
 * The pages are one stream to the sampler, as the direct engine's listing is: each page goes on
 * from where the one before left it (a retried page from the same place), and the last gives the
 * one range held where no stratum drew any, which may be an earlier page's object: it is then
 * an item of this page too, whose result replaces the one recorded for it unsampled.
 */
export async function auditList(ctx: AuditSourceContext, event: z.infer<typeof ListPageEvent>) {
  if (ctx.sample.kind === "count") {
    throw new ValidationError(
      "sample",
      "a fraction or full with the workflow engine (a count needs the whole listing)",
    );
  }
  if ((await ctx.work.get(auditKeys.nonce(event.runId))) === undefined) {
    await ctx.work.put(auditKeys.nonce(event.runId), { nonce: drawAuditNonce() });
  }
  const before =
    event.page > 0
      ? await need<SamplerState<Offered>>(ctx.work, auditKeys.sampler(event.runId, event.page - 1))
      : undefined;
  const sampler = new Sampler<Offered>(ctx.sample, ctx.rangeSize, undefined, before);
  const selected = keySelection(ctx.filters ?? []);
  const after = event.after ?? undefined;
  const items: z.infer<typeof AuditItem>[] = [];
  let bytes = 0;
  let more = false;
  for await (const { object: o, key } of listAfter(ctx.store, "source", ctx.prefix, after, ctx.signal)) {
    if (!selected(key)) continue;
    if (items.length >= ctx.pageSize || bytes >= PAGE_BYTES) {
      more = true;
      break;
    }
    const offered = { key, size: o.size, etag: o.etag };
    const drawn = sampler.offer(offered, o.size);
    if (drawn) await ctx.work.put(auditKeys.sample(event.runId, key), drawn.ranges);
    const item = { ...offered, sampled: drawn !== undefined };
    items.push(item);
    bytes += jsonBytes(item);
  }
  const keys = items.map((i) => i.key);
  if (more) await ctx.work.put(auditKeys.sampler(event.runId, event.page), sampler.state());
  else
    for (const held of sampler.rest()) {
      await ctx.work.put(auditKeys.sample(event.runId, held.item.key), held.ranges);
      const item = items.find((i) => i.key === held.item.key);
      if (item) item.sampled = true;
      else items.push({ ...held.item, sampled: true });
    }
  const next = await endPage(ctx.work, auditKeys.page(event.runId, event.page), keys, {
    page: event.page,
    after,
    more,
  });
  return { items, next };
}

/**
 * Destination: counts its objects in a page's key range that the source does not hold (after
 * the filters), as the sync's destination-only step finds them; they are not audited.
 */
export async function destinationAuditExtras(ctx: AuditDestinationContext, event: z.infer<typeof PageEvent>) {
  const page = await need<PageRecord>(ctx.work, auditKeys.page(event.runId, event.page));
  const onSource = new Set(page.keys);
  const selected = keySelection(ctx.filters ?? []);
  let extra = 0;
  for await (const { key } of listPage(ctx.store, "destination", ctx.prefix, page, ctx.signal)) {
    if (!onSource.has(key) && selected(key)) extra++;
  }
  await ctx.work.put(auditKeys.extra(event.runId, event.page), { extra });
  return { extra };
}

/** Destination: the version of the object it holds now, named in the request the source builds. */
export async function destinationAuditHead(
  ctx: AuditDestinationContext,
  event: z.infer<typeof AuditObjectEvent>,
) {
  const key = ctx.prefix + event.key;
  // A key S3 cannot hold fails alone (EMPTY_KEY, KEY_TOO_LONG), as sync fails it.
  checkDestinationKey(key);
  const head = await ctx.store.head(key, ctx.signal);
  const named = { bucket: ctx.store.bucket, key };
  return head ? { exists: true, ...named, etag: head.etag, size: head.size } : { exists: false, ...named };
}

/** Source: builds the object's request and keeps its own values of the ranges, read now. */
export async function auditSource(ctx: AuditSourceContext, event: z.infer<typeof AuditSourceEvent>) {
  const { runId: id, item, head } = event;
  if (head.etag === undefined) throw new ValidationError("head.etag", "the destination's ETag");
  const { nonce } = await need<{ nonce: string }>(ctx.work, auditKeys.nonce(id));
  const ranges = await need<SampledRange[]>(ctx.work, auditKeys.sample(id, item.key));
  const request = auditRequest({
    nonce,
    source: { bucket: ctx.store.bucket, key: ctx.prefix + item.key, etag: item.etag },
    destination: { bucket: head.bucket, key: head.key, etag: head.etag },
    ranges,
  });
  let sourceRead = 0;
  const expected = await expectAudit(
    side(ctx, "source", (n) => {
      sourceRead += n;
    }),
    request,
  );
  await ctx.work.put(auditKeys.request(id, item.key), request);
  await ctx.work.put(auditKeys.expectation(id, item.key), {
    values: [...expected].map(([offset, value]) => [offset, value.toString("base64")]),
    sourceRead,
  });
  return { sourceRead };
}

/** Destination: answers the request from its own bytes, read now and pinned to the ETag it names. */
export async function destinationAudit(
  ctx: AuditDestinationContext,
  event: z.infer<typeof AuditObjectEvent>,
) {
  const request = await need<AuditRequest>(ctx.work, auditKeys.request(event.runId, event.key));
  let destinationRead = 0;
  const response = await answerAudit(
    side(ctx, "destination", (n) => {
      destinationRead += n;
    }),
    request,
  );
  await ctx.work.put(auditKeys.response(event.runId, event.key), { response, destinationRead });
  return { destinationRead };
}

/** Source: compares the answer with its own values and records the object's verdicts. */
export async function auditCompare(ctx: AuditSourceContext, event: z.infer<typeof AuditCompareEvent>) {
  const { runId: id } = event;
  const { key, size } = event.item;
  const request = await need<AuditRequest>(ctx.work, auditKeys.request(id, key));
  const kept = await need<{ values: [number, string][]; sourceRead: number }>(
    ctx.work,
    auditKeys.expectation(id, key),
  );
  const answered = await need<{ response: AuditResponse; destinationRead: number }>(
    ctx.work,
    auditKeys.response(id, key),
  );
  const expected = new Map(kept.values.map(([offset, value]) => [offset, Buffer.from(value, "base64")]));
  const verdicts = compareAudit(request, expected, answered.response);
  const result: AuditResult = {
    key,
    size,
    present: true,
    destinationSize: answered.response.destination.size,
    ranges: request.ranges.length,
    sampledBytes: request.ranges.reduce((sum, r) => sum + r.length, 0),
    verdicts: verdicts.filter((v) => v.status !== "equal"),
    bytes: { sourceRead: kept.sourceRead, destinationRead: answered.destinationRead },
  };
  const equal = verdicts.length - result.verdicts.length;
  await ctx.work.put(auditKeys.result(id, key), { ...result, equal });
  return { equal, differing: result.verdicts.length };
}

/** Source: records an object not judged (not sampled, missing on the destination, or failed). */
export async function auditRecord(ctx: AuditSourceContext, event: z.infer<typeof AuditRecordEvent>) {
  const { runId: id, item, head, error } = event;
  const result: AuditResult = {
    key: item.key,
    size: item.size,
    present: head?.exists ?? true,
    ...(head?.size !== undefined ? { destinationSize: head.size } : {}),
    ranges: 0,
    sampledBytes: 0,
    verdicts: [],
    bytes: { sourceRead: 0, destinationRead: 0 },
    ...(error ? { failure: failureOf(error) } : {}),
  };
  await ctx.work.put(auditKeys.result(id, item.key), result);
  return { recorded: true };
}

/**
 * Adds up every object's result into the report (the direct engine's shape) and stores it; its
 * start and duration are the run's, from the execution's start where the event gives it.
 */
export async function auditReport(ctx: AuditSourceContext, event: z.infer<typeof AuditReportEvent>) {
  const started = event.startedAt === undefined ? undefined : Date.parse(event.startedAt);
  const tally = new AuditTally(ctx.sample, ctx.rangeSize, started);
  for await (const name of ctx.work.list(auditKeys.results(event.runId))) {
    const r = await need<AuditResult & { equal?: number }>(ctx.work, name);
    addResult(tally, r);
  }
  for await (const name of ctx.work.list(auditKeys.extras(event.runId))) {
    tally.report.objects.extra += (await need<{ extra: number }>(ctx.work, name)).extra;
  }
  const report = tally.finish(event.settled === true);
  await ctx.work.put(auditKeys.report(event.runId), report);
  return { ranges: report.ranges, objects: report.objects };
}

function addResult(tally: AuditTally, r: AuditResult & { equal?: number }): void {
  tally.listed(r.key, r.size, r.present, r.destinationSize);
  if (r.failure) tally.failed(r.key, r.failure);
  if (r.ranges > 0 && !r.failure) {
    tally.sampled(r.ranges, r.sampledBytes);
    // Equal ranges are counted, not named: only their number was kept.
    tally.judged(r.key, [
      ...r.verdicts,
      ...Array.from(
        { length: r.equal ?? 0 },
        (): RangeVerdict => ({ offset: 0, length: 0, status: "equal" }),
      ),
    ]);
  }
  tally.report.bytes.sourceRead += r.bytes.sourceRead;
  tally.report.bytes.destinationRead += r.bytes.destinationRead;
}

function step<C, S extends z.ZodType>(
  schema: S,
  run: (ctx: C, event: z.infer<S>) => Promise<unknown>,
): Step<C> {
  return { schema, run: (ctx, event) => run(ctx, parseEvent(schema, event) as z.infer<S>) };
}

/** The audit's source-side steps. */
export const AUDIT_SOURCE_STEPS = {
  auditList: step(ListPageEvent, auditList),
  auditSource: step(AuditSourceEvent, auditSource),
  auditCompare: step(AuditCompareEvent, auditCompare),
  auditRecord: step(AuditRecordEvent, auditRecord),
  auditReport: step(AuditReportEvent, auditReport),
} satisfies Record<AuditSourceFunction, Step<AuditSourceContext>>;

/** The audit's destination-side steps, reached through the relay. */
export const AUDIT_DESTINATION_STEPS = {
  destinationAuditHead: step(AuditObjectEvent, destinationAuditHead),
  destinationAuditExtras: step(PageEvent, destinationAuditExtras),
  destinationAudit: step(AuditObjectEvent, destinationAudit),
} satisfies Record<string, Step<AuditDestinationContext>>;

export type AuditDestinationTarget = keyof typeof AUDIT_DESTINATION_STEPS;
export type { AuditReport };
