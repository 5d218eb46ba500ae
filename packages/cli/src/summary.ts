import { formatBytes as bytes } from "@chunksync/core";
import type { ObjectResult, RunReport } from "@chunksync/sync";
import { duration, table } from "./format.js";

/** Failures `--json` lists; the rest are counted (all of them are in `--report`). */
export const LISTED_FAILURES = 1000;

/** The first failures of a run, and how many there were: bounded however many objects fail. */
export class FailureList {
  readonly first: { key: string; code: string; message: string }[] = [];
  total = 0;

  add(result: ObjectResult): void {
    if (!result.error) return;
    this.total++;
    if (this.first.length < LISTED_FAILURES)
      this.first.push({ key: result.sourceKey ?? result.destinationKey, ...result.error });
  }
}

/** The fields `--json` promises, plus the run's timing and its first failures. */
export function jsonSummary(command: string, report: RunReport, exitCode: number, failures: FailureList) {
  const { objects, bytes: b } = report;
  return {
    command,
    exitCode,
    dryRun: report.dryRun,
    durationMs: report.durationMs,
    objects,
    bytes: b,
    planned: report.planned,
    failures: failures.first,
    /** Every failed object, listed or not. */
    failuresTotal: failures.total,
  };
}

/** The human summary printed at the end of every run. */
export function textSummary(command: string, report: RunReport): string {
  const o = report.objects;
  const b = report.bytes;
  const rows = [
    ["objects", "count"],
    ["scanned", String(o.scanned)],
    ["identical", String(o.identical)],
    ["changed", String(o.changed)],
    ["missing on destination", String(o.missing)],
    ["destination only", String(o.extra)],
    // A dry run deletes nothing: it says what sync --delete would delete.
    report.dryRun ? ["would delete", String(report.planned.delete)] : ["deleted", String(o.deleted)],
    ["unreadable (archived)", String(o.unreadable)],
    ["failed", String(o.failed)],
  ];
  const byteRows = [
    ["bytes", "amount"],
    ["read from source", bytes(b.sourceRead)],
    ["read from destination", bytes(b.destinationRead)],
    [
      report.dryRun ? "would transfer" : "transferred",
      bytes(report.dryRun ? report.planned.transfer : b.transferred),
    ],
    [
      report.dryRun ? "would copy server-side" : "copied server-side",
      bytes(report.dryRun ? report.planned.serverSide : b.copiedServerSide),
    ],
  ];
  return `${command} finished in ${duration(report.durationMs)}\n\n${table(rows)}\n\n${table(byteRows)}\n`;
}
