import type { RunSettings, StepBytes } from "./context.js";
import { workKeys } from "./layout.js";
import type { WorkArea } from "./WorkArea.js";

/**
 * A step's byte counts, starting at `counts`: what it returns in its output, and what a step
 * that fails leaves counted for its object all the same (see {@link runCounted}): a failed
 * Task has no output, and the bytes it read (a source changed under it: 412 halfway) were read.
 */
export function stepBytes<T extends StepBytes>(ctx: Pick<RunSettings, "counted">, counts: T): T {
  ctx.counted?.push(counts);
  return counts;
}

/**
 * Runs one step invocation with a context of its own that gathers the byte counts its steps make;
 * where it fails, they are kept in the work area for its object (`runId` and `key` in its event),
 * for the object's record to sum (see {@link movedBytes}). A step of no object keeps none.
 */
export async function runCounted<C extends RunSettings & { work: WorkArea }, T>(
  ctx: C,
  event: unknown,
  run: (ctx: C) => Promise<T>,
): Promise<T> {
  const counted: StepBytes[] = [];
  try {
    return await run({ ...ctx, counted });
  } catch (error) {
    const { runId, key } = (event ?? {}) as { runId?: unknown; key?: unknown };
    const moved = counted.filter((c) => Object.values(c).some((n) => (n ?? 0) > 0));
    if (typeof runId === "string" && typeof key === "string" && moved.length > 0) {
      // The step's own failure is the one to tell, not one met while counting after it.
      await ctx.work
        .put(workKeys.movedBy(runId, key), { steps: moved.map((bytes) => ({ bytes })) })
        .catch(() => {});
    }
    throw error;
  }
}

/**
 * What failed steps counted for `key` (see {@link runCounted}), as step outputs: with "every",
 * all of it (a LIST); with "page", only what its page's copy kept apart for its own flow (see
 * `workKeys.movedOnPage`: one GET, for a flow that met no failure of its own).
 */
export async function movedBytes(
  work: WorkArea,
  runId: string,
  key: string,
  which: "every" | "page",
): Promise<unknown[]> {
  if (which === "page") {
    const kept = await work.get<unknown>(workKeys.movedOnPage(runId, key));
    return kept === undefined ? [] : [kept];
  }
  const kept: unknown[] = [];
  for await (const at of work.list(workKeys.moved(runId, key))) kept.push(await work.get<unknown>(at));
  return kept;
}
