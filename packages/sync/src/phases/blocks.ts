import {
  type AssemblyPlan,
  type ChunkPlan,
  chooseAssembly,
  chunkRange,
  nextBlockRound,
  type ObjectIdentity,
} from "@chunksync/core";
import type { ObjectHead } from "@chunksync/storage";
import type { DestinationSide } from "../DestinationSide.js";
import type { SourceSide } from "../SourceSide.js";

/** Changed chunks smaller than this together cross whole: a block exchange would cost more round trips than it saves. */
export const MIN_BLOCK_BYTES = 1024 * 1024;

/** Whether a changed object is worth a block exchange: enough changed bytes, and old bytes to match against. */
export function wantsBlocks(plan: ChunkPlan, changed: readonly number[], oldSize: number): boolean {
  let bytes = 0;
  for (const i of changed) bytes += chunkRange(plan, i).length;
  return bytes >= MIN_BLOCK_BYTES && oldSize > 0;
}

/**
 * The block exchange of one changed object where both sides live in one process: the source
 * cuts its changed chunks into blocks and asks, the destination answers from its old object,
 * for as many rounds as the source asks. The assembly that sends the fewest bytes across, or
 * undefined where blocks save nothing (the chunk-level compose stands). `onPlanned` is told the
 * bytes each round reads on both sides (see RunStats.plannedWork).
 */
export async function exchangeBlocks(
  sourceSide: SourceSide,
  destinationSide: DestinationSide,
  source: ObjectIdentity,
  destination: Pick<ObjectHead, "key" | "etag" | "size">,
  plan: ChunkPlan,
  changed: readonly number[],
  onPlanned: (bytes: number) => void = () => {},
): Promise<AssemblyPlan | undefined> {
  const id = { bucket: destinationSide.options.store.bucket, key: destination.key, etag: destination.etag };
  let rounds = await sourceSide.startBlocks(source, { ...id, size: destination.size }, plan, changed);
  if (rounds !== undefined) onPlanned(sum(changed.map((i) => chunkRange(plan, i))));
  while (rounds !== undefined) {
    onPlanned(sum(rounds.request.cut) + sum(rounds.request.whole));
    const response = await destinationSide.answerBlocks(rounds.request, destination);
    const next = nextBlockRound(plan, changed, destination.size, rounds, response);
    if ("segments" in next) return chooseAssembly(plan, changed, next.segments, destination.size);
    rounds = next.rounds;
  }
  return undefined;
}

const sum = (ranges: readonly { length: number }[]) => ranges.reduce((n, r) => n + r.length, 0);
