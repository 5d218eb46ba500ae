import { type ChunkPlan, chunkRange, MIN_CHUNK_SIZE } from "../chunkPlan.js";
import type { Block } from "./blockChunker.js";
import { type BlockRequest, readBlockResponse, sameTag, wholeRequest } from "./blockExchange.js";
import { confirmGaps, type GapGuess, guessGaps } from "./guessGaps.js";
import { segmentsOf } from "./matchBlocks.js";
import { type AssemblyPlan, planAssembly } from "./planAssembly.js";
import type { Segment } from "./segments.js";

/**
 * The source's side of one object's block exchange between two answers from the destination:
 * the request out, the source's own blocks of the changed chunks (their digests already
 * replaced by this request's tags, so no raw digest is kept) and, after the first answer, the
 * segments found and the guesses the second request asks about.
 */
export interface BlockRounds {
  request: BlockRequest;
  /** The source's blocks of the changed chunks, in order, each digest replaced by its tag. */
  blocks: Block[];
  matched?: { segments: Segment[]; guesses: GapGuess[] };
}

/** Most guessed blocks one object asks the destination to confirm. */
const MAX_GUESSES = 100_000;

/**
 * Takes the destination's answer to `rounds.request` (anything it sent: what does not fit is
 * dropped, so its bytes cross). After the first answer, the changed chunks' blocks are matched
 * anywhere among the old blocks cut; where unmatched source runs sit exactly where a shift
 * against the chunk grid left them, the next round asks the destination to digest its own
 * bytes there. After that, or when nothing is guessed, the new object's segments are final.
 */
export function nextBlockRound(
  plan: ChunkPlan,
  changed: readonly number[],
  oldSize: number,
  rounds: BlockRounds,
  response: unknown,
): { segments: Segment[] } | { rounds: BlockRounds } {
  const answer = readBlockResponse(rounds.request, response);
  if (rounds.matched === undefined) {
    const segments = segmentsOf(plan, new Set(changed), rounds.blocks, answer.blocks, oldSize);
    const guesses = guessGaps(segments, rounds.blocks, oldSize).slice(0, MAX_GUESSES);
    if (guesses.length === 0) return { segments };
    const request = wholeRequest(
      rounds.request,
      guesses.map((g) => ({ offset: g.oldOffset, length: g.block.length })),
    );
    return { rounds: { request, blocks: rounds.blocks, matched: { segments, guesses } } };
  }
  const { segments, guesses } = rounds.matched;
  const confirmed = guesses.filter((g, i) => sameTag(answer.whole[i], g.block.digest));
  return { segments: confirmGaps(segments, confirmed, plan.size, oldSize) };
}

/**
 * The assembly of the new object from `segments`, where it sends fewer bytes across than the
 * chunk-level compose of the `changed` chunks would; undefined where it would not. Mixed parts
 * are at most one chunk (two minimum parts when chunks are smaller), as each is built in memory.
 */
export function chooseAssembly(
  plan: ChunkPlan,
  changed: readonly number[],
  segments: readonly Segment[],
  oldSize: number,
): AssemblyPlan | undefined {
  let chunkLevel = 0;
  for (const i of changed) chunkLevel += chunkRange(plan, i).length;
  const assembly = planAssembly(segments, plan.size, oldSize, Math.max(plan.chunkSize, 2 * MIN_CHUNK_SIZE));
  return assembly.sourceBytes < chunkLevel ? assembly : undefined;
}
