import {
  type AssemblyPlan,
  allChunks,
  attributesOf,
  type ChunkPlan,
  checkDestinationKey,
  chunkRange,
  type DecideObjectParams,
  type DecisionOptions,
  decideObject,
  decisionOptionsOf,
  type ObjectAttributes,
  type ObjectDecision,
  type ObjectIdentity,
  planChunks,
  rebuildsChangedInPlace,
  settledCopies,
  type VerifyMode,
} from "@chunksync/core";
import { destinationTraits, type ObjectHead, type ObjectStore } from "@chunksync/storage";
import type { DestinationSide } from "./DestinationSide.js";
import type { KeyEntries } from "./digestIndex/IndexRecorder.js";
import { ObjectChangedError, RunAbortedError, SourceDeletedError } from "./errors.js";
import type { Limiter } from "./Limiter.js";
import type { ObjectResult } from "./ObjectResult.js";
import type { PartBuffers } from "./PartBuffers.js";
import { blocksPay, exchangeBlocks } from "./phases/blocks.js";
import {
  changedChunks,
  changedHeld,
  changedInOrder,
  checkWritten,
  exchange,
  unchangedHeldBatch,
} from "./phases/challenge.js";
import {
  copiedFromOld,
  copiesKnown,
  destinationEntry,
  destinationWrittenEntry,
  probeCopyPins,
  sourceEntry,
} from "./phases/indexEntries.js";
import {
  etagIsMd5,
  headsFromIndexes,
  type IndexedPair,
  type InspectedPair,
  inspect,
  type ListedPair,
  readAttributes,
  type SidesVersioned,
  sourceIdentity,
} from "./phases/inspect.js";
import { decidedResult, failedWith, type PlannedSource, unverifiedResult } from "./phases/result.js";
import {
  abandonEarly,
  checkMemory,
  copyEarly,
  type EarlyUpload,
  keepingTags,
  type ObjectWrite,
  uploadAhead,
  type WriteContext,
  writeEarly,
  writeObject,
} from "./phases/write.js";
import type { RunStats } from "./RunStats.js";
import type { SourceSide } from "./SourceSide.js";

/** Everything one object's sync needs; built once per run by runSync (or by a Lambda handler). */
export interface ObjectSyncContext {
  source: ObjectStore;
  destination: ObjectStore;
  sourceSide: SourceSide;
  destinationSide: DestinationSide;
  limiter: Limiter;
  /** Buffers for parts read whole before upload, reused by every object of the run within its memory budget. */
  buffers: PartBuffers;
  stats: RunStats;
  chunkSize: number;
  verify: VerifyMode;
  /** Both sides are one endpoint and account: changed chunks are copied server-side too. */
  serverSideCopy: boolean;
  /** Copy the source's tag set onto written objects. */
  copyTags: boolean;
  /** Match changed chunks block by block against the old object, so that only what changed crosses. */
  blocks: boolean;
  dryRun: boolean;
  /** How many times an object restarts from its plan after it changed under the run. */
  maxAttempts: number;
  /** Whether each side's bucket keeps or kept versions, or could not tell (see `InspectContext`). */
  versioned: SidesVersioned;
  /**
   * The destination keeps a digest index: only for its entry is a written version's copied
   * chunks' digest worth the probe that tells whether the copies were pinned (see copiedFromOld).
   */
  indexesDestination: boolean;
  /** Whether the run writes the destination's new index (not `sync --dry-run`). */
  keepsDestinationEntries: boolean;
  signal?: AbortSignal;
}

/**
 * What the digest indexes bring to one object and take from it: the entries that stood for
 * the listed versions, and, once the object settled, each side's entry for the version it
 * settled at (none where a side's digests of it are not all known) and whether each side took
 * its digests from its entry instead of reading.
 */
export interface ObjectIndexing {
  found: IndexedPair;
  made: KeyEntries;
  used: { source: boolean; destination: boolean };
  /** The write's copies from the old version were not pinned to it (see `copiedFromOld`): its entry lacks them. */
  unpinned?: boolean;
  /** A chunk called changed was rebuilt from the old object in place (see `rebuildsChangedInPlace`): no entry kept. */
  distrusted?: boolean;
  /** Both sides were headed (from their entries or by reads): an object that failed before decided nothing on either side. */
  inspected?: boolean;
}

/** Indexing for an object with no stored entries yet. */
export function newIndexing(found: IndexedPair = {}): ObjectIndexing {
  return { found, made: {}, used: { source: false, destination: false } };
}

/**
 * What a failed object leaves in the indexes: the stored entries the run found for it, as a
 * stopped run keeps those of the keys it did not settle. Each stands only for the version it
 * names, so one the failure made stale (a write that completed, a source that changed) never
 * decides a later run; one still true spares that run a read (a destination that refused every
 * write cost the next run against another destination a read of the whole source).
 */
export function storedOnly(found: IndexedPair): KeyEntries {
  const kept: KeyEntries = {};
  // A rot mark stays until a new version replaces it.
  const source = found.source ?? found.sourceRotted;
  const destination = found.destination ?? found.destinationRotted;
  if (source) kept.source = source;
  if (destination) kept.destination = destination;
  return kept;
}

/**
 * Whether a failed attempt is tried again: a changed source is re-planned against its new
 * version. A destination another writer replaced is left to that writer: the run never
 * overwrites a version it did not challenge. It is challenged again, writing nothing (see
 * {@link rechecks}). The workflow's MayRestart state says the same in ASL.
 */
function restarts(error: unknown, attempt: number, maxAttempts: number): boolean {
  return (
    error instanceof ObjectChangedError &&
    error.side === "source" &&
    !(error instanceof SourceDeletedError) &&
    attempt < maxAttempts
  );
}

/**
 * Whether a destination another writer replaced under the run is challenged again, in an
 * attempt that writes nothing: where that writer wrote the source's bytes (another sync of the
 * same pair), the pair is identical; else the change is reported, and the next run decides.
 */
function rechecks(error: unknown, attempt: number, maxAttempts: number): boolean {
  return error instanceof ObjectChangedError && error.side === "destination" && attempt < maxAttempts;
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
  indexing: ObjectIndexing = newIndexing(),
): Promise<ObjectResult> {
  /** The destination's change that made this attempt a recheck (see {@link rechecks}). */
  let replaced: unknown;
  for (let attempt = 1; ; attempt++) {
    const keys = { sourceKey, destinationKey, attempts: attempt };
    indexing.made = {};
    try {
      // A key S3 cannot hold fails here, before the source is read for it.
      checkDestinationKey(destinationKey);
      // A restart heads both sides afresh: the listing (and what the index said of the
      // versions it named) is older than what made it restart.
      const listedNow = attempt === 1 ? listed : undefined;
      if (replaced === undefined) return await attemptObject(ctx, keys, listedNow, indexing, attempt === 1);
      const again = await attemptObject({ ...ctx, dryRun: true }, keys, listedNow, indexing, false);
      if (again.state === "identical") return again;
      indexing.made = storedOnly(indexing.found);
      return failedWith(keys, replaced, listed?.source.size ?? 0);
    } catch (error) {
      if (ctx.signal?.aborted) throw new RunAbortedError(error);
      indexing.made = {};
      if (!ctx.dryRun && restarts(error, attempt, ctx.maxAttempts)) continue;
      if (!ctx.dryRun && replaced === undefined && rechecks(error, attempt, ctx.maxAttempts)) {
        replaced = error;
        continue;
      }
      indexing.made = storedOnly(indexing.found);
      return failedWith(keys, error, listed?.source.size ?? 0);
    } finally {
      await Promise.all([ctx.sourceSide.forget(sourceKey), ctx.destinationSide.forget(destinationKey)]);
    }
  }
}

/** One attempt: inspect, challenge, decide, write, verify. */
async function attemptObject(
  ctx: ObjectSyncContext,
  keys: { sourceKey: string; destinationKey: string; attempts: number },
  listed: ListedPair | undefined,
  indexing: ObjectIndexing,
  first: boolean,
): Promise<ObjectResult> {
  const { source, destination } = ctx;
  const { sourceKey, destinationKey } = keys;
  // Each side's clock before it reads: a digest taken after it is of the version it reads.
  const readsFrom = { source: source.serverTime(), destination: destination.serverTime() };
  const inspected = await inspect(ctx, sourceKey, destinationKey, listed, first ? indexing.found : {});
  const { source: src, destination: dst } = inspected;
  indexing.used = inspected.used;
  indexing.inspected = true;
  const plan = planChunks(src.size, ctx.chunkSize);
  const srcId = sourceIdentity(source.bucket, sourceKey, src);
  const readable = !src.archived;
  const [attributes, dstAttributes] = await Promise.all([
    readAttributes(source, src, ctx.copyTags, "source"),
    dst && readAttributes(destination, dst, ctx.copyTags && readable, "destination"),
  ]);
  // The write's context only where a write may follow: a pair found identical (most objects of
  // a `check`) builds none of it.
  let writer: ObjectWriter | undefined;
  const write = () => {
    writer ??= objectWriter(ctx, destinationKey, srcId, src, dst, plan, attributes);
    return writer;
  };
  // A source whose index entry no longer stands (its digests are of the key's last version)
  // has most often changed: the multipart upload its write would create is created while the
  // challenge reads, not a round trip after it, and aborted where the decision writes none or
  // writes in one request (a rewrite of the same bytes costs that create and abort).
  const ahead =
    first &&
    indexing.found.sourcePrior !== undefined &&
    dst !== undefined &&
    readable &&
    !ctx.dryRun &&
    plan.count > 1
      ? uploadAhead(write().writing, destinationKey, attributes)
      : undefined;
  let early: Promise<EarlyUpload | undefined> | undefined = ahead;
  const paramsOf = (verdict: readonly number[] | undefined, assembly: AssemblyPlan | undefined) =>
    decisionParams(
      ctx,
      { src, attributes },
      dst && dstAttributes && { dst, dstAttributes },
      plan,
      verdict,
      assembly,
    );
  // Such an object's chunks are decided in order as they are read: the old object's unchanged
  // runs a changed chunk has ended are copied into the upload created ahead while the rest is
  // read (see `settledCopies`). Others take one exchange: a challenge per window costs CPU that
  // an object that most often needs no write would not repay.
  const copySettled = (decided: number, verdict: readonly number[]) => {
    const settled = settledCopies(paramsOf(verdict, undefined), decided);
    if (settled === undefined || early === undefined) return;
    const { writing, writeOf } = write();
    early = early.then((e) => e && copyEarly(writing, e, writeOf(settled.decision), settled.parts));
    early.catch(() => {});
  };
  try {
    let changed: number[] | undefined;
    if (dst !== undefined && readable) {
      const { sourceSide, destinationSide } = ctx;
      if (plan.count === 0) changed = [];
      else if (ahead === undefined)
        changed = changedChunks(
          await exchange(sourceSide, destinationSide, srcId, dst, plan, allChunks(plan)),
        );
      else changed = await changedInOrder(sourceSide, destinationSide, srcId, dst, plan, copySettled);
    }
    const decide = (assembly: AssemblyPlan | undefined) => decideObject(paramsOf(changed, assembly));
    const { algorithm } = ctx.sourceSide.options;
    // While the block exchange runs, the upload is created and the old object's unchanged runs
    // are copied as the chunk-level compose copies them: whatever the exchange finds, they are
    // parts of the write. Its upload starts with the exchange where it was not created ahead.
    const settings = {
      blocks: ctx.blocks,
      serverSideCopy: ctx.serverSideCopy,
      dryRun: ctx.dryRun,
      copySourceEscapesReadOnce: ctx.destination.capabilities.copySourceEscapesReadOnce,
    };
    const pays = blocksPay(settings, dst, plan, changed);
    if (pays) early = writeEarly(write().writing, write().writeOf(decide(undefined)), early);
    // Awaited at the write or below; a failed start is then the write's failure.
    early?.catch(() => {});
    // Changed chunks are matched block by block against the old object, where that can pay.
    const assembly = pays
      ? await exchangeBlocks(
          ctx.sourceSide,
          ctx.destinationSide,
          settings,
          srcId,
          dst,
          plan,
          changed,
          (n) => {
            ctx.stats.plannedWork += n;
          },
        )
      : undefined;
    const decision = decide(assembly);
    const planned = plannedSource(source.bucket, src, plan);
    // The entries the sides took their digests from, as inspect left them.
    const used = (side: "source" | "destination") =>
      inspected.used[side] ? inspected.entries[side] : undefined;
    const sourceMade = () =>
      sourceEntry(ctx.sourceSide, src, attributes, readsFrom.source, ctx.chunkSize, used("source"));
    if (decision.action === "none" || ctx.dryRun || !readable) {
      // A destination of another size than the source was read only where chunks compare: the
      // rest is read too where that is cheaper than reading the part again in every run.
      if (dst && readable && ctx.keepsDestinationEntries && !used("destination"))
        await ctx.destinationSide.completeDigests(dst, algorithm, ctx.chunkSize);
      indexing.made = {
        source: readable ? sourceMade() : undefined,
        destination:
          dst && dstAttributes
            ? destinationEntry(
                ctx.destinationSide,
                dst,
                dstAttributes,
                readsFrom.destination,
                algorithm,
                ctx.chunkSize,
                used("destination"),
              )
            : undefined,
      };
      return decidedResult(keys, planned, decision, false);
    }
    const { writing, writeOf, uploaded, trustWrite } = write();
    const asDecided = writeOf(decision);
    const toWrite = await keepingTags(destination, asDecided, ctx.copyTags);
    // A write its memory cannot hold fails before it starts (an early upload is aborted below).
    checkMemory(writing, toWrite);
    // runSync planned a copy's work when its listings had the object on the source only.
    const plannedAtListing = dst === undefined && listed !== undefined && listed.destination === undefined;
    const validated = skipsReadBack(ctx);
    if (!plannedAtListing) ctx.stats.plannedWork += writeWork(plan, decision, dst !== undefined, validated);
    const handed = early;
    early = undefined;
    // The probe copiedFromOld awaits below, where one is needed, runs beside the write.
    const copyDigests = dst !== undefined && copiesKnown(decision, trustWrite) && ctx.indexesDestination;
    if (copyDigests) probeCopyPins(plan, decision, dst, destinationKey, destination, ctx.signal);
    // An upload begun ahead states the source's attributes: a write that keeps the destination's
    // tags begins its own.
    const keptAhead = toWrite === asDecided ? await handed : undefined;
    if (toWrite !== asDecided) await abandonEarly(writing, await handed?.catch(() => undefined));
    const { etag, versionId } = await writeObject(writing, toWrite, keptAhead);

    const writtenAt = destination.serverTime();
    try {
      // Chunks uploaded with a Content-MD5 the server checked, and chunks copied from the old
      // version this side had digested (where the copy was pinned to it), are known without a read.
      const written = { key: destinationKey, etag };
      const copied = copyDigests
        ? await copiedFromOld(plan, decision, dst, written, destination, ctx.signal)
        : undefined;
      indexing.unpinned = copied?.unpinned;
      ctx.destinationSide.written(destinationKey, etag, algorithm, uploaded, copied);
      if (decision.verify.length > 0) {
        const written = { key: destinationKey, etag, size: plan.size };
        // The object was just written at this ETag and size; the answer's reads are pinned to it.
        checkWritten(
          await exchange(ctx.sourceSide, ctx.destinationSide, srcId, written, plan, decision.verify),
        );
      }
    } catch (error) {
      if (!ctx.signal?.aborted) throw error;
      // Written, then stopped: the write is reported, and the destination keeps no entry for
      // it, so the next run reads and challenges it.
      indexing.made = { source: sourceMade() };
      return unverifiedResult(decidedResult(keys, planned, decision, true));
    }
    // The block round found a chunk called changed byte for byte alike on both sides: a digest
    // one side held (its index entry) was not of its bytes. Neither side keeps an entry of the
    // object, so the next run reads both and decides from what they hold; kept, the entries
    // would call the object changed, and rewrite it, in every run.
    if (assembly !== undefined && changed !== undefined && rebuildsChangedInPlace(plan, changed, assembly)) {
      indexing.distrusted = true;
      indexing.made = {};
      return decidedResult(keys, planned, decision, true);
    }
    indexing.made = {
      source: sourceMade(),
      destination: destinationWrittenEntry(
        ctx.destinationSide,
        { key: destinationKey, size: plan.size, etag, versionId },
        attributes,
        writtenAt,
        algorithm,
        ctx.chunkSize,
      ),
    };
    return decidedResult(keys, planned, decision, true);
  } finally {
    // Anything but the write (an exchange that failed, a decision to write nothing) leaves it.
    if (early !== undefined) await abandonEarly(write().writing, await early.catch(() => undefined));
  }
}

/** A pair both indexes may answer for, as {@link decideIndexed} takes it. */
export interface IndexedCandidate {
  sourceKey: string;
  destinationKey: string;
  listed: ListedPair;
  indexing: ObjectIndexing;
}

/** A candidate headed from its entries and planned: what is left to decide is its challenge. */
interface HeadedCandidate {
  candidate: IndexedCandidate;
  inspected: InspectedPair & { destination: ObjectHead };
  srcId: ObjectIdentity;
  plan: ChunkPlan;
}

/**
 * {@link syncObject} for pairs whose both listed versions still stand in their indexes (see
 * `headsFromIndexes`) and that need no write: both heads and digests from the entries, the
 * challenge with a fresh nonce (each side's keyed value from its own digests, compared on the
 * source's side) and the decision, all without a request or a turn of the event loop, so that
 * a run decides the unchanged objects of a large listing as the listing comes. The pairs of
 * one size on both sides are challenged together first (see `HeldBatch`): where that finds
 * them all equal, no pair needs a challenge of its own. A result per candidate, in order;
 * undefined, with nothing settled, where that does not hold (tags to compare, an entry of a
 * version this side wrote, an archived object, a pair that differs and must be written, a
 * failure): the caller runs {@link syncObject}, which finds the same or reports the failure.
 */
export function decideIndexed(
  ctx: ObjectSyncContext,
  candidates: readonly IndexedCandidate[],
): (ObjectResult | undefined)[] {
  if (ctx.copyTags || ctx.signal?.aborted) return candidates.map(() => undefined);
  const headed = candidates.map((candidate) => headedFromIndexes(ctx, candidate));
  try {
    const batched = headed.filter(
      (h): h is HeadedCandidate =>
        h !== undefined && h.plan.count > 0 && h.inspected.destination.size === h.plan.size,
    );
    const inBatch = new Set(batched);
    let unchanged: boolean | undefined;
    try {
      unchanged =
        batched.length > 1
          ? unchangedHeldBatch(
              ctx.sourceSide,
              ctx.destinationSide,
              batched.map((h) => ({ source: h.srcId, destination: h.inspected.destination, plan: h.plan })),
            )
          : undefined;
    } catch {
      // Each pair's own challenge meets what failed here, and tells which pair it was.
    }
    return headed.map((h) => {
      if (h === undefined) return undefined;
      try {
        return decidedFromIndexes(ctx, h, unchanged === true && inBatch.has(h) ? [] : undefined);
      } catch {
        // syncObject meets the same failure and reports it.
        return undefined;
      }
    });
  } finally {
    // No read ahead was started for a pair both indexes answered for: nothing to wait for.
    for (const { sourceKey, destinationKey } of candidates) {
      void ctx.sourceSide.forget(sourceKey);
      void ctx.destinationSide.forget(destinationKey);
    }
  }
}

/** `candidate`'s heads and digests from its entries, and its plan; undefined where they do not serve. */
function headedFromIndexes(ctx: ObjectSyncContext, candidate: IndexedCandidate): HeadedCandidate | undefined {
  try {
    const inspected = headsFromIndexes(ctx, candidate.listed, candidate.indexing.found);
    const dst = inspected?.destination;
    if (inspected === undefined || dst === undefined) return undefined;
    checkDestinationKey(candidate.destinationKey);
    const plan = planChunks(inspected.source.size, ctx.chunkSize);
    const srcId = sourceIdentity(ctx.source.bucket, candidate.sourceKey, inspected.source);
    return { candidate, inspected: { ...inspected, destination: dst }, srcId, plan };
  } catch {
    return undefined;
  }
}

/**
 * The result of a headed candidate that needs no write, its challenge's verdict `changed`
 * (the pair's own challenge where undefined); undefined where it needs one.
 */
function decidedFromIndexes(
  ctx: ObjectSyncContext,
  { candidate, inspected, srcId, plan }: HeadedCandidate,
  changed: number[] | undefined,
): ObjectResult | undefined {
  const { source: src, destination: dst } = inspected;
  let found = changed;
  if (found === undefined)
    found =
      plan.count > 0
        ? changedHeld(ctx.sourceSide, ctx.destinationSide, srcId, dst, plan, allChunks(plan))
        : [];
  if (found === undefined) return undefined;
  const attributes = attributesOf(src);
  const dstAttributes = attributesOf(dst);
  const decision = decideObject(
    decisionParams(ctx, { src, attributes }, { dst, dstAttributes }, plan, found, undefined),
  );
  if (decision.action !== "none" && !ctx.dryRun) return undefined;
  const { indexing, sourceKey, destinationKey } = candidate;
  indexing.used = inspected.used;
  indexing.made = { source: inspected.entries.source, destination: inspected.entries.destination };
  const keys = { sourceKey, destinationKey, attempts: 1 };
  return decidedResult(keys, plannedSource(ctx.source.bucket, src, plan), decision, false);
}

/** What the decision on one object is made from: both sides' heads and attributes, and the challenge's verdict. */
function decisionParams(
  ctx: ObjectSyncContext,
  { src, attributes }: { src: ObjectHead; attributes: ObjectAttributes },
  destination: { dst: ObjectHead; dstAttributes: ObjectAttributes } | undefined,
  plan: ChunkPlan,
  changed: readonly number[] | undefined,
  assembly: AssemblyPlan | undefined,
): DecideObjectParams {
  return {
    source: { size: src.size, etag: src.etag, archived: src.archived, etagIsMd5: etagIsMd5(src), attributes },
    destination: destination && {
      size: destination.dst.size,
      etag: destination.dst.etag,
      attributes: destination.dstAttributes,
    },
    plan,
    changed,
    assembly,
    options: decisionOptions(ctx, ctx.copyTags, { source: src.key, old: destination?.dst.key }),
  };
}

/** The source object as its result names it. */
function plannedSource(bucket: string, src: ObjectHead, plan: ChunkPlan): PlannedSource {
  return {
    bucket,
    size: src.size,
    archived: src.archived,
    ...(src.storageClass ? { storageClass: src.storageClass } : {}),
    plan,
  };
}

/** What writing one object takes: its write context, its writes, and what its uploads tell. */
interface ObjectWriter {
  writing: WriteContext;
  writeOf: (decision: ObjectDecision) => ObjectWrite;
  /** Chunks uploaded with a Content-MD5 the destination checked, with their digests. */
  uploaded: Array<{ offset: number; length: number; digest: Buffer }>;
  /** The destination checks each body against its Content-MD5, and not `--verify full`. */
  trustWrite: boolean;
}

function objectWriter(
  ctx: ObjectSyncContext,
  destinationKey: string,
  srcId: ObjectIdentity,
  src: ObjectHead,
  dst: ObjectHead | undefined,
  plan: ChunkPlan,
  attributes: ObjectAttributes,
): ObjectWriter {
  const { source, destination } = ctx;
  const { algorithm } = ctx.sourceSide.options;
  const uploaded: Array<{ offset: number; length: number; digest: Buffer }> = [];
  // The destination side keeps its digest of each part the server checked against its
  // Content-MD5 (under `--verify full` every written chunk is read back instead).
  const trustWrite = destination.capabilities.writeChecksums.contentMd5 && ctx.verify !== "full";
  const writing: WriteContext = {
    destination,
    limiter: ctx.limiter,
    buffers: ctx.buffers,
    bytes: ctx.stats.bytes,
    sending: (n) => {
      ctx.stats.sending += n;
    },
    headSource: (key) => source.head(key, ctx.signal),
    // One pass over each part read gives its Content-MD5, the source side's digest of the
    // chunk and, where the destination checks that MD5, the destination's digest of it.
    uploaded: {
      algorithm,
      read: (chunk, digest) => ctx.sourceSide.keepDigest(srcId, chunk.index, digest),
      ...(trustWrite
        ? { accepted: (c, digest) => uploaded.push({ offset: c.offset, length: c.length, digest }) }
        : {}),
    },
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
  const writeOf = (decision: ObjectDecision): ObjectWrite => ({
    key: destinationKey,
    attributes,
    decision,
    source: { ...srcId, size: src.size },
    plan,
    sourceRef: source.ref(srcId.key, src.etag, src.versionId),
    ...(dst
      ? {
          old: {
            ref: destination.ref(destinationKey, dst.etag, dst.versionId),
            size: dst.size,
            held: (range: { offset: number; length: number }) =>
              ctx.destinationSide.oldBytes(destinationKey, dst.etag, range),
          },
        }
      : {}),
    parts: {
      held: () => (plan.count === 1 ? ctx.sourceSide.takeHeld(srcId) : undefined),
      readInto: (range, sink) => ctx.sourceSide.readRange(srcId, range, sink),
    },
  });
  return { writing, writeOf, uploaded, trustWrite };
}

/**
 * Whether a chunk uploaded (from the source, or assembled) is verified without reading it
 * back: under `--verify changed` on a destination that checks each body against its
 * Content-MD5 (`--verify full` reads everything back).
 */
function skipsReadBack(ctx: Pick<ObjectSyncContext, "verify" | "destination">): boolean {
  return ctx.verify === "changed" && ctx.destination.capabilities.writeChecksums.contentMd5;
}

/**
 * Bytes of work a write does, in RunStats' units: each part once, each verified chunk read
 * on the destination (unless it was uploaded, from the source or assembled, and `validated`:
 * its digest is kept from the upload), and on the source too unless the source side already
 * holds its digest (every chunk of a `challenged` object, as every assembled one is; every
 * chunk it uploaded).
 */
function writeWork(
  plan: ChunkPlan,
  decision: ObjectDecision,
  challenged: boolean,
  validated: boolean,
): number {
  let work = 0;
  const uploaded = new Set<number>();
  for (const p of decision.parts) {
    work += p.length;
    if (p.kind !== "sourceBytes" && p.kind !== "assembled") continue;
    for (let i = p.firstChunk; i < p.firstChunk + p.chunkCount; i++) uploaded.add(i);
  }
  for (const i of decision.verify) {
    const reads = (uploaded.has(i) && validated ? 0 : 1) + (challenged || uploaded.has(i) ? 0 : 1);
    work += reads * chunkRange(plan, i).length;
  }
  return work;
}

/**
 * Bytes of work of copying a whole object of `size` bytes that the destination lacks (see
 * RunStats): `size` times a factor of the run's options.
 */
export function copyWork(ctx: ObjectSyncContext, size: number): number {
  const plan = planChunks(size, ctx.chunkSize);
  const decision = decideObject({
    source: { size, etag: "", archived: false, attributes: { metadata: {} } },
    destination: undefined,
    plan,
    changed: undefined,
    options: decisionOptions(ctx, false, { source: "", old: undefined }),
  });
  return writeWork(plan, decision, false, skipsReadBack(ctx));
}

/** The run's options as the decision takes them (see `decisionOptionsOf`), for `keys`. */
function decisionOptions(
  ctx: Pick<ObjectSyncContext, "serverSideCopy" | "verify" | "destination">,
  copyTags: boolean,
  keys: { source: string; old: string | undefined },
): DecisionOptions {
  return decisionOptionsOf(
    { serverSideCopy: ctx.serverSideCopy, verify: ctx.verify, copyTags },
    destinationTraits(ctx.destination.capabilities),
    keys,
  );
}
