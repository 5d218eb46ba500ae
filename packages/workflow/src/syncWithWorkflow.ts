import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { directoryPrefix } from "@chunksync/core";
import type { RunReport, SyncOptions } from "@chunksync/sync";
import { PartBuffers, RunStats, runMemoryBudget } from "@chunksync/sync";
import { InProcessLinks } from "./inProcessLinks.js";
import { workKeys } from "./layout.js";
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
export async function syncWithWorkflow(options: WorkflowSyncOptions): Promise<RunReport> {
  if (options.work) return syncIn(options.work, options);
  // In memory, but for what a run holds to its end (its pages' results and ranges, its report),
  // kept on disk: the work area's memory then does not grow with the run's key count.
  const directory = await mkdtemp(join(tmpdir(), "chunksync-work-"));
  try {
    return await syncIn(new MemoryWorkArea({ directory, keys: spilledKeys }), options);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** The records a run holds to its end: its pages' ranges and results. */
const spilledKeys = (key: string) => workKeys.isPage(key) || workKeys.isPageResults(key);

function syncIn(work: WorkArea, options: WorkflowSyncOptions): Promise<RunReport> {
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
