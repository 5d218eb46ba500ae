import { countResult, type ObjectResult, type RunStats } from "@chunksync/sync";
import { workKeys } from "./layout.js";
import { type StoredResult, sumBytes } from "./sourceSteps.js";
import type { WorkArea } from "./WorkArea.js";

/** Where an in-process run reports as it goes, as the direct engine does. */
export interface RunObserver {
  stats: RunStats;
  /** Called once per object; a returned promise is waited for (a report being written). */
  onResult?: (result: ObjectResult) => void | Promise<void>;
}

/** Feeds the live counters from one Task that succeeded: its state name, input and output. */
export type TaskObserver = (state: string, input: unknown, output: unknown) => Promise<void>;

/**
 * Watches one run's Tasks. The workflow lists the source a page at a time between the pages'
 * objects and plans no work ahead, so `listed` and `plannedWork` stay unset: a display says
 * what was found and done so far. Each source object is reported as its result is recorded;
 * destination-only objects are counted from their page's total, and their results reach the
 * observer from the work area when the run ends or is stopped (holding them here would grow
 * with the run).
 */
export function observeTasks(observer: RunObserver, work: WorkArea): TaskObserver {
  const { stats } = observer;
  /** Counts the result recorded of `key` and hands it on. */
  const told = async (runId: string, key: string) => {
    const stored = await work.get<StoredResult>(workKeys.result(runId, key));
    if (stored === undefined) return;
    stats.done++;
    countResult(stats.objects, stored.result);
    await observer.onResult?.(stored.result);
  };
  return async (state, input, output) => {
    switch (state) {
      case "ListSourcePage": {
        const { items } = output as { items: { size: number }[] };
        stats.objects.scanned += items.length;
        for (const item of items) stats.sourceBytesScanned += item.size;
        return;
      }
      case "FindDestinationOnly": {
        const { extras } = output as { extras: number };
        stats.destinationOnly += extras;
        stats.objects.extra += extras;
        stats.done += extras;
        return;
      }
      case "ComparePage": {
        // The page's items it settled are those it did not hand on to the Map.
        const { runId, items } = input as { runId: string; items: { key: string }[] };
        const left = new Set((output as { key: string }[]).map((item) => item.key));
        for (const { key } of items) if (!left.has(key)) await told(runId, key);
        return;
      }
      case "Record":
      case "RecordFailure": {
        const { runId, key } = input as { runId: string; key: string };
        await told(runId, key);
        return;
      }
      case "WriteReport":
        // Its output is the run's totals, already counted step by step.
        return;
      default:
        sumBytes(output, stats.bytes);
    }
  };
}
