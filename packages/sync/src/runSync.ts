import { setMaxListeners } from "node:events";
import {
  concurrencyMemoryBudget,
  type DigestAlgorithm,
  directoryPrefix,
  type MemoryBudget,
  type Variant,
  type VerifyMode,
} from "@chunksync/core";
import type { ObjectStore } from "@chunksync/storage";
import { DestinationSide } from "./DestinationSide.js";
import { settleDestinationOnly, sourceHolds } from "./destinationOnly.js";
import { VERSIONS_UNLISTED_NOTE } from "./digestIndex/bucketVersioning.js";
import { IndexRecorder, type IndexSlot } from "./digestIndex/IndexRecorder.js";
import { SideIndex, type SideIndexOptions, type SideIndexReport } from "./digestIndex/SideIndex.js";
import { RunAbortedError } from "./errors.js";
import { KeepRoom } from "./KeptChunks.js";
import { type KeyRule, keySelection } from "./keyFilter.js";
import { forEachConcurrent, LISTING_READ_AHEAD, Limiter, readAhead, readAheadBatches } from "./Limiter.js";
import { type MergedKey, mergeListingBatches } from "./mergeListings.js";
import type { ObjectResult } from "./ObjectResult.js";
import { PartBuffers } from "./PartBuffers.js";
import { DISTRUSTED_NOTE, UNPINNED_COPIES_NOTE } from "./phases/indexEntries.js";
import type { IndexedPair } from "./phases/inspect.js";
import { addPlanned, buildReport, countResult, noPlanned, type RunReport } from "./phases/report.js";
import { interruptedVerification } from "./phases/result.js";
import { RunStats } from "./RunStats.js";
import { SourceSide } from "./SourceSide.js";
import {
  copyWork,
  decideIndexed,
  type IndexedCandidate,
  newIndexing,
  type ObjectIndexing,
  storedOnly,
  syncObject,
} from "./syncObject.js";

/** A merged key and whether the run's filters take it up. */
type WantedKey = MergedKey & { wanted: boolean };

/**
 * Merged keys read ahead of the objects in progress: enough for a progress display to know
 * the whole size of most runs early, and a bound (some MB) on what a run of any size holds.
 */
const MERGED_READ_AHEAD = 10_000;
/** Pairs both indexes answer for, challenged together at most (see `decideIndexed`). */
const HELD_TOGETHER = 256;

export interface SyncOptions {
  source: ObjectStore;
  /** Key prefix on the source ("" for the whole bucket); keys map relative to it. */
  sourcePrefix: string;
  destination: ObjectStore;
  destinationPrefix: string;
  /** The pairing secret both sides' data planes hold. */
  secret: Buffer;
  algorithm: DigestAlgorithm;
  variant: Variant;
  chunkSize: number;
  verify: VerifyMode;
  /** Ranged reads, part uploads and copies in flight at once, and objects in progress at once. */
  concurrency: number;
  serverSideCopy: boolean;
  copyTags: boolean;
  /** Match changed chunks block by block against the old object (default); false sends them whole. */
  blocks?: boolean;
  /** Include/exclude globs over keys relative to the prefixes, in order; the last match decides (see keyFilter). */
  filters: readonly KeyRule[];
  /**
   * Each side's digest index (absent: none, as `--no-index`). An object whose both versions
   * still stand in their indexes is compared with no data read; the run leaves each side a
   * new index of the versions it settled at.
   */
  index?: { source?: SideIndexOptions; destination?: SideIndexOptions };
  /** Delete destination objects that have no source counterpart. */
  delete: boolean;
  /** Find what differs and what would move, write nothing (`check`, `plan`). */
  dryRun: boolean;
  /** Restarts of one object after it changed under the run. */
  maxAttempts?: number;
  /** What the parts read whole into memory may hold at once (default: see {@link runMemoryBudget}). */
  memory?: MemoryBudget;
  signal?: AbortSignal;
  /** Live counters for a progress display; a fresh one is made when absent. */
  stats?: RunStats;
  /**
   * Called once as each object settles (in completion order); the report keeps counts only.
   * The worker that settled the object waits for a returned promise (a report being written).
   */
  onResult?: (result: ObjectResult) => void | Promise<void>;
}

/**
 * The memory budget of a run's chunk buffers: the one given, or by default `concurrency` times
 * the requested chunk size, what its parts held before chunks grew for objects over 78 GiB.
 * A grown chunk larger than that is read alone.
 */
export function runMemoryBudget(
  options: Pick<SyncOptions, "memory" | "concurrency" | "chunkSize">,
): MemoryBudget {
  return options.memory ?? concurrencyMemoryBudget(options.concurrency, options.chunkSize);
}

/**
 * Syncs every object under the source prefix to the destination prefix: merges both
 * sides' listings as sorted streams, challenges each pair, moves only differing chunks,
 * reports destination-only objects (deleting them only with `delete`) as the merge finds
 * them. Memory stays flat at any key count: results go to `onResult`, the report keeps
 * counts. Object failures are reported, not thrown; a listing failure (a listing out of
 * S3's key order included) or an abort throws once the objects in progress have settled.
 */
export async function runSync(options: SyncOptions): Promise<RunReport> {
  try {
    return await syncRun(options);
  } catch (error) {
    // A run its signal stopped says so (RunAbortedError), whatever request the stop cut short:
    // one that cut the first listing or probe threw the request's own AbortError.
    if (options.signal?.aborted && !(error instanceof RunAbortedError))
      throw new RunAbortedError(options.signal.reason);
    throw error;
  }
}

async function syncRun(options: SyncOptions): Promise<RunReport> {
  const stats = options.stats ?? new RunStats();
  const startedAt = new Date();
  const limiter = new Limiter(options.concurrency);
  const signal = options.signal;
  // Every request in flight listens on the one run signal; that is by design, not a leak.
  if (signal) setMaxListeners(0, signal);
  const sourcePrefix = directoryPrefix(options.sourcePrefix);
  const destinationPrefix = directoryPrefix(options.destinationPrefix);
  const selected = keySelection(options.filters);
  const [sourceIndex, destinationIndex] = await Promise.all([
    options.index?.source && SideIndex.open(options.index.source),
    options.index?.destination && SideIndex.open(options.index.destination),
  ]);
  // Once per run, and only by a side whose index holds entries (see SideIndex.versioned).
  const [sourceVersioned, destinationVersioned] = await Promise.all([
    sourceIndex?.versioned(options.source, signal) ?? false,
    destinationIndex?.versioned(options.destination, signal) ?? false,
  ]);
  const recorder =
    sourceIndex || destinationIndex
      ? new IndexRecorder({ source: sourceIndex, destination: destinationIndex })
      : undefined;
  // Counters and sums only: each result is handed over once and not kept.
  const planned = noPlanned();
  /** Whether a stop cut an object short: written, its verification not made (see syncObject). */
  let cut = false;
  /** A promise only while `onResult` takes one (a report being written). */
  const settle = (result: ObjectResult): void | Promise<void> => {
    if (interruptedVerification(result)) cut = true;
    stats.done++;
    countResult(stats.objects, result);
    addPlanned(planned, result);
    return options.onResult?.(result);
  };

  // A changed chunk's bytes, and the old bytes its block exchange reads, wait for the exchange
  // and the upload in at most what the run's part uploads may hold.
  const keep = new KeepRoom(options.concurrency * options.chunkSize);
  const onKept = (n: number) => {
    stats.keptRead += n;
  };
  const sourceSide = new SourceSide({
    store: options.source,
    secret: options.secret,
    algorithm: options.algorithm,
    variant: options.variant,
    limiter,
    onRead: (n) => {
      stats.bytes.sourceRead += n;
    },
    onKept,
    keep,
    ...(signal ? { signal } : {}),
  });
  const destinationSide = new DestinationSide({
    store: options.destination,
    secret: options.secret,
    limiter,
    keep,
    readsAhead: true,
    onRead: (n) => {
      stats.bytes.destinationRead += n;
    },
    onKept,
    ...(signal ? { signal } : {}),
  });
  const ctx = {
    source: options.source,
    destination: options.destination,
    sourceSide,
    destinationSide,
    limiter,
    buffers: new PartBuffers(runMemoryBudget(options)),
    stats,
    chunkSize: options.chunkSize,
    verify: options.verify,
    serverSideCopy: options.serverSideCopy,
    copyTags: options.copyTags,
    blocks: options.blocks ?? true,
    dryRun: options.dryRun,
    maxAttempts: options.maxAttempts ?? 3,
    versioned: { source: sourceVersioned, destination: destinationVersioned },
    indexesDestination: destinationIndex !== undefined,
    keepsDestinationEntries: destinationIndex?.keeps === true,
    ...(signal ? { signal } : {}),
  };

  // A copy's work is the same per byte whatever its size (each chunk adds its length times
  // what is done to it), so it is worked out once, not per key.
  const copyWorkPerByte = options.dryRun ? 0 : copyWork(ctx, 1);

  // Both listings stream, each a page ahead of the one in hand (fetched side by side),
  // and are merge-joined in S3's key order; the merged keys run a bounded way ahead of the
  // objects in progress, so a progress display soon knows most of a run's size.
  // A side whose bucket keeps versions lists them (see `ObjectReader.list`): its entries then
  // need no HEAD each.
  const listing = (
    side: "source" | "destination",
    store: ObjectStore,
    prefix: string,
    versioned: boolean,
  ) => ({
    side,
    prefix,
    batches: readAheadBatches(
      store.list(prefix, signal, undefined, undefined, versioned),
      LISTING_READ_AHEAD,
    ),
  });
  /** Whether a side that lists its versions listed an object without naming its version. */
  const unnamed = { source: false, destination: false };
  /** The merged keys in batches, counted for the progress display as the listings come. */
  async function* mergedKeys() {
    for await (const batch of mergeListingBatches(
      listing("source", options.source, sourcePrefix, sourceVersioned),
      listing("destination", options.destination, destinationPrefix, destinationVersioned),
    )) {
      yield batch.map((key) => {
        if (key.destination) stats.destinationListed++;
        if (sourceVersioned && key.source && key.source.versionId === undefined) unnamed.source = true;
        if (destinationVersioned && key.destination && key.destination.versionId === undefined)
          unnamed.destination = true;
        const wanted = selected(key.relative);
        if (wanted && key.source) {
          stats.objects.scanned++;
          stats.sourceBytesScanned += key.source.size;
          // Each side digests its whole object to compare a pair (what its index answers for is
          // counted done as the key is taken up: RunStats.answeredWork); a missing object is copied.
          if (key.destination) stats.plannedWork += key.source.size + key.destination.size;
          else stats.plannedWork += key.source.size * copyWorkPerByte;
        } else if (wanted) stats.destinationOnly++;
        // Keys passed over still go through: their index entries stand for the next run. Fields
        // named, not spread: on Node 20 a spread followed by a field is a runtime call per key.
        return {
          relative: key.relative,
          source: key.source,
          destination: key.destination,
          wanted,
        } as WantedKey;
      });
    }
    stats.listed = true;
  }
  /** What must be waited for before `key` is looked up and given a slot: a piece read, or room. */
  const waitFor = (key: WantedKey) =>
    (key.source && sourceIndex?.loading(key.source.key, key.wanted)) ??
    (key.destination && destinationIndex?.loading(key.destination.key, key.wanted)) ??
    recorder?.full();
  /**
   * Each key's index entries, looked up in key order as workers take keys up (so that only
   * the keys in progress hold them), and its place in the new indexes. Most keys are looked up
   * in the index piece in hand, with no await: one only for a piece to read, or while the keys
   * settled out of order would hold too many entries. A pair whose both entries stand is
   * decided and settled right here (see `decideIndexed`), batch by batch as the merge hands them
   * over; only the keys left go to the workers.
   */
  async function* indexedKeys(batches: AsyncIterable<WantedKey[]>) {
    type Work = WantedKey & { found: IndexedPair; slot: IndexSlot | undefined };
    /** Pairs both indexes answer for, in key order, held back to be decided together. */
    let held: { work: Work; candidate: IndexedCandidate }[] = [];
    /** Decides the pairs held back: each settled here, or handed on to the workers, in order. */
    async function* decideHeld() {
      const group = held;
      held = [];
      const results = decideIndexed(
        ctx,
        group.map((h) => h.candidate),
      );
      for (const [i, { work, candidate }] of group.entries()) {
        if (signal?.aborted) throw new RunAbortedError(signal.reason);
        const result = results[i];
        if (result === undefined) {
          yield work;
          continue;
        }
        const settled = settleObject(candidate.indexing, work.slot, result, true);
        if (settled !== undefined) await settled;
      }
    }
    for await (const batch of batches) {
      for (const key of batch) {
        // A stop takes up no key more, even one its indexes would decide with no request.
        if (signal?.aborted) throw new RunAbortedError(signal.reason);
        let wait = waitFor(key);
        // What is held back settles first: its slots may be what keeps the window full. The
        // wait is the one asked for: a piece's read is started once, by the first ask.
        if (wait !== undefined && held.length > 0) yield* decideHeld();
        for (; wait !== undefined; wait = waitFor(key)) await wait;
        const found: IndexedPair = {
          source: key.source && sourceIndex?.lookup(key.source.key, key.source, key.wanted),
          destination:
            key.destination && destinationIndex?.lookup(key.destination.key, key.destination, key.wanted),
        };
        const rotted = key.source && sourceIndex?.rottedEntry(key.source.key);
        const destinationRotted = key.destination && destinationIndex?.rottedEntry(key.destination.key);
        if (destinationRotted) found.destinationRotted = destinationRotted;
        if (rotted) found.sourceRotted = rotted;
        else if (key.source && key.destination && !found.source) {
          const prior = sourceIndex?.priorDigests(key.source.key, key.source);
          if (prior !== undefined) found.sourcePrior = prior;
        }
        const both = key.wanted && key.source && key.destination && found.source && found.destination;
        if (!both && held.length > 0) yield* decideHeld();
        const slot = recorder?.take();
        if (!key.wanted) {
          await slot?.settle(storedOnly(found));
          continue;
        }
        if (key.source && key.destination) {
          if (found.source) stats.answeredWork += key.source.size;
          if (found.destination) stats.answeredWork += key.destination.size;
        }
        const work = {
          relative: key.relative,
          source: key.source,
          destination: key.destination,
          found,
          slot,
        } as Work;
        if (!both) {
          yield work;
          continue;
        }
        // A pair both indexes answer for is most often decided here, with the pairs next to it:
        // no worker, no request, no promise of its own.
        const relative = key.relative;
        const listed = { source: key.source!, destination: key.destination! };
        held.push({
          work,
          candidate: {
            sourceKey: sourcePrefix + relative,
            destinationKey: destinationPrefix + relative,
            listed,
            indexing: newIndexing(found),
          },
        });
        if (held.length >= HELD_TOGETHER) yield* decideHeld();
      }
    }
    if (held.length > 0) yield* decideHeld();
  }
  // Only a compared pair is decided from an entry or by a read: an entry that headed an object
  // the destination lacked (a server-side copy) decided nothing, as in the workflow; nor did an
  // object that failed before both sides were headed (a source a scrub found rotted).
  const side = (index: SideIndex | undefined, used: boolean, compared: boolean) => {
    if (index && compared) index.report[used ? "fromIndex" : "read"]++;
  };
  /** Counts a decided object, hands its index entries to its slot and settles its result. */
  const settleObject = (
    indexing: ObjectIndexing,
    slot: IndexSlot | undefined,
    result: ObjectResult,
    compared: boolean,
  ): Promise<void> | undefined => {
    const decided = compared && (result.state !== "failed" || indexing.inspected === true);
    side(sourceIndex, indexing.used.source, decided);
    side(destinationIndex, indexing.used.destination, decided);
    if (indexing.unpinned) destinationIndex?.note(UNPINNED_COPIES_NOTE);
    if (indexing.distrusted)
      for (const index of [sourceIndex, destinationIndex]) index?.note(DISTRUSTED_NOTE);
    const indexed = slot?.settle(indexing.made);
    if (indexed !== undefined) return indexed.then(() => settle(result));
    return settle(result) ?? undefined;
  };
  try {
    await forEachConcurrent(
      indexedKeys(readAhead(mergedKeys(), MERGED_READ_AHEAD, (batch) => batch.length)),
      options.concurrency,
      async (key) => {
        // Destination-only objects settle (kept, or deleted with `delete`) as the merge finds
        // them: the source listing has passed their key. Its order is checked only as it comes,
        // so a delete first asks the source for the key: a listing out of order (found out
        // later) or an object written since must not cost the destination its copy.
        if (key.source) {
          const indexing = newIndexing(key.found);
          const result = await syncObject(
            ctx,
            sourcePrefix + key.relative,
            destinationPrefix + key.relative,
            { source: key.source, destination: key.destination },
            indexing,
          );
          await settleObject(indexing, key.slot, result, key.destination !== undefined);
          return;
        }
        const result = await settleDestinationOnly(options.destination, key.destination, {
          delete: options.delete,
          dryRun: options.dryRun,
          ...(signal ? { signal } : {}),
          onSource: () => sourceHolds(options.source, sourcePrefix + key.relative, signal),
        });
        await key.slot?.settle({
          destination: result.applied ? undefined : storedOnly(key.found).destination,
        });
        await settle(result);
      },
    );
    await recorder?.drained();
    // Objects stopped after their write settle with it (see syncObject): the run still stopped.
    // Any other object a stop cut short threw; a stop that came once every object had settled
    // (as the last index pieces were written) cut nothing, and the run finishes, as the
    // workflow engine's does.
    if (cut) throw new RunAbortedError(signal?.reason);
  } catch (error) {
    // A run that did not reach its end keeps the entries of the keys it settled in order, and
    // the stored ones after them: its rerun reads only what it left.
    await recorder?.settled();
    const later = recorder?.settledLater();
    await Promise.all([
      sourceIndex?.commitSettled(later?.source),
      destinationIndex?.commitSettled(later?.destination),
    ]);
    throw error;
  }
  // A side that keeps versions but could not list them all confirmed those entries with a HEAD.
  if (unnamed.source) sourceIndex?.note(VERSIONS_UNLISTED_NOTE);
  if (unnamed.destination) destinationIndex?.note(VERSIONS_UNLISTED_NOTE);
  await Promise.all([sourceIndex?.commit(), destinationIndex?.commit()]);

  return buildReport({
    startedAt,
    dryRun: options.dryRun,
    objects: stats.objects,
    bytes: stats.bytes,
    planned,
    ...(recorder ? { index: indexReport(sourceIndex?.report, destinationIndex?.report) } : {}),
  });
}

function indexReport(
  source: SideIndexReport | undefined,
  destination: SideIndexReport | undefined,
): { source?: SideIndexReport; destination?: SideIndexReport } {
  return { ...(source ? { source } : {}), ...(destination ? { destination } : {}) };
}
