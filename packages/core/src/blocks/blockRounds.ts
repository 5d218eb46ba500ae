import { type ChunkPlan, chunkRange } from "../chunkPlan.js";
import {
  type BlockRequest,
  blockRequest,
  type OldRange,
  readBlockResponse,
  sameTag,
  wholeRequest,
} from "./blockExchange.js";
import type { BlockList } from "./blockList.js";
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
 * the segments whose source runs the fine blocks are matched in.
 */
export interface BlockRounds {
  request: BlockRequest;
  /** The source's blocks for this request, in order, each digest replaced by its tag. */
  blocks: BlockList;
  matched?: { segments: SegmentList; guesses: GapGuesses };
  refined?: { segments: SegmentList };
}

/**
 * A fine round to ask for: the source cuts `ranges` of its new object (the runs still unmatched)
 * with `request.params`, and the destination the old ranges no match uses.
 */
export interface FineRound {
  request: BlockRequest;
  ranges: RangeList;
  segments: SegmentList;
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
 */
export function nextBlockRound(
  plan: ChunkPlan,
  changed: readonly number[],
  oldSize: number,
  rounds: BlockRounds,
  response: unknown,
): { segments: SegmentList } | { rounds: BlockRounds } | { refine: FineRound } {
  const answer = readBlockResponse(rounds.request, response);
  if (rounds.refined !== undefined)
    return {
      segments: refineSegments(rounds.refined.segments, rounds.blocks, answer.blocks, plan.size, oldSize),
    };
  let segments: SegmentList;
  if (rounds.matched === undefined) {
    segments = segmentsOf(plan, new Set(changed), rounds.blocks, answer.blocks, oldSize);
    const guesses = guessGaps(segments, rounds.blocks, oldSize, MAX_GUESSES, answer.blocks);
    if (guesses.index.length > 0) {
      const request = wholeRequest(
        rounds.request,
        guesses.index.map((b, k) => ({
          offset: guesses.oldOffset[k] as number,
          length: rounds.blocks.length(b),
        })),
      );
      return { rounds: { request, blocks: rounds.blocks, matched: { segments, guesses } } };
    }
  } else {
    const { guesses } = rounds.matched;
    const confirmed = filterGuesses(guesses, (k) =>
      sameTag(answer.whole[k], rounds.blocks.digest(guesses.index[k] as number)),
    );
    segments = confirmGaps(rounds.matched.segments, rounds.blocks, confirmed, plan.size, oldSize);
  }
  const fine = fineRound(rounds.request, segments, oldRangesToCut(plan, changed, oldSize));
  return fine ? { refine: fine } : { segments };
}

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
  let avg = FINE_AVG;
  while (avg * MAX_FINE_BLOCKS < unmatched) avg *= 2;
  if (unmatched < MIN_FINE_BYTES || avg * 4 > coarse.params.avg) return undefined;
  const free = unused(cut, segments);
  if (free.length === 0) return undefined;
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

/** The parts of the ascending, disjoint `ranges` of the old object that no old segment of `segments` uses. */
function unused(ranges: readonly OldRange[], segments: SegmentList): OldRange[] {
  // The old segments in order of offset, walked as one ascending, joined run of used bytes.
  const order = Uint32Array.from({ length: segments.count }, (_, i) => i)
    .filter((i) => segments.isOld(i))
    .sort((x, y) => segments.offset(x) - segments.offset(y));
  const out: OldRange[] = [];
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
      if (start > at) out.push({ offset: at, length: start - at });
      at = Math.max(at, stop);
      if (stop <= end) nextRun();
      else break;
    }
    if (at < end) out.push({ offset: at, length: end - at });
  }
  return out;
}

/** `segments` with each source run re-cut into its fine `blocks`, each matched anywhere among the old fine blocks. */
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
      while (b < blocks.count && blocks.offset(b) < at) b++;
      let covered = at;
      for (; b < blocks.count && blocks.offset(b) < end; b++) {
        matcher.match(blocks, b, out);
        covered = blocks.offset(b) + blocks.length(b);
      }
      // Blocks cut from exactly this run cover it; anything else crosses as it is.
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
