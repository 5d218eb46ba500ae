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
  refined?: { segments: Segment[] };
}

/** `rounds` as JSON. */
export function storedRounds(rounds: BlockRounds): StoredRounds {
  return { ...rounds, blocks: rounds.blocks.store() };
}

/** The inverse of {@link storedRounds}. */
export function roundsOf(stored: StoredRounds): BlockRounds {
  return { ...stored, blocks: BlockList.load(stored.blocks) };
}
