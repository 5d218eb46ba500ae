import type { OldRange } from "./blockExchange.js";

const INITIAL_CAPACITY = 64;

/** Byte ranges: a list, or an array (a message's as JSON gives it). */
export type Ranges = RangeList | readonly OldRange[];

/**
 * Byte ranges held as arrays, not objects (16 bytes a range): a fine round reads a range for
 * each place an object changed, hundreds of thousands of them at 100 GiB, and as objects (about
 * 60 bytes each, their offsets boxed) they stayed alive through the round's reads (issue 12's
 * memory bound). Ranges are kept as pushed: no order is implied.
 */
export class RangeList {
  #offsets: Float64Array;
  #lengths: Float64Array;
  #count = 0;

  constructor(capacity = INITIAL_CAPACITY) {
    this.#offsets = new Float64Array(capacity);
    this.#lengths = new Float64Array(capacity);
  }

  /** `ranges` as a list: the list itself where it is one, else a copy of the array. */
  static from(ranges: Ranges): RangeList {
    if (ranges instanceof RangeList) return ranges;
    const list = new RangeList(ranges.length);
    for (const r of ranges) list.push(r.offset, r.length);
    return list;
  }

  /** Number of ranges. */
  get count(): number {
    return this.#count;
  }

  offset(i: number): number {
    return this.#offsets[i] as number;
  }

  length(i: number): number {
    return this.#lengths[i] as number;
  }

  /** Range `i` as an object. */
  at(i: number): OldRange {
    return { offset: this.offset(i), length: this.length(i) };
  }

  /** Every range as an object, in order (for messages and tests). */
  toArray(): OldRange[] {
    return Array.from({ length: this.#count }, (_, i) => this.at(i));
  }

  /** The ranges as JSON keeps them: a message's array of ranges. */
  toJSON(): OldRange[] {
    return this.toArray();
  }

  /** Appends a range. */
  push(offset: number, length: number): void {
    if (this.#count === this.#offsets.length) this.#grow(Math.max(INITIAL_CAPACITY, 2 * this.#count));
    const i = this.#count++;
    this.#offsets[i] = offset;
    this.#lengths[i] = length;
  }

  /** Adds `length` bytes to the end of range `i`. */
  extend(i: number, length: number): void {
    this.#lengths[i] = this.length(i) + length;
  }

  /** Bytes of every range together. */
  bytes(): number {
    let total = 0;
    for (let i = 0; i < this.#count; i++) total += this.length(i);
    return total;
  }

  #grow(capacity: number): void {
    const offsets = new Float64Array(capacity);
    offsets.set(this.#offsets.subarray(0, this.#count));
    const lengths = new Float64Array(capacity);
    lengths.set(this.#lengths.subarray(0, this.#count));
    this.#offsets = offsets;
    this.#lengths = lengths;
  }
}
