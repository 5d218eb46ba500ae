import type { BlockList } from "./blockList.js";
import { SegmentList } from "./segments.js";

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
  segments: SegmentList,
  blocks: BlockList,
  oldSize: number,
  max = Number.POSITIVE_INFINITY,
  known?: BlockList,
): GapGuesses {
  const guesses: GapGuesses = { index: [], oldOffset: [] };
  const end = (i: number) => segments.offset(i) + segments.length(i);
  let position = 0;
  let b = 0; // index of the first source block not yet passed
  for (let i = 0; i < segments.count; i++) {
    const start = position;
    position += segments.length(i);
    if (segments.isOld(i)) continue;
    const before = i > 0;
    const after = i + 1 < segments.count;
    let oldStart: number | undefined;
    if (before && after) {
      // Both neighbours are old (segments alternate once joined): the gap between them must fit exactly.
      if (segments.offset(i + 1) - end(i - 1) === segments.length(i)) oldStart = end(i - 1);
    } else if (before) {
      if (end(i - 1) + segments.length(i) <= oldSize) oldStart = end(i - 1);
    } else if (after && segments.offset(i + 1) >= segments.length(i))
      oldStart = segments.offset(i + 1) - segments.length(i);
    while (b < blocks.count && blocks.offset(b) < start) b++;
    if (oldStart === undefined) continue;
    for (; b < blocks.count && blocks.offset(b) < position && guesses.index.length < max; b++) {
      const oldOffset = oldStart + (blocks.offset(b) - start);
      const same = known?.find(oldOffset) ?? -1;
      if (same >= 0 && known?.length(same) === blocks.length(b)) continue;
      guesses.index.push(b);
      guesses.oldOffset.push(oldOffset);
    }
  }
  return guesses;
}

/**
 * `segments` with the confirmed guesses' bytes taken from the old object instead of crossing.
 *
 * @param confirmed - the guesses whose bytes the destination found at their old offset, in order
 */
export function confirmGaps(
  segments: SegmentList,
  blocks: BlockList,
  confirmed: GapGuesses,
  size: number,
  oldSize: number,
): SegmentList {
  const out = new SegmentList();
  let position = 0;
  let c = 0;
  for (let i = 0; i < segments.count; i++) {
    const end = position + segments.length(i);
    if (segments.isOld(i)) out.push("old", segments.offset(i), segments.length(i));
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
  return out.check(size, oldSize);
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
