import { directoryPrefix } from "@chunksync/core";
import type { RunReport, SyncOptions } from "@chunksync/sync";
import { PartBuffers, RunStats, runMemoryBudget } from "@chunksync/sync";
import { InProcessLinks } from "./inProcessLinks.js";
import { runWorkflowLocally } from "./runLocally.js";
import { MemoryWorkArea, type WorkArea } from "./WorkArea.js";

/**
 * What `chunksync sync --engine workflow` passes: the direct engine's settings (the workflow
 * writes, so it has no dry run), and where the run's work area is.
 */
export type WorkflowSyncOptions = Omit<SyncOptions, "dryRun" | "serverSideCopy" | "copyTags"> &
  Partial<Pick<SyncOptions, "serverSideCopy" | "copyTags">> & {
    /** Defaults to memory; a bucket on the local S3 works too. */
    work?: WorkArea;
    /** Keys per listing page, the unit of the run's index pieces (default 500). */
    pageSize?: number;
  };

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
    algorithm: options.algorithm,
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
      destinationPrefix: directoryPrefix(options.destinationPrefix),
      work,
      secret: options.secret,
      variant: options.variant,
      verify: options.verify,
      serverSideCopy: options.serverSideCopy ?? false,
      blocks: options.blocks ?? true,
      pageSize: options.pageSize ?? 500,
      signer: links,
      linkExpirySeconds: 900,
      ...(options.index?.source ? { index: options.index.source } : {}),
    },
    destination: {
      ...settings,
      store: options.destination,
      prefix: directoryPrefix(options.destinationPrefix),
      work,
      secret: options.secret,
      readLink: links.read,
      delete: options.delete,
      // One pool for every step of the run: in this process they share its memory.
      buffers: new PartBuffers(runMemoryBudget(options)),
      ...(options.index?.destination ? { index: options.index.destination } : {}),
      // One account: the destination's credentials read the source, so copies may name it.
      ...(options.serverSideCopy ? { copySource: options.source } : {}),
    },
  });
}
