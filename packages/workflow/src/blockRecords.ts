import {
  type AssemblyPlan,
  BlockList,
  type BlockRequest,
  type BlockRounds,
  type ChunkPlan,
  type GapGuesses,
  planAssembly,
  SegmentList,
  type StoredBlockList,
  type StoredSegmentList,
} from "@chunksync/core";

/** {@link BlockRounds} as the work area keeps it: the blocks' and segments' arrays in base64url. */
export interface StoredRounds {
  request: BlockRequest;
  blocks: StoredBlockList;
  matched?: { segments: StoredSegmentList; guesses: GapGuesses };
  refined?: { segments: StoredSegmentList; guessed?: { blocks: StoredBlockList; oldOffset: number[] } };
}

/** `rounds` as JSON. */
export function storedRounds({ request, blocks, matched, refined }: BlockRounds): StoredRounds {
  const guessed = refined?.guessed;
  return {
    request,
    blocks: blocks.store(),
    ...(matched && { matched: { ...matched, segments: matched.segments.store() } }),
    ...(refined && {
      refined: {
        segments: refined.segments.store(),
        ...(guessed && { guessed: { ...guessed, blocks: guessed.blocks.store() } }),
      },
    }),
  };
}

/** The inverse of {@link storedRounds}. */
export function roundsOf({ request, blocks, matched, refined }: StoredRounds): BlockRounds {
  const guessed = refined?.guessed;
  return {
    request,
    blocks: BlockList.load(blocks),
    ...(matched && { matched: { ...matched, segments: SegmentList.load(matched.segments) } }),
    ...(refined && {
      refined: {
        segments: SegmentList.load(refined.segments),
        ...(guessed && { guessed: { ...guessed, blocks: BlockList.load(guessed.blocks) } }),
      },
    }),
  };
}

/**
 * An {@link AssemblyPlan} as the work area keeps it: the segments it was planned from. The plan
 * is made again from them on the chunk plan and old size it was made for (planning is
 * deterministic and cheap), so what is stored is one base64url list, not an object per piece.
 */
export interface StoredAssembly {
  segments: StoredSegmentList;
}

/** `assembly` as JSON. */
export function storedAssembly(assembly: AssemblyPlan): StoredAssembly {
  return { segments: assembly.segments.store() };
}

/**
 * The inverse of {@link storedAssembly}, given the chunk plan and old object size it was planned with.
 *
 * @throws ValidationError where the segments do not cover that plan's object within the old one
 */
export function assemblyOf(stored: StoredAssembly, plan: ChunkPlan, oldSize: number): AssemblyPlan {
  return planAssembly(plan, SegmentList.load(stored.segments), oldSize);
}
