import type { BlockList } from "./blockList.js";
import { type Segment, SegmentBuilder } from "./segments.js";

/**
 * Source blocks that are probably the old object's bytes at some place; the destination
 * confirms by digesting them. Guess `k` is block `index[k]` of the new object's blocks, at
 * `oldOffset[k]` in the old object; in the blocks' order.
 */
export interface GapGuesses {
  readonly index: number[];
  readonly oldOffset: number[];
}

/**
 * Source blocks that probably did not change: each run of source bytes that sits between two
 * old runs lying exactly its length apart in the old object (or before the first, or after the
 * last, within the old object). Blocks never cross a chunk boundary, so where an insertion
 * shifted the chunk grid the blocks around each boundary are cut differently on each side and
 * do not match, though their bytes are unchanged; here the destination can digest its own
 * bytes at the guessed place, cut as the source cut them, and keep those whose digests agree.
 *
 * No guess is exactly a block of `known`: the old blocks whose digests `segments` were matched
 * against. Its digest is already known to differ (else the block would have matched), so the
 * destination would read it again only to say no: an edit in place (a page overwritten)
 * leaves one such guess per edit.
 *
 * @param segments - from {@link matchBlocks} over `blocks`
 * @param blocks - the new object's blocks, in order
 * @param max - most guesses: the first `max`
 * @param known - the old blocks matched against, their offsets ascending
 */
export function guessGaps(
  segments: readonly Segment[],
  blocks: BlockList,
  oldSize: number,
  max = Number.POSITIVE_INFINITY,
  known?: BlockList,
): GapGuesses {
  const guesses: GapGuesses = { index: [], oldOffset: [] };
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
    while (b < blocks.count && blocks.offset(b) < start) b++;
    if (oldStart === undefined) return;
    for (; b < blocks.count && blocks.offset(b) < position && guesses.index.length < max; b++) {
      const oldOffset = oldStart + (blocks.offset(b) - start);
      const same = known?.find(oldOffset) ?? -1;
      if (same >= 0 && known?.length(same) === blocks.length(b)) continue;
      guesses.index.push(b);
      guesses.oldOffset.push(oldOffset);
    }
  });
  return guesses;
}

/**
 * `segments` with the confirmed guesses' bytes taken from the old object instead of crossing.
 *
 * @param confirmed - the guesses whose bytes the destination found at their old offset, in order
 */
export function confirmGaps(
  segments: readonly Segment[],
  blocks: BlockList,
  confirmed: GapGuesses,
  size: number,
  oldSize: number,
): Segment[] {
  const out = new SegmentBuilder();
  let position = 0;
  let c = 0;
  for (const segment of segments) {
    const end = position + segment.length;
    if (segment.from === "old") out.push("old", segment.offset, segment.length);
    else {
      let at = position;
      for (; c < confirmed.index.length && blocks.offset(confirmed.index[c] as number) < end; c++) {
        const b = confirmed.index[c] as number;
        const offset = blocks.offset(b);
        if (offset < at) continue;
        if (offset > at) out.push("source", at, offset - at);
        out.push("old", confirmed.oldOffset[c] as number, blocks.length(b));
        at = offset + blocks.length(b);
      }
      if (at < end) out.push("source", at, end - at);
    }
    position = end;
  }
  return out.finish(size, oldSize);
}

/** The guesses `keep` (given each guess's place in `guesses`) says yes to, in order. */
export function filterGuesses(guesses: GapGuesses, keep: (k: number) => boolean): GapGuesses {
  const out: GapGuesses = { index: [], oldOffset: [] };
  guesses.index.forEach((index, k) => {
    if (!keep(k)) return;
    out.index.push(index);
    out.oldOffset.push(guesses.oldOffset[k] as number);
  });
  return out;
}
