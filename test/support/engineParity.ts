import type { ObjectResult, RunReport, SideIndexReport } from "@chunksync/sync";
import { expect } from "vitest";

/** A run's report with each object's result (see `collectResults`). */
type Reported = RunReport & { results: ObjectResult[] };

/**
 * The byte figures both engines count alike: the workflow's source side reads the source again
 * (for its index, and through the links its destination side reads), where the direct engine
 * reads it once.
 */
export const SAME_BYTES = ["transferred", "uploaded", "destinationRead", "copiedServerSide"] as const;

/** Each object's result by its destination key, whatever the order they settled in. */
export const byKey = (report: Reported) =>
  Object.fromEntries(report.results.map((result) => [result.destinationKey, result]));

/** What a side's index report says, but where it is (each run has its own location). */
export const said = ({ location: _, ...rest }: SideIndexReport) => rest;

/**
 * Asserts that the workflow engine's run reported what the direct engine's did: each object's
 * result, the counts, the byte figures `bytes` names and, with `index`, what each side's index did.
 */
export function expectAsDirect(
  reports: Record<"direct" | "workflow", Reported>,
  { bytes = [], index = false }: { bytes?: readonly (keyof RunReport["bytes"])[]; index?: boolean } = {},
): void {
  expect(byKey(reports.workflow)).toEqual(byKey(reports.direct));
  expect(reports.workflow.objects).toEqual(reports.direct.objects);
  for (const field of bytes) expect(reports.workflow.bytes[field], field).toBe(reports.direct.bytes[field]);
  if (index)
    for (const side of ["source", "destination"] as const)
      expect(said(reports.workflow.index![side]!), side).toEqual(said(reports.direct.index![side]!));
}
