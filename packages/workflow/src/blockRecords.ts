import {
  BlockList,
  type BlockRequest,
  type BlockRounds,
  type GapGuesses,
  type Segment,
  type StoredBlockList,
} from "@chunksync/core";

/** {@link BlockRounds} as the work area keeps it: the blocks' arrays in base64url. */
export interface StoredRounds {
  request: BlockRequest;
  blocks: StoredBlockList;
  matched?: { segments: Segment[]; guesses: GapGuesses };
  refined?: { segments: Segment[]; guessed?: { blocks: StoredBlockList; oldOffset: number[] } };
}

/** `rounds` as JSON. */
export function storedRounds(rounds: BlockRounds): StoredRounds {
  const { refined, ...rest } = rounds;
  const guessed = refined?.guessed && { ...refined.guessed, blocks: refined.guessed.blocks.store() };
  return {
    ...rest,
    blocks: rounds.blocks.store(),
    ...(refined ? { refined: { segments: refined.segments, ...(guessed ? { guessed } : {}) } } : {}),
  };
}

/** The inverse of {@link storedRounds}. */
export function roundsOf(stored: StoredRounds): BlockRounds {
  const { refined, ...rest } = stored;
  const guessed = refined?.guessed && { ...refined.guessed, blocks: BlockList.load(refined.guessed.blocks) };
  return {
    ...rest,
    blocks: BlockList.load(stored.blocks),
    ...(refined ? { refined: { segments: refined.segments, ...(guessed ? { guessed } : {}) } } : {}),
  };
}
