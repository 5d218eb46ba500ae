import type { Block, BlockRequest, BlockRounds, Segment } from "@chunksync/core";

/** The source's state between two rounds of an object's block exchange, its blocks as `B`. */
interface Rounds<B> {
  request: BlockRequest;
  blocks: B[];
  matched?: { segments: Segment[]; guesses: { block: B; oldOffset: number }[] };
  refined?: { segments: Segment[] };
}

/** A block as JSON keeps it: its tag in base64. */
interface StoredBlock {
  offset: number;
  length: number;
  digest: string;
}

/** {@link BlockRounds} as the work area keeps it. */
export type StoredRounds = Rounds<StoredBlock>;

function mapBlocks<A, B>(rounds: Rounds<A>, f: (block: A) => B): Rounds<B> {
  const { request, blocks, matched, refined } = rounds;
  return {
    request,
    blocks: blocks.map(f),
    ...(refined ? { refined } : {}),
    ...(matched
      ? {
          matched: {
            segments: matched.segments,
            guesses: matched.guesses.map((g) => ({ block: f(g.block), oldOffset: g.oldOffset })),
          },
        }
      : {}),
  };
}

/** `rounds` as JSON: every tag in base64. */
export function storedRounds(rounds: BlockRounds): StoredRounds {
  return mapBlocks(rounds, (b: Block) => ({ ...b, digest: b.digest.toString("base64") }));
}

/** The inverse of {@link storedRounds}. */
export function roundsOf(stored: StoredRounds): BlockRounds {
  return mapBlocks(stored, (b) => ({ ...b, digest: Buffer.from(b.digest, "base64") }));
}
