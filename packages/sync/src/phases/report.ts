import { jsonText } from "@chunksync/core";
import type { SideIndexReport } from "../digestIndex/SideIndex.js";
import type { ObjectResult } from "../ObjectResult.js";
import type { ByteCounts, ObjectCounts } from "../RunStats.js";

/** What the run's actions move, and how many destination-only objects they delete. */
export interface PlannedTotals {
  transfer: number;
  serverSide: number;
  delete: number;
}

/**
 * A run's totals. The per-object results are not in it: an engine hands each over once, as
 * it settles (`onResult`), so that memory does not grow with the number of objects.
 */
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
  planned: PlannedTotals;
  /** What each side's digest index did (absent when the run kept none). */
  index?: { source?: SideIndexReport; destination?: SideIndexReport };
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

/** Adds one result's planned actions to the run's sums. */
export function addPlanned(planned: PlannedTotals, result: ObjectResult): void {
  planned.transfer += result.planned.transfer;
  planned.serverSide += result.planned.serverSide;
  if (result.action === "delete") planned.delete++;
}

/** Sums of no result yet. */
export function noPlanned(): PlannedTotals {
  return { transfer: 0, serverSide: 0, delete: 0 };
}

/** The run's report from the counters and sums its settled results left. */
export function buildReport(run: {
  startedAt: Date;
  dryRun: boolean;
  objects: ObjectCounts;
  bytes: ByteCounts;
  planned: PlannedTotals;
  index?: RunReport["index"];
}): RunReport {
  return {
    startedAt: run.startedAt.toISOString(),
    durationMs: Date.now() - run.startedAt.getTime(),
    dryRun: run.dryRun,
    objects: { ...run.objects },
    bytes: { ...run.bytes },
    planned: { ...run.planned },
    ...(run.index ? { index: run.index } : {}),
  };
}

/**
 * One line of a JSON Lines report (`--report`, and the workflow's report in its work area):
 * a line per object as it settled, then one summary line with the run's totals. A report
 * without its summary line is of a run that did not finish.
 */
export type ReportLine = ({ type: "object" } & ObjectResult) | ({ type: "summary" } & RunReport);

/** The report line of one object's result. */
export function objectLine(result: ObjectResult): string {
  return `${jsonText({ type: "object", ...result } satisfies ReportLine)}\n`;
}

/** The report's last line. */
export function summaryLine(report: RunReport): string {
  return `${jsonText({ type: "summary", ...report } satisfies ReportLine)}\n`;
}
