import type { ObjectResult } from "@chunksync/sync";

/** Codes of an object that failed because its storage did not answer, after every retry. */
const UNANSWERED = new Set(["STORAGE_UNAVAILABLE", "SLOW_DOWN"]);

/**
 * Watches a run's results for storage that stopped answering: once `limit` objects in a row
 * failed for want of an answer (each after its retries and timeouts), with no object settled
 * between them, the run is better stopped than left to fail every object left in turn, which
 * takes minutes each. The rerun takes up what it left (the indexes keep what it settled).
 */
export class OutageWatch {
  #inRow = 0;
  /** The last such failure. */
  last: { code: string; message: string } | undefined;

  constructor(readonly limit: number) {}

  /** Objects in a row that failed for want of an answer, so far. */
  get inRow(): number {
    return this.#inRow;
  }

  /** Counts `result`; true once `limit` objects in a row failed for want of an answer. */
  add(result: ObjectResult): boolean {
    if (result.state === "failed" && result.error !== undefined && UNANSWERED.has(result.error.code)) {
      this.#inRow++;
      this.last = result.error;
    } else if (result.state !== "failed") this.#inRow = 0;
    return this.#inRow >= this.limit;
  }
}

/** Objects in a row that stop a run of `concurrency` (see {@link OutageWatch}): two rounds of it, 16 at least. */
export function outageLimit(concurrency: number): number {
  return Math.max(16, 2 * concurrency);
}
