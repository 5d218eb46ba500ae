import { formatBytes as bytes } from "@chunksync/core";
import type { ObjectResult, RunReport } from "@chunksync/sync";
import { duration, table } from "./format.js";
import { printable } from "./printable.js";

/** Failures `--json` lists; the rest are counted (all of them are in `--report`). */
export const LISTED_FAILURES = 1000;

/** The first failures of a run, and how many there were: bounded however many objects fail. */
export class FailureList {
  readonly first: { key: string; code: string; message: string }[] = [];
  total = 0;
  /** Of them, destination-only objects (a delete that failed): counted failed, never scanned. */
  destinationOnly = 0;

  add(result: ObjectResult): void {
    if (!result.error) return;
    this.total++;
    if (result.state === "extra") this.destinationOnly++;
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
    ...(report.index ? { index: report.index } : {}),
    failures: failures.first,
    /** Every failed object, listed or not. */
    failuresTotal: failures.total,
  };
}

/**
 * Of a stopped run: the source objects it listed and never settled, so that the counts add up to
 * those scanned (a failed delete, of a destination-only object, is among the failed, not the scanned).
 */
function notSettled(o: RunReport["objects"], failures: FailureList): number {
  return (
    o.scanned - o.identical - o.changed - o.missing - o.unreadable - (o.failed - failures.destinationOnly)
  );
}

/** `--json`'s counts for a stopped run (see {@link jsonEnding}): the objects not settled among them. */
export function interruptedCounts(
  objects: RunReport["objects"],
  bytes: RunReport["bytes"],
  failures: FailureList,
) {
  return {
    interrupted: true as const,
    objects: { ...objects, notSettled: notSettled(objects, failures) },
    bytes,
  };
}

/**
 * `--json`'s one object for a run that did not reach its summary: refused or failed before or
 * during its work (exit 2, the error's code and message), or interrupted (exit 130, 143 or 129, with what
 * was counted until then). A script reading stdout gets JSON whatever became of the run.
 */
export function jsonEnding(
  command: string,
  exitCode: number,
  ending:
    | { error: { code: string; message: string } }
    | { interrupted: true; objects: object; bytes: object },
) {
  return { command, exitCode, ...ending };
}

/**
 * The human summary printed at the end of every run; `interrupted`: of what a run stopped
 * before its end had settled, with the failures it met.
 */
export function textSummary(command: string, report: RunReport, interrupted?: FailureList): string {
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
    // A stopped run listed objects it never settled: said, so that the rows add up to those scanned.
    ...(interrupted ? [["not settled (stopped)", String(notSettled(o, interrupted))]] : []),
  ];
  const byteRows = [
    ["bytes", "amount"],
    ["read from source", bytes(b.sourceRead)],
    ["read from destination", bytes(b.destinationRead)],
    [
      // A changed object's planned bytes are its changed chunks: the block round may send less.
      report.dryRun ? (o.changed > 0 ? "would transfer at most" : "would transfer") : "transferred",
      bytes(report.dryRun ? report.planned.transfer : b.transferred),
    ],
    // Assembled parts upload the destination's own old bytes too: written, not crossed.
    ...(report.dryRun || b.uploaded === b.transferred
      ? []
      : [["uploaded to destination", bytes(b.uploaded)]]),
    [
      report.dryRun ? "would copy server-side" : "copied server-side",
      bytes(report.dryRun ? report.planned.serverSide : b.copiedServerSide),
    ],
  ];
  const ending = interrupted ? "interrupted after" : "finished in";
  return `${command} ${ending} ${duration(report.durationMs)}\n\n${table(rows)}\n\n${table(byteRows)}\n${indexSummary(report)}`;
}

/**
 * What each side's digest index did: how many compared objects it answered without a read,
 * how many that side read, and anything it dropped and why.
 */
function indexSummary(report: RunReport): string {
  const sides = [
    ["source", report.index?.source],
    ["destination", report.index?.destination],
  ] as const;
  if (sides.every(([, side]) => side === undefined)) return "";
  const rows = [["digest index", "from index", "read", "kept"]];
  const notes: string[] = [];
  for (const [name, side] of sides) {
    if (side === undefined) continue;
    // An index in a bucket is named by its prefix, which may hold any character a key holds.
    const location = printable(side.location);
    const kept = side.written === undefined ? "not written" : `${side.written} entries`;
    rows.push([name, String(side.fromIndex), String(side.read), kept]);
    if (side.found === "absent")
      notes.push(
        `${name} index: none yet at ${location}${side.written === undefined ? "" : "; built by this run"}`,
      );
    // A note may quote a storage error's message.
    for (const note of side.notes) notes.push(`${name} index at ${location}: ${printable(note)}`);
  }
  return `\n${table(rows)}\n${notes.map((n) => `${n}\n`).join("")}`;
}
