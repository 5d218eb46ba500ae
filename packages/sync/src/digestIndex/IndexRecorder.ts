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
 * Slots taken but not yet written at most: a key that takes long (a large object) holds back
 * the entries of the keys after it, which would otherwise pile up without bound.
 */
const WINDOW = 10_000;

/**
 * Puts the entries of keys that settle out of order (objects run concurrently) back in key
 * order for the index writers. Slots are taken in key order as keys are taken up; a slot's
 * entries wait only for the slots before it, and no more than {@link WINDOW} slots are open at
 * once: taking one more waits for the oldest to be written.
 */
export class IndexRecorder {
  readonly #waiting = new Map<number, KeyEntries>();
  #taken = 0;
  #written = 0;
  #flushing: Promise<void> = Promise.resolve();
  /** Resolves a `slot()` waiting for the window to open. */
  #opened: (() => void) | undefined;

  constructor(
    readonly sides: { source?: SideIndex | undefined; destination?: SideIndex | undefined },
    readonly window = WINDOW,
  ) {}

  /** The next key's slot, once fewer than the window's slots are open. */
  async slot(): Promise<IndexSlot> {
    for (let full = this.full(); full !== undefined; full = this.full()) await full;
    return this.take();
  }

  /** Resolves when the window may have opened; undefined while it is open (a slot can be taken now). */
  full(): Promise<void> | undefined {
    if (this.#taken - this.#written < this.window) return undefined;
    return new Promise<void>((resolve) => {
      this.#opened = resolve;
    });
  }

  /** The next key's slot, taken now: only while the window is open (see {@link full}). */
  take(): IndexSlot {
    if (this.#taken - this.#written >= this.window) throw new Error("index slot taken with the window full");
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
      this.#opened?.();
      this.#opened = undefined;
      if (entries.source) await this.sides.source?.keep(entries.source);
      if (entries.destination) await this.sides.destination?.keep(entries.destination);
    }
  }
}
