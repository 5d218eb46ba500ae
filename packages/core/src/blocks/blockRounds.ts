import { type ChunkPlan, chunkRange } from "../chunkPlan.js";
import {
  BLOCK_TAG_BYTES,
  type BlockRequest,
  blockRequest,
  type OldRange,
  readBlockResponse,
  sameTag,
  wholeRequest,
  withGuesses,
} from "./blockExchange.js";
import { BlockList } from "./blockList.js";
import { TARGET_MAX_BLOCKS } from "./blockParams.js";
import { confirmGaps, filterGuesses, type GapGuesses, guessGaps } from "./guessGaps.js";
import { BlockMatcher, oldRangesToCut, segmentsOf } from "./matchBlocks.js";
import { type AssemblyPlan, planAssembly } from "./planAssembly.js";
import { RangeList } from "./rangeList.js";
import { SegmentList } from "./segments.js";

/**
 * The source's side of one object's block exchange between two answers from the destination:
 * the request out, the source's own blocks for it (their digests already replaced by this
 * request's tags, so no raw digest is kept) and what the earlier rounds found: after the
 * first answer the segments and the guesses the second request asks about; in the fine round,
 * the segments whose source runs the fine blocks are matched in, and the guesses the same
 * request asks about where it does.
 */
export interface BlockRounds {
  request: BlockRequest;
  /** The source's blocks for this request, in order, each digest replaced by its tag. */
  blocks: BlockList;
  matched?: { segments: SegmentList; guesses: GapGuesses };
  refined?: { segments: SegmentList; guessed?: GuessedBlocks };
}

/**
 * The first round's guesses asked about in a fine round (see {@link withGuesses}): each guessed
 * source block with its first-round tag, in order, and where it would sit in the old object.
 */
export interface GuessedBlocks {
  blocks: BlockList;
  oldOffset: number[];
}

/**
 * A fine round to ask for: the source cuts `ranges` of its new object (the runs still unmatched)
 * with `request.params`, and the destination the old ranges no match uses; where `guessed`, the
 * destination also tags those guesses' old ranges whole.
 */
export interface FineRound {
  request: BlockRequest;
  ranges: RangeList;
  segments: SegmentList;
  guessed?: GuessedBlocks;
}

/** Most guessed blocks one object asks the destination to confirm. */
const MAX_GUESSES = 100_000;
/** Unmatched bytes below this cross as they are: a fine round would save less than it costs. */
const MIN_FINE_BYTES = 64 * 1024;
/** Finest average block: a database page. */
const FINE_AVG = 4 * 1024;
/**
 * Most fine blocks one object's unmatched bytes are cut into, on average: as many as the first
 * round may cut (about a million, {@link TARGET_MAX_BLOCKS}). Held as arrays (about 30 bytes a
 * block on each side), a fine round then costs no more memory than the first round did, and an
 * object of 16 GiB with a page changed in every MiB still gets its 4 KiB blocks.
 */
const MAX_FINE_BLOCKS = TARGET_MAX_BLOCKS;

/**
 * Takes the destination's answer to `rounds.request` (anything it sent: what does not fit is
 * dropped, so its bytes cross). After the first answer, the changed chunks' blocks are matched
 * anywhere among the old blocks cut; where unmatched source runs sit exactly where a shift
 * against the chunk grid left them, the next round asks the destination to digest its own
 * bytes there. Then, where enough bytes are still unmatched (an edit of a few bytes in many
 * places, pages moved about), a fine round cuts them and the old bytes no match uses into
 * blocks of a few KiB and matches those anywhere. After that the new object's segments are final.
 * Where the first answer leaves both guesses and enough unmatched bytes for a fine round, the
 * fine round asks about the guesses too: one round trip instead of two, for the tags of the
 * guessed ranges' fine blocks, which cross from the destination as well.
 */
export function nextBlockRound(
  plan: ChunkPlan,
  changed: readonly number[],
  oldSize: number,
  rounds: BlockRounds,
  response: unknown,
): { segments: SegmentList } | { rounds: BlockRounds } | { refine: FineRound } {
  const answer = readBlockResponse(rounds.request, response);
  if (rounds.refined !== undefined) {
    const { guessed } = rounds.refined;
    const segments = guessed
      ? confirmGuesses(rounds.refined.segments, guessed.blocks, allOf(guessed), answer.whole, plan, oldSize)
      : rounds.refined.segments;
    return { segments: refineSegments(segments, rounds.blocks, answer.blocks, plan.size, oldSize) };
  }
  const cut = oldRangesToCut(plan, changed, oldSize);
  let segments: SegmentList;
  if (rounds.matched === undefined) {
    segments = segmentsOf(plan, new Set(changed), rounds.blocks, answer.blocks, oldSize);
    const guesses = guessGaps(segments, rounds.blocks, oldSize, MAX_GUESSES, answer.blocks);
    if (guesses.index.length > 0) {
      const whole = guesses.index.map((b, k) => ({
        offset: guesses.oldOffset[k] as number,
        length: rounds.blocks.length(b),
      }));
      // A fine round over the runs as they are now covers the guessed bytes too: it asks about
      // the guesses beside its cut, and its blocks refine what the confirmed guesses leave.
      // Only where the guessed bytes do not change its block size: counted among the unmatched,
      // they could double it, and blocks twice as large match half as much of a scattered edit.
      const fine = fineRound(rounds.request, segments, cut);
      const guessed = whole.reduce((sum, r) => sum + r.length, 0);
      if (fine && fineAvg(fine.ranges.bytes() - guessed) === fine.request.params.avg)
        return {
          refine: {
            ...fine,
            request: withGuesses(fine.request, rounds.request, whole),
            guessed: guessedBlocks(rounds.blocks, guesses),
          },
        };
      const request = wholeRequest(rounds.request, whole);
      return { rounds: { request, blocks: rounds.blocks, matched: { segments, guesses } } };
    }
  } else {
    const { guesses } = rounds.matched;
    segments = confirmGuesses(rounds.matched.segments, rounds.blocks, guesses, answer.whole, plan, oldSize);
  }
  const fine = fineRound(rounds.request, segments, cut);
  return fine ? { refine: fine } : { segments };
}

/** `segments` with the `guesses` (blocks of `blocks`) whose tags the destination's `whole` tags equal taken from the old object. */
function confirmGuesses(
  segments: SegmentList,
  blocks: BlockList,
  guesses: GapGuesses,
  whole: readonly (Buffer | undefined)[],
  plan: ChunkPlan,
  oldSize: number,
): SegmentList {
  const confirmed = filterGuesses(guesses, (k) =>
    sameTag(whole[k], blocks.digest(guesses.index[k] as number)),
  );
  return confirmGaps(segments, blocks, confirmed, plan.size, oldSize);
}

/** The guessed blocks of `blocks`, with their tags, as a fine round keeps them (see {@link GuessedBlocks}). */
function guessedBlocks(blocks: BlockList, guesses: GapGuesses): GuessedBlocks {
  const list = new BlockList(BLOCK_TAG_BYTES, guesses.index.length);
  for (const b of guesses.index) list.push(blocks.offset(b), blocks.length(b), blocks.digest(b));
  return { blocks: list, oldOffset: guesses.oldOffset };
}

/** Every block of `guessed` as a guess of its list. */
const allOf = (guessed: GuessedBlocks): GapGuesses => ({
  index: guessed.oldOffset.map((_, k) => k),
  oldOffset: guessed.oldOffset,
});

/**
 * The fine round for `segments`, or undefined where too few bytes are unmatched, or so many
 * that their fine blocks would be hardly finer than the first ones. The old ranges cut are
 * those of `cut` (what the first round cut) that no old segment uses.
 */
function fineRound(
  coarse: BlockRequest,
  segments: SegmentList,
  cut: readonly OldRange[],
): FineRound | undefined {
  const ranges = new RangeList();
  for (let i = 0, at = 0; i < segments.count; at += segments.length(i++))
    if (!segments.isOld(i)) ranges.push(at, segments.length(i));
  const unmatched = ranges.bytes();
  const avg = fineAvg(unmatched);
  if (unmatched < MIN_FINE_BYTES || avg * 4 > coarse.params.avg) return undefined;
  const free = unused(cut, segments);
  if (free.count === 0) return undefined;
  const request = blockRequest({
    direction: coarse.direction,
    source: coarse.source,
    destination: coarse.destination,
    params: { min: avg / 4, avg, max: avg * 4 },
    cut: free,
  });
  // The same nonce: one exchange, one run. The other cutting parameters key its tags apart.
  return { request: { ...request, nonce: coarse.nonce }, ranges, segments };
}

/** The fine blocks' average for `unmatched` bytes: a page, doubled until they fit {@link MAX_FINE_BLOCKS}. */
function fineAvg(unmatched: number): number {
  let avg = FINE_AVG;
  while (avg * MAX_FINE_BLOCKS < unmatched) avg *= 2;
  return avg;
}

/** The parts of the ascending, disjoint `ranges` of the old object that no old segment of `segments` uses. */
function unused(ranges: readonly OldRange[], segments: SegmentList): RangeList {
  // The old segments in order of offset, walked as one ascending, joined run of used bytes.
  const order = Uint32Array.from({ length: segments.count }, (_, i) => i)
    .filter((i) => segments.isOld(i))
    .sort((x, y) => segments.offset(x) - segments.offset(y));
  const out = new RangeList();
  let u = 0;
  // The used run being passed: [start, stop).
  let start = Number.POSITIVE_INFINITY;
  let stop = Number.POSITIVE_INFINITY;
  const nextRun = () => {
    if (u === order.length) {
      start = stop = Number.POSITIVE_INFINITY;
      return;
    }
    start = segments.offset(order[u] as number);
    stop = start + segments.length(order[u++] as number);
    while (u < order.length && segments.offset(order[u] as number) <= stop)
      stop = Math.max(stop, segments.offset(order[u] as number) + segments.length(order[u++] as number));
  };
  nextRun();
  for (const r of ranges) {
    let at = r.offset;
    const end = r.offset + r.length;
    while (stop <= at) nextRun();
    while (start < end && at < end) {
      if (start > at) out.push(at, start - at);
      at = Math.max(at, stop);
      if (stop <= end) nextRun();
      else break;
    }
    if (at < end) out.push(at, end - at);
  }
  return out;
}

/**
 * `segments` with each source run re-cut into its fine `blocks`, each matched anywhere among the
 * old fine blocks. The blocks were cut from the runs before any guess of the same round was
 * confirmed, so a confirmed guess may leave a block across a run's edge: the part of it inside
 * the run takes the same part of its match (a block found in the old object is found byte for
 * byte, so is any part of it).
 */
function refineSegments(
  segments: SegmentList,
  blocks: BlockList,
  old: BlockList,
  size: number,
  oldSize: number,
): SegmentList {
  const matcher = new BlockMatcher(old);
  const out = new SegmentList();
  let at = 0;
  let b = 0;
  for (let i = 0; i < segments.count; i++) {
    const end = at + segments.length(i);
    if (segments.isOld(i)) {
      out.push("old", segments.offset(i), segments.length(i));
      matcher.follow(segments.offset(i) + segments.length(i));
    } else {
      while (b < blocks.count && blocks.offset(b) + blocks.length(b) <= at) b++;
      let covered = at;
      for (; b < blocks.count && blocks.offset(b) <= covered && covered < end; b++) {
        const offset = blocks.offset(b);
        const to = Math.min(offset + blocks.length(b), end);
        const found = matcher.locate(blocks, b);
        if (found < 0) out.push("source", covered, to - covered);
        else out.push("old", found + (covered - offset), to - covered);
        covered = to;
        // A block reaching into the next run is that run's too.
        if (offset + blocks.length(b) > end) break;
      }
      // Blocks cut from this run (or from one holding it) cover it; anything else crosses as it is.
      if (covered !== end) return segments;
    }
    at = end;
  }
  return out.check(size, oldSize);
}

/**
 * The assembly of the new object from `segments` on the chunk grid of `plan`, where it sends
 * fewer bytes across than the chunk-level compose of the `changed` chunks would; undefined where
 * it would not.
 */
export function chooseAssembly(
  plan: ChunkPlan,
  changed: readonly number[],
  segments: SegmentList,
  oldSize: number,
): AssemblyPlan | undefined {
  let chunkLevel = 0;
  for (const i of changed) chunkLevel += chunkRange(plan, i).length;
  const assembly = planAssembly(plan, segments, oldSize);
  return assembly.sourceBytes < chunkLevel ? assembly : undefined;
}
