import type { ChunkPlan } from "../chunkPlan.js";
import { chunkRanges } from "../chunkPlan.js";
import type { OldRange } from "./blockExchange.js";
import type { BlockList } from "./blockList.js";
import { SegmentList } from "./segments.js";

/**
 * Finds source blocks among the old object's (any order): where a digest (and length) occurs
 * more than once, the occurrence that continues the previous match is preferred, so runs
 * stay whole; else the first.
 *
 * No object per block: the first occurrences sit in an open-addressing hash table of indexes
 * into the old list, keyed by 4 bytes of the digest (digests and tags are uniform), each hit
 * checked on the whole digest and length; the old block that would continue a match is found
 * by binary search over the old list's offsets.
 */
export class BlockMatcher {
  readonly #old: BlockList;
  /** Index + 1 of an old block, 0 for an empty slot; at most half full. */
  readonly #table: Int32Array;
  readonly #mask: number;
  /** The old offset that would continue the previous match; -1 after source bytes. */
  #next = -1;

  /** @param old - the old object's blocks, their offsets ascending */
  constructor(old: BlockList) {
    this.#old = old;
    let size = 16;
    while (size < 2 * old.count) size *= 2;
    this.#table = new Int32Array(size);
    this.#mask = size - 1;
    for (let i = 0; i < old.count; i++) {
      const slot = this.#slot(old, i);
      if (this.#table[slot] === 0) this.#table[slot] = i + 1;
    }
  }

  /** The slot holding the first old block equal to block `i` of `blocks`, or the empty slot where it would go. */
  #slot(blocks: BlockList, i: number): number {
    let slot = blocks.digestKey(i) & this.#mask;
    for (;;) {
      const entry = this.#table[slot] as number;
      if (entry === 0 || this.#old.sameBlock(entry - 1, blocks, i)) return slot;
      slot = (slot + 1) & this.#mask;
    }
  }

  /** Adds block `i` of `blocks` (the new object's) to `out`: a range of the old object, or source bytes. */
  match(blocks: BlockList, i: number, out: SegmentList): void {
    const offset = this.locate(blocks, i);
    if (offset < 0) out.push("source", blocks.offset(i), blocks.length(i));
    else out.push("old", offset, blocks.length(i));
  }

  /** Where the old object holds block `i` of `blocks` (the new object's), or -1: as {@link match} places it. */
  locate(blocks: BlockList, i: number): number {
    const following = this.#next < 0 ? -1 : this.#old.find(this.#next);
    let offset: number;
    if (following >= 0 && this.#old.sameBlock(following, blocks, i)) offset = this.#next;
    else {
      const entry = this.#table[this.#slot(blocks, i)] as number;
      if (entry === 0) {
        this.#next = -1;
        return -1;
      }
      offset = this.#old.offset(entry - 1);
    }
    this.#next = offset + blocks.length(i);
    return offset;
  }

  /** The new object continues with old bytes ending at `end`: a match right after them is preferred. */
  follow(end: number): void {
    this.#next = end;
  }
}

/**
 * The new object as segments: each source block whose digest (and length) some block of the
 * old object has becomes that old range, wherever it sits (moved data is reused); the rest are
 * source bytes. Neighbours are joined.
 *
 * @param source - the new object's blocks, in order, covering it exactly
 * @param old - the old object's blocks, their offsets ascending
 */
export function matchBlocks(source: BlockList, old: BlockList, oldSize: number): SegmentList {
  const matcher = new BlockMatcher(old);
  const out = new SegmentList();
  let size = 0;
  for (let i = 0; i < source.count; i++) {
    size += source.length(i);
    matcher.match(source, i, out);
  }
  return out.check(size, oldSize);
}

/**
 * The new object as segments, from the chunk challenge and the blocks: a chunk found equal is
 * the old object's bytes at the same place; a changed chunk is its blocks, each matched
 * anywhere among `old` (see {@link matchBlocks}).
 *
 * @param plan - the new object's chunk plan
 * @param changed - the chunks the challenge found different
 * @param blocks - the blocks of every changed chunk, in order
 * @param old - the old object's blocks that were cut, their offsets ascending
 */
export function segmentsOf(
  plan: ChunkPlan,
  changed: ReadonlySet<number>,
  blocks: BlockList,
  old: BlockList,
  oldSize: number,
): SegmentList {
  const matcher = new BlockMatcher(old);
  const out = new SegmentList();
  let b = 0;
  for (const range of chunkRanges(plan)) {
    const end = range.offset + range.length;
    if (!changed.has(range.index)) {
      out.push("old", range.offset, range.length);
      matcher.follow(end);
      continue;
    }
    for (; b < blocks.count && blocks.offset(b) < end; b++) matcher.match(blocks, b, out);
  }
  return out.check(plan.size, oldSize);
}

/**
 * The old object's ranges whose blocks the destination cuts, on the new plan's chunk grid: those
 * at the chunks that changed and every one past the new object's last chunk. Data moved from
 * anywhere that changed is found there; a chunk found equal holds its bytes in place already.
 */
export function oldRangesToCut(plan: ChunkPlan, changed: readonly number[], oldSize: number): OldRange[] {
  const count = Math.ceil(oldSize / plan.chunkSize);
  const indices = new Set(changed.filter((i) => i < count));
  for (let i = plan.count; i < count; i++) indices.add(i);
  return [...indices]
    .sort((a, b) => a - b)
    .map((i) => {
      const offset = i * plan.chunkSize;
      return { offset, length: Math.min(plan.chunkSize, oldSize - offset) };
    });
}
