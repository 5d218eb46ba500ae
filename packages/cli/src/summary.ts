import { formatBytes as bytes } from "@chunksync/core";
import type { RunReport } from "@chunksync/sync";
import { duration, table } from "./format.js";

/** The fields `--json` promises, plus the run's timing and its per-object results. */
export function jsonSummary(command: string, report: RunReport, exitCode: number) {
  const { objects, bytes: b } = report;
  return {
    command,
    exitCode,
    dryRun: report.dryRun,
    durationMs: report.durationMs,
    objects,
    bytes: b,
    planned: report.planned,
    failures: report.results
      .filter((r) => r.error)
      .map((r) => ({ key: r.sourceKey ?? r.destinationKey, ...r.error })),
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
