import type { IndexEntry } from "@chunksync/core";
import type { SideIndex } from "./SideIndex.js";

/** The entries one key leaves in each side's new index. */
export interface KeyEntries {
  source?: IndexEntry | undefined;
  destination?: IndexEntry | undefined;
}

/** A key's place in the new indexes: settled once, in any order. */
export interface IndexSlot {
  /**
   * Hands over the key's entries; a promise while they (or entries before them) wait for a
   * piece of an index being written, undefined when they were taken at once.
   */
  settle(entries: KeyEntries): Promise<void> | undefined;
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
  /** The flush waiting for a piece to be written, if any: entries settled meanwhile wait for it. */
  #flushing: Promise<void> | undefined;
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
        if (this.#flushing !== undefined) return this.#track(this.#flushing.then(() => this.#flush()));
        const writing = this.#flush();
        return writing && this.#track(writing);
      },
    };
  }

  /** Every slot taken has settled and been written. */
  async drained(): Promise<void> {
    await this.settled();
    if (this.#written !== this.#taken) throw new Error("index slots left unsettled");
  }

  /**
   * After a stop (see {@link settled}): the entries of the slots that settled after the first
   * one that did not, per side in key order, for `SideIndex.commitSettled`. At most the
   * window's worth: the slots open at once.
   */
  settledLater(): { source: IndexEntry[]; destination: IndexEntry[] } {
    const later = { source: [] as IndexEntry[], destination: [] as IndexEntry[] };
    for (const at of [...this.#waiting.keys()].sort((a, b) => a - b)) {
      const { source, destination } = this.#waiting.get(at)!;
      if (source) later.source.push(source);
      if (destination) later.destination.push(destination);
    }
    return later;
  }

  /**
   * The entries settled in order so far are written (a run that stopped before its end: the
   * slots after the first unsettled one are not, see `SideIndex.commitSettled`).
   */
  async settled(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
  }

  /** Makes `flush` the flush in progress until it is done (unless a later one follows it). */
  #track(flush: Promise<void>): Promise<void> {
    const tracked: Promise<void> = flush.then(() => {
      if (this.#flushing === tracked) this.#flushing = undefined;
    });
    this.#flushing = tracked;
    return tracked;
  }

  /**
   * Hands the entries settled in order to the writers, without a turn of the event loop unless
   * a writer is writing a piece: then a promise of the rest, once it is written.
   */
  #flush(): Promise<void> | undefined {
    for (;;) {
      const entries = this.#waiting.get(this.#written);
      if (entries === undefined) return undefined;
      this.#waiting.delete(this.#written);
      this.#written++;
      this.#opened?.();
      this.#opened = undefined;
      const source = entries.source && this.sides.source?.keep(entries.source);
      const destination = entries.destination && this.sides.destination?.keep(entries.destination);
      if (source || destination) return this.#flushAfter(source, destination);
    }
  }

  async #flushAfter(
    source: Promise<void> | undefined,
    destination: Promise<void> | undefined,
  ): Promise<void> {
    await source;
    await destination;
    await this.#flush();
  }
}
