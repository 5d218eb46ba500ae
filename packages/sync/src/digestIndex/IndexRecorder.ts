import type { IndexEntry } from "@chunksync/core";
import type { SideIndex } from "./SideIndex.js";

/** The entries one key leaves in each side's new index. */
export interface KeyEntries {
  source?: IndexEntry | undefined;
  destination?: IndexEntry | undefined;
}

/** A key's place in the new indexes: settled once, in any order. */
export interface IndexSlot {
  settle(entries: KeyEntries): Promise<void>;
}

/**
 * Puts the entries of keys that settle out of order (objects run concurrently) back in key
 * order for the index writers. Slots are taken in key order as the merged listing passes; a
 * slot's entries wait only for the slots before it, so what waits is bounded by the keys in
 * progress and read ahead.
 */
export class IndexRecorder {
  readonly #waiting = new Map<number, KeyEntries>();
  #taken = 0;
  #written = 0;
  #flushing: Promise<void> = Promise.resolve();

  constructor(readonly sides: { source?: SideIndex | undefined; destination?: SideIndex | undefined }) {}

  /** The next key's slot. */
  slot(): IndexSlot {
    const at = this.#taken++;
    return {
      settle: (entries) => {
        this.#waiting.set(at, entries);
        // One flush at a time: the writers take entries strictly in order.
        this.#flushing = this.#flushing.then(() => this.#flush());
        return this.#flushing;
      },
    };
  }

  /** Every slot taken has settled and been written. */
  async drained(): Promise<void> {
    await this.#flushing;
    if (this.#written !== this.#taken) throw new Error("index slots left unsettled");
  }

  async #flush(): Promise<void> {
    for (;;) {
      const entries = this.#waiting.get(this.#written);
      if (entries === undefined) return;
      this.#waiting.delete(this.#written);
      this.#written++;
      if (entries.source) await this.sides.source?.keep(entries.source);
      if (entries.destination) await this.sides.destination?.keep(entries.destination);
    }
  }
}
