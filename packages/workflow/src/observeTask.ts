import { countResult, type ObjectResult, type RunStats } from "@chunksync/sync";
import { workKeys } from "./layout.js";
import { copyResults } from "./pageCopyRecords.js";
import { settledOnPage } from "./pageDecision.js";
import { pageResults } from "./pageDecisionRecords.js";
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

/** What watches one run's Tasks (see {@link observeTasks}). */
export interface RunWatch {
  /** Feeds the live counters from one Task that succeeded. */
  onTask: TaskObserver;
  /**
   * After a stop: tells the destination-only results of the pages whose FindDestinationOnly did
   * not end (it acted on some before the stop), which no Task told.
   */
  tellLeftExtras(runId: string): Promise<void>;
}

/**
 * Watches one run's Tasks. The workflow lists the source a page at a time between the pages'
 * objects and plans no work ahead, so `listed` and `plannedWork` stay unset: a display says
 * what was found and done so far. Each source object is reported as its result is recorded; a
 * page's destination-only objects (kept, or deleted with `delete`) as its FindDestinationOnly
 * ends, read from the work area one at a time (holding them would grow with the page).
 */
export function observeTasks(observer: RunObserver, work: WorkArea): RunWatch {
  const { stats } = observer;
  /** Hands on a result read from the work area, counted. */
  const tell = async (stored: StoredResult | undefined) => {
    if (stored === undefined) return;
    stats.done++;
    if (stored.result.state === "extra") stats.destinationOnly++;
    countResult(stats.objects, stored.result);
    await observer.onResult?.(stored.result);
  };
  /** Counts the result recorded of `key` and hands it on. */
  const told = async (runId: string, key: string) =>
    tell(await work.get<StoredResult>(workKeys.result(runId, key)));
  /** The pages whose destination-only results were told. */
  const toldPages = new Set<number>();
  const tellExtras = async (runId: string, page?: number) => {
    for await (const key of work.list(workKeys.extras(runId, page))) {
      if (page === undefined && toldPages.has(workKeys.extraPage(key))) continue;
      await tell(await work.get<StoredResult>(key));
    }
  };
  const onTask: TaskObserver = async (state, input, output) => {
    switch (state) {
      case "ListSourcePage": {
        const { items } = output as { items: { size: number }[] };
        stats.objects.scanned += items.length;
        for (const item of items) stats.sourceBytesScanned += item.size;
        return;
      }
      case "FindDestinationOnly": {
        // A destination step's input is the relay's: its own event is the payload.
        const { runId, page } = (input as { payload: { runId: string; page: number } }).payload;
        toldPages.add(page);
        await tellExtras(runId, page);
        return;
      }
      case "ComparePage": {
        // The pairs it settled, in one record (see pageDecisionRecords.ts).
        const { runId, page } = input as { runId: string; page: number };
        for (const stored of await pageResults(work, runId, page)) await tell(stored);
        return;
      }
      case "RecordCopies": {
        // The copies it settled, in one record (see pageCopyRecords.ts); the failures its
        // source met as it prepared them, a record each.
        const { runId, page } = input as { runId: string; page: number };
        const copies = await copyResults(work, runId, page);
        for (const stored of copies) await tell(stored);
        const copied = new Set(copies.map((c) => c.key));
        for (const key of settledOnPage(input, output)) if (!copied.has(key)) await told(runId, key);
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
  return { onTask, tellLeftExtras: (runId) => tellExtras(runId) };
}
