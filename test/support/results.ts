import { readFileSync } from "node:fs";
import { type ObjectResult, type ReportLine, type RunReport, RunStats } from "@chunksync/sync";
import { type LocalRunOptions, runWorkflowLocally } from "@chunksync/workflow";

type OnResult = (result: ObjectResult) => void | Promise<void>;

/** A report with the results the engine handed over one by one, in the order it settled them. */
export type CollectedReport = RunReport & { results: ObjectResult[] };

/**
 * Runs an engine and collects every result its `onResult` hands over (the report itself keeps
 * counts only), calling the caller's own `onResult` too.
 */
export async function collectResults<O extends { onResult?: OnResult }>(
  engine: (options: O) => Promise<RunReport>,
  options: O,
): Promise<CollectedReport> {
  const results: ObjectResult[] = [];
  const report = await engine({
    ...options,
    onResult: async (r: ObjectResult) => {
      results.push(r);
      await options.onResult?.(r);
    },
  });
  return { ...report, results };
}

/** Runs the workflow in-process, collecting every result its observer hands over. */
export async function runWorkflowCollecting(options: LocalRunOptions): Promise<CollectedReport> {
  const results: ObjectResult[] = [];
  const report = await runWorkflowLocally({
    ...options,
    observer: {
      stats: options.observer?.stats ?? new RunStats(),
      onResult: async (r) => {
        results.push(r);
        await options.observer?.onResult?.(r);
      },
    },
  });
  return { ...report, results };
}

/** A `--report` file: its object lines, and its summary line (undefined if the run did not finish). */
export function readReportFile(path: string): { results: ObjectResult[]; summary: RunReport | undefined } {
  const results: ObjectResult[] = [];
  let summary: RunReport | undefined;
  for (const text of readFileSync(path, "utf8").split("\n")) {
    if (text === "") continue;
    const { type, ...line } = JSON.parse(text) as ReportLine;
    if (summary !== undefined) throw new Error(`${path}: a line after the summary line`);
    if (type === "summary") summary = line as RunReport;
    else results.push(line as ObjectResult);
  }
  return { results, summary };
}
