import type { AuditReport, RunReport, ScrubReport } from "@chunksync/sync";

export const EXIT_OK = 0;
/** `check` only: the two sides differ. */
export const EXIT_DIFFERENCES = 1;
export const EXIT_ERROR = 2;

/** Exit code of a finished run: any failed object is an error; `check` also reports differences. */
export function exitCodeOf(command: "check" | "plan" | "sync", report: RunReport): number {
  if (report.objects.failed > 0 || report.objects.unreadable > 0) return EXIT_ERROR;
  if (command !== "check") return EXIT_OK;
  const { changed, missing, extra } = report.objects;
  return changed + missing + extra > 0 ? EXIT_DIFFERENCES : EXIT_OK;
}

/** Exit code of an audit, as `check`'s: 2 when an object could not be audited, 1 when a range or object is not held alike. */
export function auditExitCode(report: AuditReport): number {
  if (report.objects.failed > 0) return EXIT_ERROR;
  const { differs, missing } = report.ranges;
  return differs + missing + report.objects.missing + report.objects.resized > 0 ? EXIT_DIFFERENCES : EXIT_OK;
}

/**
 * Exit code of a scrub: 2 when an object or a piece of the index could not be read or the entries
 * of rotted objects could not be dropped (they still stand), 1 when one no longer matches its index entry.
 */
export function scrubExitCode(report: ScrubReport): number {
  if (report.objects.failed > 0 || report.index.notMarked || report.index.unread.length > 0)
    return EXIT_ERROR;
  return report.objects.rotted > 0 ? EXIT_DIFFERENCES : EXIT_OK;
}
