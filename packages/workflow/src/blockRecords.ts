import type { Block, BlockRounds } from "@chunksync/core";

/** A block as JSON keeps it: its tag in base64. */
interface StoredBlock {
  offset: number;
  length: number;
  digest: string;
}

/** The source's state between two rounds of an object's block exchange, as the work area keeps it. */
export interface StoredRounds {
  request: BlockRounds["request"];
  blocks: StoredBlock[];
  matched?: {
    segments: NonNullable<BlockRounds["matched"]>["segments"];
    guesses: { block: StoredBlock; oldOffset: number }[];
  };
}

const toStored = (b: Block): StoredBlock => ({
  offset: b.offset,
  length: b.length,
  digest: b.digest.toString("base64"),
});
const fromStored = (b: StoredBlock): Block => ({
  offset: b.offset,
  length: b.length,
  digest: Buffer.from(b.digest, "base64"),
});

/** `rounds` as JSON: every tag in base64. */
export function storedRounds(rounds: BlockRounds): StoredRounds {
  const { request, blocks, matched } = rounds;
  return {
    request,
    blocks: blocks.map(toStored),
    ...(matched
      ? {
          matched: {
            segments: matched.segments,
            guesses: matched.guesses.map((g) => ({ block: toStored(g.block), oldOffset: g.oldOffset })),
          },
        }
      : {}),
  };
}

/** The inverse of {@link storedRounds}. */
export function roundsOf(stored: StoredRounds): BlockRounds {
  const { request, blocks, matched } = stored;
  return {
    request,
    blocks: blocks.map(fromStored),
    ...(matched
      ? {
          matched: {
            segments: matched.segments,
            guesses: matched.guesses.map((g) => ({ block: fromStored(g.block), oldOffset: g.oldOffset })),
          },
        }
      : {}),
  };
}
