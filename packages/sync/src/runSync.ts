import { setMaxListeners } from "node:events";
import { type DigestAlgorithm, directoryPrefix, type Variant, type VerifyMode } from "@chunksync/core";
import type { ObjectStore, ObjectSummary } from "@chunksync/storage";
import { DestinationSide } from "./DestinationSide.js";
import { settleDestinationOnly } from "./destinationOnly.js";
import { type KeyRule, keyFilter } from "./keyFilter.js";
import { forEachConcurrent, Limiter, readAhead } from "./Limiter.js";
import type { ObjectResult } from "./ObjectResult.js";
import { buildReport, countResult, type RunReport } from "./phases/report.js";
import { RunStats } from "./RunStats.js";
import { SourceSide } from "./SourceSide.js";
import { copyWork, syncObject } from "./syncObject.js";

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
  /** Include/exclude globs over keys relative to the prefixes, in order; the last match decides (see keyFilter). */
  filters: readonly KeyRule[];
  /** Delete destination objects that have no source counterpart. */
  delete: boolean;
  /** Find what differs and what would move, write nothing (`check`, `plan`). */
  dryRun: boolean;
  /** Restarts of one object after it changed under the run. */
  maxAttempts?: number;
  signal?: AbortSignal;
  /** Live counters for a progress display; a fresh one is made when absent. */
  stats?: RunStats;
  /** Called as each object settles (in completion order). */
  onResult?: (result: ObjectResult) => void;
}

/**
 * Syncs every object under the source prefix to the destination prefix: lists both
 * sides, challenges each pair, moves only differing chunks, reports destination-only
 * objects (deleting them only with `delete`). Object failures are reported, not thrown;
 * a listing failure or an abort throws before anything is deleted.
 */
export async function runSync(options: SyncOptions): Promise<RunReport> {
  const stats = options.stats ?? new RunStats();
  const startedAt = new Date();
  const limiter = new Limiter(options.concurrency);
  const signal = options.signal;
  // Every request in flight listens on the one run signal; that is by design, not a leak.
  if (signal) setMaxListeners(0, signal);
  const sourcePrefix = directoryPrefix(options.sourcePrefix);
  const destinationPrefix = directoryPrefix(options.destinationPrefix);
  const selected = keyFilter(options.filters);
  const results: ObjectResult[] = [];
  const settle = (result: ObjectResult) => {
    results.push(result);
    stats.done++;
    countResult(stats.objects, result);
    options.onResult?.(result);
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
    ...(signal ? { signal } : {}),
  });
  const destinationSide = new DestinationSide({
    store: options.destination,
    secret: options.secret,
    limiter,
    onRead: (n) => {
      stats.bytes.destinationRead += n;
    },
    ...(signal ? { signal } : {}),
  });
  const ctx = {
    source: options.source,
    destination: options.destination,
    sourceSide,
    destinationSide,
    limiter,
    stats,
    chunkSize: options.chunkSize,
    verify: options.verify,
    serverSideCopy: options.serverSideCopy,
    copyTags: options.copyTags,
    dryRun: options.dryRun,
    maxAttempts: options.maxAttempts ?? 3,
    ...(signal ? { signal } : {}),
  };

  // The destination listing is held whole: matching by exact key is safe whatever order
  // a server lists in, which a merge of two sorted streams would have to trust.
  const destinationOnly = new Map<string, ObjectSummary>();
  for await (const o of options.destination.list(destinationPrefix, signal)) {
    stats.destinationListed++;
    const relative = o.key.slice(destinationPrefix.length);
    if (selected(relative)) destinationOnly.set(relative, o);
  }

  async function* sourceObjects() {
    for await (const o of options.source.list(sourcePrefix, signal)) {
      const relative = o.key.slice(sourcePrefix.length);
      if (!selected(relative)) continue;
      const listed = { source: o, destination: destinationOnly.get(relative) };
      destinationOnly.delete(relative);
      stats.objects.scanned++;
      stats.sourceBytesScanned += o.size;
      // Each side digests its whole object to compare a pair; a missing object is copied.
      if (listed.destination) stats.plannedWork += o.size + listed.destination.size;
      else if (!options.dryRun) stats.plannedWork += copyWork(ctx, o.size);
      yield { relative, listed };
    }
    stats.destinationOnly = destinationOnly.size;
    stats.listed = true;
  }
  // The source listing runs ahead of the objects in progress, so a progress display knows
  // the run's size early. What it holds is about what it takes out of the destination
  // listing (each matched key leaves that map), plus the source-only keys.
  await forEachConcurrent(readAhead(sourceObjects()), options.concurrency, async ({ relative, listed }) => {
    settle(await syncObject(ctx, sourcePrefix + relative, destinationPrefix + relative, listed));
  });

  for (const o of destinationOnly.values()) {
    settle(await settleDestinationOnly(options.destination, o, options));
  }

  return buildReport({
    startedAt,
    dryRun: options.dryRun,
    objects: stats.objects,
    bytes: stats.bytes,
    results,
  });
}
