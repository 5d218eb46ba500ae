import type { RunReport } from "@chunksync/sync";

export const EXIT_OK = 0;
/** `check` only: the two sides differ. */
export const EXIT_DIFFERENCES = 1;
export const EXIT_ERROR = 2;
export const EXIT_INTERRUPTED = 130;

/** Exit code of a finished run: any failed object is an error; `check` also reports differences. */
export function exitCodeOf(command: "check" | "plan" | "sync", report: RunReport): number {
  if (report.objects.failed > 0 || report.objects.unreadable > 0) return EXIT_ERROR;
  if (command !== "check") return EXIT_OK;
  const { changed, missing, extra } = report.objects;
  return changed + missing + extra > 0 ? EXIT_DIFFERENCES : EXIT_OK;
}
