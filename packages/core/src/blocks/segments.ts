import { ValidationError } from "../errors.js";
import { RangeList } from "./rangeList.js";

/**
 * A run of the new object's bytes and where they come from: a range of the old destination
 * object (`from: "old"`, `offset` in the old object) or the new source object's own bytes
 * (`from: "source"`, `offset` in the new object). In a list, segments follow each other and
 * cover the new object exactly.
 */
export interface Segment {
  readonly from: "old" | "source";
  readonly offset: number;
  readonly length: number;
}

/** Bytes of the new object that must cross from the source: the sum of its source segments. */
export function sourceBytes(segments: Iterable<Segment>): number {
  let total = 0;
  for (const segment of segments) if (segment.from === "source") total += segment.length;
  return total;
}

/** A segment list as JSON keeps it: each array base64url (`from` a byte each, 0 for old; the rest big-endian doubles). */
export interface StoredSegmentList {
  from: string;
  offsets: string;
  lengths: string;
}

const INITIAL_CAPACITY = 64;
/** `from` as stored: a byte per segment. */
const OLD = 0;
const SOURCE = 1;

/**
 * Segments held as arrays, not objects (17 bytes a segment): an object of 100 GiB with a page
 * changed in every MiB has hundreds of thousands of them through every round, and as objects
 * (about 70 bytes each, their offsets boxed) they were most of what the exchange kept alive
 * between its reads (issue 12's memory bound). Built by {@link push}, which joins each
 * segment to the one before where it continues it, so a list of a million blocks never
 * becomes a million segments first; checked by {@link check} once built.
 */
export class SegmentList implements Iterable<Segment> {
  #from: Uint8Array;
  /** Each segment's offset and length: objects and old ranges reach past 4 GiB. */
  readonly #ranges: RangeList;

  constructor(capacity = INITIAL_CAPACITY) {
    this.#from = new Uint8Array(capacity);
    this.#ranges = new RangeList(capacity);
  }

  /**
   * `segments` checked to cover a new object of `size` bytes exactly, each within the old
   * object of `oldSize` bytes or at its own place in the new one, neighbours that continue each
   * other joined and empty ones dropped.
   *
   * @throws ValidationError naming the first segment (by its place in `segments`) out of place
   */
  static of(segments: readonly Segment[], size: number, oldSize: number): SegmentList {
    const list = new SegmentList(segments.length);
    let at = 0;
    segments.forEach((segment, i) => {
      const { from, offset, length } = segment ?? {};
      checkSegment(i, from, offset, length, at, oldSize);
      at += length;
      list.push(from, offset, length);
    });
    return list.#covers(at, size);
  }

  /** Number of segments. */
  get count(): number {
    return this.#ranges.count;
  }

  /** Whether segment `i` is a range of the old object (else the source's own bytes). */
  isOld(i: number): boolean {
    return this.#from[i] === OLD;
  }

  from(i: number): "old" | "source" {
    return this.isOld(i) ? "old" : "source";
  }

  offset(i: number): number {
    return this.#ranges.offset(i);
  }

  length(i: number): number {
    return this.#ranges.length(i);
  }

  /** Segment `i` as an object (for plans, tests and records; the list exists so that rounds need none). */
  at(i: number): Segment {
    return { from: this.from(i), offset: this.offset(i), length: this.length(i) };
  }

  /** Each segment as an object, in order. */
  *[Symbol.iterator](): IterableIterator<Segment> {
    for (let i = 0; i < this.count; i++) yield this.at(i);
  }

  /** Every segment as an object, in order (for records and tests). */
  toArray(): Segment[] {
    return [...this];
  }

  /** Bytes of the new object that must cross: the sum of the source segments. */
  sourceBytes(): number {
    let total = 0;
    for (let i = 0; i < this.count; i++) if (!this.isOld(i)) total += this.length(i);
    return total;
  }

  /** Appends a segment, joined to the last where it continues it; an empty one is dropped. */
  push(from: "old" | "source", offset: number, length: number): void {
    if (length === 0) return;
    const code = from === "old" ? OLD : SOURCE;
    const last = this.count - 1;
    if (last >= 0 && this.#from[last] === code && this.offset(last) + this.length(last) === offset) {
      this.#ranges.extend(last, length);
      return;
    }
    if (this.count === this.#from.length) {
      const grown = new Uint8Array(Math.max(INITIAL_CAPACITY, 2 * this.count));
      grown.set(this.#from);
      this.#from = grown;
    }
    this.#from[this.count] = code;
    this.#ranges.push(offset, length);
  }

  /**
   * This list, checked as {@link of} checks an array: for a list built by {@link push}.
   *
   * @throws ValidationError naming the first segment out of place
   */
  check(size: number, oldSize: number): this {
    let at = 0;
    for (let i = 0; i < this.count; i++) {
      checkSegment(i, this.from(i), this.offset(i), this.length(i), at, oldSize);
      at += this.length(i);
    }
    return this.#covers(at, size);
  }

  /** The list as JSON keeps it. */
  store(): StoredSegmentList {
    const offsets = Buffer.alloc(this.count * 8);
    const lengths = Buffer.alloc(this.count * 8);
    for (let i = 0; i < this.count; i++) {
      offsets.writeDoubleBE(this.offset(i), i * 8);
      lengths.writeDoubleBE(this.length(i), i * 8);
    }
    return {
      from: Buffer.from(this.#from.buffer, this.#from.byteOffset, this.count).toString("base64url"),
      offsets: offsets.toString("base64url"),
      lengths: lengths.toString("base64url"),
    };
  }

  /**
   * The inverse of {@link store}; check the list it gives as one built by {@link push}.
   *
   * @throws ValidationError where the arrays do not hold the same number of segments
   */
  static load(stored: StoredSegmentList): SegmentList {
    const from = Buffer.from(stored.from, "base64url");
    const offsets = Buffer.from(stored.offsets, "base64url");
    const lengths = Buffer.from(stored.lengths, "base64url");
    const count = from.length;
    if (
      offsets.length !== count * 8 ||
      lengths.length !== count * 8 ||
      from.some((f) => f !== OLD && f !== SOURCE)
    )
      throw new ValidationError("segments", "from, offsets and lengths of as many segments");
    const list = new SegmentList(count);
    for (let i = 0; i < count; i++)
      list.push(from[i] === OLD ? "old" : "source", offsets.readDoubleBE(i * 8), lengths.readDoubleBE(i * 8));
    return list;
  }

  #covers(at: number, size: number): this {
    if (at !== size)
      throw new ValidationError(
        "segments",
        `segments covering the new object's ${size} bytes (they cover ${at})`,
      );
    return this;
  }
}

/** Segment `i`, starting at `at` in the new object, is a whole length at its place: throws where not. */
function checkSegment(
  i: number,
  from: unknown,
  offset: number,
  length: number,
  at: number,
  oldSize: number,
): asserts from is "old" | "source" {
  if (!Number.isSafeInteger(length) || length < 0)
    throw new ValidationError(`segments[${i}].length`, "a non-negative whole number of bytes");
  if (from === "source") {
    if (offset !== at)
      throw new ValidationError(`segments[${i}].offset`, `${at}, where the segment starts in the new object`);
  } else if (from === "old") {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > oldSize)
      throw new ValidationError(`segments[${i}]`, `a range within the old object's ${oldSize} bytes`);
  } else throw new ValidationError(`segments[${i}].from`, '"old" or "source"');
}
