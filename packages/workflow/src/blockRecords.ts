import {
  BlockList,
  type BlockRequest,
  type BlockRounds,
  type GapGuesses,
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
