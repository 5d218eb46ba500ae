import type { Block } from "./blockChunker.js";
import { normalizeSegments, type Segment } from "./segments.js";

/** A source block that is probably the old object's bytes at `oldOffset`; the destination confirms by digesting them. */
export interface GapGuess {
  readonly block: Block;
  readonly oldOffset: number;
}

/**
 * Source blocks that probably did not change: each run of source bytes that sits between two
 * old runs lying exactly its length apart in the old object (or before the first, or after the
 * last, within the old object). Blocks never cross a chunk boundary, so where an insertion
 * shifted the chunk grid the blocks around each boundary are cut differently on each side and
 * do not match, though their bytes are unchanged; here the destination can digest its own
 * bytes at the guessed place, cut as the source cut them, and keep those whose digests agree.
 *
 * @param segments - from {@link matchBlocks} over `blocks`
 * @param blocks - the new object's blocks, in order
 */
export function guessGaps(
  segments: readonly Segment[],
  blocks: readonly Block[],
  oldSize: number,
): GapGuess[] {
  const guesses: GapGuess[] = [];
  let position = 0;
  let b = 0; // index of the first source block not yet passed
  segments.forEach((segment, i) => {
    const start = position;
    position += segment.length;
    if (segment.from !== "source") return;
    const before = segments[i - 1];
    const after = segments[i + 1];
    let oldStart: number | undefined;
    if (before !== undefined && after !== undefined) {
      // Both neighbours are old (segments alternate once joined): the gap between them must fit exactly.
      if (after.offset - (before.offset + before.length) === segment.length)
        oldStart = before.offset + before.length;
    } else if (before !== undefined) {
      if (before.offset + before.length + segment.length <= oldSize) oldStart = before.offset + before.length;
    } else if (after !== undefined && after.offset >= segment.length)
      oldStart = after.offset - segment.length;
    while (b < blocks.length && (blocks[b] as Block).offset < start) b++;
    if (oldStart === undefined) return;
    for (; b < blocks.length && (blocks[b] as Block).offset < position; b++) {
      const block = blocks[b] as Block;
      guesses.push({ block, oldOffset: oldStart + (block.offset - start) });
    }
  });
  return guesses;
}

/** `segments` with the confirmed guesses' bytes taken from the old object instead of crossing. */
export function confirmGaps(
  segments: readonly Segment[],
  confirmed: readonly GapGuess[],
  size: number,
  oldSize: number,
): Segment[] {
  const sorted = [...confirmed].sort((x, y) => x.block.offset - y.block.offset);
  const out: Segment[] = [];
  let position = 0;
  let c = 0;
  for (const segment of segments) {
    const end = position + segment.length;
    if (segment.from === "old") out.push(segment);
    else {
      let at = position;
      while (c < sorted.length && (sorted[c] as GapGuess).block.offset < end) {
        const { block, oldOffset } = sorted[c++] as GapGuess;
        if (block.offset < at) continue;
        if (block.offset > at) out.push({ from: "source", offset: at, length: block.offset - at });
        out.push({ from: "old", offset: oldOffset, length: block.length });
        at = block.offset + block.length;
      }
      if (at < end) out.push({ from: "source", offset: at, length: end - at });
    }
    position = end;
  }
  return normalizeSegments(out, size, oldSize);
}
