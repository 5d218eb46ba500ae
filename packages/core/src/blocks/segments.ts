import { ValidationError } from "../errors.js";

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
export function sourceBytes(segments: readonly Segment[]): number {
  let total = 0;
  for (const segment of segments) if (segment.from === "source") total += segment.length;
  return total;
}

/**
 * Checks that `segments` cover a new object of `size` bytes exactly, each within the old
 * object of `oldSize` bytes or at its own place in the new one, and joins neighbours that
 * continue each other (an old range followed by the next bytes of the old object, or source
 * bytes followed by source bytes). Empty segments are dropped.
 *
 * @throws ValidationError naming the first segment that is out of place
 */
export function normalizeSegments(segments: readonly Segment[], size: number, oldSize: number): Segment[] {
  const out: Segment[] = [];
  let at = 0;
  segments.forEach((segment, i) => {
    const { from, offset, length } = segment ?? {};
    if (!Number.isSafeInteger(length) || length < 0)
      throw new ValidationError(`segments[${i}].length`, "a non-negative whole number of bytes");
    if (from === "source") {
      if (offset !== at)
        throw new ValidationError(
          `segments[${i}].offset`,
          `${at}, where the segment starts in the new object`,
        );
    } else if (from === "old") {
      if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > oldSize)
        throw new ValidationError(`segments[${i}]`, `a range within the old object's ${oldSize} bytes`);
    } else throw new ValidationError(`segments[${i}].from`, '"old" or "source"');
    at += length;
    if (length === 0) return;
    const last = out[out.length - 1];
    if (last !== undefined && last.from === from && last.offset + last.length === offset)
      out[out.length - 1] = { from, offset: last.offset, length: last.length + length };
    else out.push(segment); // the same object, not a copy: a list may hold hundreds of thousands
  });
  if (at !== size)
    throw new ValidationError(
      "segments",
      `segments covering the new object's ${size} bytes (they cover ${at})`,
    );
  return out;
}

/**
 * Builds a segment list as the segments come, joining each to the one before where it
 * continues it (the rule of {@link normalizeSegments}): a list of a million blocks never becomes
 * a million segments first.
 */
export class SegmentBuilder {
  readonly #out: { from: "old" | "source"; offset: number; length: number }[] = [];

  push(from: "old" | "source", offset: number, length: number): void {
    if (length === 0) return;
    const last = this.#out.at(-1);
    if (last !== undefined && last.from === from && last.offset + last.length === offset)
      last.length += length;
    else this.#out.push({ from, offset, length });
  }

  /**
   * The segments built, checked to cover a new object of `size` bytes.
   *
   * @throws ValidationError as {@link normalizeSegments}
   */
  finish(size: number, oldSize: number): Segment[] {
    return normalizeSegments(this.#out, size, oldSize);
  }
}
