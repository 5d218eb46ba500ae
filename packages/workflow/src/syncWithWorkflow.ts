import type { DigestAlgorithm, Variant, VerifyMode } from "@chunksync/core";
import { directoryPrefix } from "@chunksync/core";
import type { ObjectStore } from "@chunksync/storage";
import { type KeyRule, type ObjectResult, type RunReport, RunStats } from "@chunksync/sync";
import { InProcessLinks } from "./inProcessLinks.js";
import { runWorkflowLocally } from "./runLocally.js";
import { MemoryWorkArea, type WorkArea } from "./WorkArea.js";

/** What `chunksync sync --engine workflow` passes: the same settings as the direct engine. */
export interface WorkflowSyncOptions {
  source: ObjectStore;
  sourcePrefix: string;
  destination: ObjectStore;
  destinationPrefix: string;
  secret: Buffer;
  algorithm: DigestAlgorithm;
  variant: Variant;
  chunkSize: number;
  verify: VerifyMode;
  /** Requests in flight per step, and objects in flight at once. */
  concurrency: number;
  /** Ordered include/exclude globs over keys relative to the prefixes, as in the direct engine. */
  filters: readonly KeyRule[];
  /** Delete the selected destination-only objects. */
  delete: boolean;
  /** Both sides are one endpoint and account: changed chunks are copied server-side too. */
  serverSideCopy?: boolean;
  /** Copy the source's tag set onto written objects, and compare tag sets. */
  copyTags?: boolean;
  /** Restarts of one object after its source changed under the run (default 3 attempts). */
  maxAttempts?: number;
  /** Stops the run: no step starts after it, and every upload begun is aborted. */
  signal?: AbortSignal;
  /** Live counters for a progress display, as the direct engine keeps them. */
  stats?: RunStats;
  /**
   * Called once per object: source objects as they settle, destination-only ones once the
   * run's report is written. A returned promise is waited for.
   */
  onResult?: (result: ObjectResult) => void | Promise<void>;
  /** Defaults to memory; a bucket on the local S3 works too. */
  work?: WorkArea;
}

/**
 * Runs a sync through the state machine definition, in this process: both sides' steps,
 * the work area and the links between them are local. Returns a report in the direct
 * engine's shape, so the CLI prints it the same way.
 */
export function syncWithWorkflow(options: WorkflowSyncOptions): Promise<RunReport> {
  const work = options.work ?? new MemoryWorkArea();
  const links = new InProcessLinks(options.source);
  const settings = {
    chunkSize: options.chunkSize,
    batchChunks: 64,
    batchBytes: 8 * 1024 ** 3,
    concurrency: options.concurrency,
    filters: options.filters,
    copyTags: options.copyTags ?? false,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  return runWorkflowLocally({
    maxConcurrency: options.concurrency,
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.stats || options.onResult
      ? {
          observer: {
            stats: options.stats ?? new RunStats(),
            ...(options.onResult ? { onResult: options.onResult } : {}),
          },
        }
      : {}),
    source: {
      ...settings,
      store: options.source,
      prefix: directoryPrefix(options.sourcePrefix),
      work,
      secret: options.secret,
      algorithm: options.algorithm,
      variant: options.variant,
      verify: options.verify,
      serverSideCopy: options.serverSideCopy ?? false,
      pageSize: 500,
      signer: links,
      linkExpirySeconds: 900,
    },
    destination: {
      ...settings,
      store: options.destination,
      prefix: directoryPrefix(options.destinationPrefix),
      work,
      secret: options.secret,
      readLink: links.read,
      delete: options.delete,
      // One account: the destination's credentials read the source, so copies may name it.
      ...(options.serverSideCopy ? { copySource: options.source } : {}),
    },
  });
}
