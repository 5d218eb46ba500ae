import type { ObjectResult } from "../ObjectResult.js";
import type { ByteCounts, ObjectCounts } from "../RunStats.js";

export interface RunReport {
  startedAt: string;
  durationMs: number;
  dryRun: boolean;
  objects: ObjectCounts;
  bytes: ByteCounts;
  /**
   * What the run's actions move, and how many destination-only objects they delete: equal
   * to what was done when they are applied, what would be done in a dry run.
   */
  planned: { transfer: number; serverSide: number; delete: number };
  results: ObjectResult[];
}

/**
 * Counts one settled result: its state, and for a destination-only object its deletion
 * (deleted, or failed when the delete failed).
 */
export function countResult(objects: ObjectCounts, result: ObjectResult): void {
  objects[result.state]++;
  if (result.state !== "extra") return;
  if (result.applied) objects.deleted++;
  else if (result.error) objects.failed++;
}

/** The run's report from its settled results and the counters they left. */
export function buildReport(run: {
  startedAt: Date;
  dryRun: boolean;
  objects: ObjectCounts;
  bytes: ByteCounts;
  results: ObjectResult[];
}): RunReport {
  return {
    startedAt: run.startedAt.toISOString(),
    durationMs: Date.now() - run.startedAt.getTime(),
    dryRun: run.dryRun,
    objects: { ...run.objects },
    bytes: { ...run.bytes },
    planned: plannedOf(run.results),
    results: run.results,
  };
}

/** The sum of the results' planned actions. */
export function plannedOf(results: Iterable<ObjectResult>): RunReport["planned"] {
  const planned = { transfer: 0, serverSide: 0, delete: 0 };
  for (const r of results) {
    planned.transfer += r.planned.transfer;
    planned.serverSide += r.planned.serverSide;
    if (r.action === "delete") planned.delete++;
  }
  return planned;
}
