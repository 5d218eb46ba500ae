import { createHash } from "node:crypto";
import type { RandomSource } from "../challenge/drawNonce.js";
import { secureRandomBytes } from "../challenge/drawNonce.js";
import { ValidationError } from "../errors.js";
import type { SampleSpec } from "./sampleSpec.js";

/** A byte range of one object. */
export interface SampledRange {
  offset: number;
  length: number;
}

/** The ranges drawn from one object, in ascending offset order. */
export interface SampledObject<T> {
  item: T;
  ranges: SampledRange[];
}

/** A uniform double in [0, 1) from 53 random bits. */
export function uniform(random: RandomSource): number {
  const bytes = random(7);
  // 53 bits: the top 5 bits of the first byte are dropped.
  const high = bytes[0]! & 0x1f;
  let value = high;
  for (let i = 1; i < 7; i++) value = value * 256 + bytes[i]!;
  return value / 2 ** 53;
}

/**
 * A deterministic random source from `seed` (SHA-256 in counter mode), for tests and
 * benchmarks that must draw the same sample twice. Never for a real audit: a sample the
 * audited side can predict is one it can prepare for.
 */
export function seededRandom(seed: string): RandomSource {
  let counter = 0;
  let pool = Buffer.alloc(0);
  return (n) => {
    while (pool.length < n) {
      const block = createHash("sha256").update(seed).update(String(counter++)).digest();
      pool = Buffer.concat([pool, block]);
    }
    const out = pool.subarray(0, n);
    pool = pool.subarray(n);
    return Buffer.from(out);
  };
}

interface Held<T> {
  order: number;
  item: T;
  range: SampledRange;
}

/**
 * Where a {@link Sampler} stands after the objects offered so far, so that another process can
 * go on with the same stream (the workflow engine lists and samples one page a step).
 */
export interface SamplerState<T> {
  offered: number;
  units: number;
  bytes: number;
  run: { index: number; end: number; drawn: number };
  anyDrawn: boolean;
  fallback?: Held<T> | undefined;
  reservoir: Held<T>[];
}

/**
 * Draws byte ranges from objects offered one at a time (as a listing streams them). Each object
 * is cut into units of `unit` bytes (the last one shorter) and the units are drawn per the
 * spec: all of them (`full`); a `fraction` of them, stratified: the stream of units is cut into
 * runs of about 1 / fraction units and one unit is drawn uniformly from each run (decided as the
 * object is offered; the count is the fraction of the units, give or take one, and corruption is
 * missed no more often than by independent draws); or `count` of them uniformly without repeats
 * over everything offered (a reservoir of `count` units, known only once the listing is done).
 * A sample of at least one unit offered holds at least one: a stream shorter than its first run
 * may draw none of it, and then {@link rest} gives one unit drawn uniformly from all of them (a
 * reservoir of one, kept only until a run draws), so the sample is one uniform unit either way.
 */
export class Sampler<T> {
  readonly #reservoir: Held<T>[] = [];
  #offered = 0;
  #units = 0;
  #bytes = 0;
  /** `fraction`: the current run of units [start, end) and the unit drawn from it. */
  #run = { index: -1, end: 0, drawn: -1 };
  /** `fraction`: whether a run has drawn a unit yet; until then, one unit held uniformly from those offered. */
  #anyDrawn = false;
  #fallback: Held<T> | undefined;

  /** `from`: where a sampler of the same spec and unit stood (see {@link state}), to go on from there. */
  constructor(
    readonly spec: SampleSpec,
    readonly unit: number,
    readonly random: RandomSource = secureRandomBytes,
    from?: SamplerState<T>,
  ) {
    if (!Number.isSafeInteger(unit) || unit < 1) throw new ValidationError("unit", "a range size in bytes");
    if (from === undefined) return;
    this.#offered = from.offered;
    this.#units = from.units;
    this.#bytes = from.bytes;
    this.#run = { ...from.run };
    this.#anyDrawn = from.anyDrawn;
    this.#fallback = from.fallback;
    this.#reservoir.push(...from.reservoir);
  }

  /** Where this sampler stands: a sampler made `from` it draws on as this one would. */
  state(): SamplerState<T> {
    return {
      offered: this.#offered,
      units: this.#units,
      bytes: this.#bytes,
      run: { ...this.#run },
      anyDrawn: this.#anyDrawn,
      ...(this.#fallback ? { fallback: this.#fallback } : {}),
      reservoir: [...this.#reservoir],
    };
  }

  /** Units and bytes offered so far. */
  get offered(): { objects: number; units: number; bytes: number } {
    return { objects: this.#offered, units: this.#units, bytes: this.#bytes };
  }

  /**
   * Offers an object of `size` bytes, cut into units of `unit` bytes (a scrub passes the
   * object's chunk size). With `full` or `fraction` its drawn ranges come back at once
   * (undefined when none was drawn); with `count` they come from {@link rest}, as does the unit
   * a `fraction` holds when none of its runs drew one.
   */
  offer(item: T, size: number, unit = this.unit): SampledObject<T> | undefined {
    const order = this.#offered++;
    this.#bytes += size;
    const ranges: SampledRange[] = [];
    for (let offset = 0; offset < size; offset += unit) {
      const range = { offset, length: Math.min(unit, size - offset) };
      const seen = this.#units++;
      if (this.spec.kind === "full") ranges.push(range);
      else if (this.spec.kind === "fraction") {
        if (this.#drawnInRun(seen, this.spec.fraction)) {
          ranges.push(range);
          this.#anyDrawn = true;
          this.#fallback = undefined;
        } else if (!this.#anyDrawn && (seen === 0 || Math.floor(uniform(this.random) * (seen + 1)) === 0)) {
          // A reservoir of one (Algorithm R): unit `seen` replaces the held one with probability 1 / (seen + 1).
          this.#fallback = { order, item, range };
        }
      } else if (seen < this.spec.count) this.#reservoir.push({ order, item, range });
      else {
        // Algorithm R: unit `seen` replaces a held one with probability count / (seen + 1).
        const slot = Math.floor(uniform(this.random) * (seen + 1));
        if (slot < this.spec.count) this.#reservoir[slot] = { order, item, range };
      }
    }
    return ranges.length > 0 ? { item, ranges } : undefined;
  }

  /** Whether unit `seen` is the one drawn from its run; runs are [ceil(r / f), ceil((r + 1) / f)). */
  #drawnInRun(seen: number, fraction: number): boolean {
    while (seen >= this.#run.end) {
      const index = this.#run.index + 1;
      const start = Math.ceil(index / fraction);
      const end = Math.ceil((index + 1) / fraction);
      this.#run = { index, end, drawn: start + Math.floor(uniform(this.random) * (end - start)) };
    }
    return seen === this.#run.drawn;
  }

  /**
   * The `count` sample, by object in the order they were offered; for `fraction`, the one unit
   * held when no run drew any of the units offered; empty otherwise.
   */
  rest(): SampledObject<T>[] {
    if (this.#fallback !== undefined && !this.#anyDrawn) this.#reservoir.push(this.#fallback);
    this.#fallback = undefined;
    const held = [...this.#reservoir].sort((a, b) => a.order - b.order || a.range.offset - b.range.offset);
    const out: SampledObject<T>[] = [];
    let last: number | undefined;
    for (const h of held) {
      if (h.order !== last) out.push({ item: h.item, ranges: [] });
      out[out.length - 1]!.ranges.push(h.range);
      last = h.order;
    }
    this.#reservoir.length = 0;
    return out;
  }
}
