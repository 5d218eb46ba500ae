import { countResult, type ObjectResult, type RunStats } from "@chunksync/sync";
import { workKeys } from "./layout.js";
import { type StoredResult, sumBytes } from "./sourceSteps.js";
import type { WorkArea } from "./WorkArea.js";

/** Where an in-process run reports as it goes, as the direct engine does. */
export interface RunObserver {
  stats: RunStats;
  onResult?: (result: ObjectResult) => void;
}

/** Feeds the live counters from one Task that succeeded: its state name, input and output. */
export type TaskObserver = (state: string, input: unknown, output: unknown) => Promise<void>;

/**
 * Watches one run's Tasks. The workflow lists the source a page at a time between the pages'
 * objects and plans no work ahead, so `listed` and `plannedWork` stay unset: a display says
 * what was found and done so far. Each object, destination-only ones included, is reported
 * once as its result is recorded, as the direct engine reports a settled object.
 */
export function observeTasks(observer: RunObserver, work: WorkArea): TaskObserver {
  const { stats } = observer;
  const reportedExtras = new Set<string>();
  const settled = async (resultKey: string) => {
    const stored = await work.get<StoredResult>(resultKey);
    if (stored === undefined) return;
    stats.done++;
    countResult(stats.objects, stored.result);
    observer.onResult?.(stored.result);
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
        // A destination step: the relay's input carries the step's own event as its payload.
        const { runId } = (input as { payload: { runId: string } }).payload;
        const { extras } = output as { extras: number };
        stats.destinationOnly += extras;
        // Pages run concurrently: each destination-only result is reported the first time it is seen.
        for await (const k of work.list(`${workKeys.results(runId)}extra-`)) {
          if (reportedExtras.has(k)) continue;
          reportedExtras.add(k);
          await settled(k);
        }
        return;
      }
      case "Record":
      case "RecordFailure": {
        const { runId, key } = input as { runId: string; key: string };
        await settled(workKeys.result(runId, key));
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
