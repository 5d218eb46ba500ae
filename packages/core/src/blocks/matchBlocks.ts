import type { ChunkPlan } from "../chunkPlan.js";
import { chunkRanges } from "../chunkPlan.js";
import type { Block } from "./blockChunker.js";
import type { OldRange } from "./blockExchange.js";
import { normalizeSegments, type Segment } from "./segments.js";

const blockKey = (block: Block) => `${block.length}:${block.digest.toString("latin1")}`;

/**
 * Finds source blocks among the old object's (any order): where a digest (and length) occurs
 * more than once, the occurrence that continues the previous match is preferred, so runs
 * stay whole.
 */
export class BlockMatcher {
  readonly #first = new Map<string, number>();
  readonly #at = new Map<number, Block>();
  /** The old offset that would continue the previous match; -1 after source bytes. */
  #next = -1;

  constructor(old: readonly Block[]) {
    for (const block of old) {
      const key = blockKey(block);
      if (!this.#first.has(key)) this.#first.set(key, block.offset);
      this.#at.set(block.offset, block);
    }
  }

  /** The segment of the new object that `block` is: a range of the old object, or source bytes. */
  segment(block: Block): Segment {
    const following = this.#at.get(this.#next);
    const offset =
      following !== undefined && following.length === block.length && following.digest.equals(block.digest)
        ? this.#next
        : this.#first.get(blockKey(block));
    if (offset === undefined) {
      this.#next = -1;
      return { from: "source", offset: block.offset, length: block.length };
    }
    this.#next = offset + block.length;
    return { from: "old", offset, length: block.length };
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
 * @param old - the old object's blocks (any order)
 */
export function matchBlocks(source: readonly Block[], old: readonly Block[], oldSize: number): Segment[] {
  const matcher = new BlockMatcher(old);
  let size = 0;
  const segments = source.map((block) => {
    size += block.length;
    return matcher.segment(block);
  });
  return normalizeSegments(segments, size, oldSize);
}

/**
 * The new object as segments, from the chunk challenge and the blocks: a chunk found equal is
 * the old object's bytes at the same place; a changed chunk is its blocks, each matched
 * anywhere among `old` (see {@link matchBlocks}).
 *
 * @param plan - the new object's chunk plan
 * @param changed - the chunks the challenge found different
 * @param blocks - the blocks of every changed chunk, in order
 * @param old - the old object's blocks that were cut
 */
export function segmentsOf(
  plan: ChunkPlan,
  changed: ReadonlySet<number>,
  blocks: readonly Block[],
  old: readonly Block[],
  oldSize: number,
): Segment[] {
  const matcher = new BlockMatcher(old);
  const segments: Segment[] = [];
  let b = 0;
  for (const range of chunkRanges(plan)) {
    const end = range.offset + range.length;
    if (!changed.has(range.index)) {
      segments.push({ from: "old", offset: range.offset, length: range.length });
      matcher.follow(end);
      continue;
    }
    while (b < blocks.length && blocks[b]!.offset < end) segments.push(matcher.segment(blocks[b++]!));
  }
  return normalizeSegments(segments, plan.size, oldSize);
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
