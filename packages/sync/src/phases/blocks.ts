import {
  type AssemblyPlan,
  type BlockRounds,
  type ChunkPlan,
  chooseAssembly,
  chunkRange,
  nextBlockRound,
  type ObjectIdentity,
} from "@chunksync/core";
import type { ObjectHead } from "@chunksync/storage";
import { bytesToRead } from "../blockReads.js";
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

/** The run's settings that say whether any object is matched block by block. */
export interface BlockSettings {
  /** Blocks are on for the run (`--no-blocks` turns them off). */
  blocks: boolean;
  /** Changed chunks are copied server-side: nothing crosses, so nothing is saved. */
  serverSideCopy: boolean;
  /** A dry run writes nothing, so it exchanges nothing either. */
  dryRun?: boolean;
}

/**
 * Starts the block exchange of one object where it can pay: the source side's first request
 * and the state it keeps between answers. Undefined where the object stays at chunk level
 * (blocks off, server-side copy, dry run, no challenged destination, too few changed bytes,
 * or what `SourceSide.startBlocks` declines).
 */
export async function startBlockRounds(
  sourceSide: SourceSide,
  settings: BlockSettings,
  source: ObjectIdentity,
  destination: (ObjectIdentity & { size: number }) | undefined,
  plan: ChunkPlan,
  changed: readonly number[] | undefined,
): Promise<BlockRounds | undefined> {
  const { blocks, serverSideCopy, dryRun } = settings;
  if (destination === undefined || changed === undefined || !blocks || serverSideCopy || dryRun)
    return undefined;
  if (!wantsBlocks(plan, changed, destination.size)) return undefined;
  return sourceSide.startBlocks(source, destination, plan, changed);
}

/**
 * The source side's step between two answers of the destination: the next rounds to ask
 * about (for a fine round, after cutting its unmatched runs into fine blocks), or the
 * exchange's outcome, the assembly that sends the fewest bytes across (undefined where
 * blocks save nothing and the chunk-level compose stands).
 */
export async function afterBlockAnswer(
  sourceSide: SourceSide,
  source: ObjectIdentity,
  plan: ChunkPlan,
  changed: readonly number[],
  oldSize: number,
  rounds: BlockRounds,
  response: unknown,
): Promise<{ rounds: BlockRounds } | { assembly: AssemblyPlan | undefined }> {
  const next = nextBlockRound(plan, changed, oldSize, rounds, response);
  if ("rounds" in next) return next;
  if ("refine" in next) {
    const { request, ranges, segments } = next.refine;
    const blocks = await sourceSide.cutBlocks(source, request, ranges);
    return { rounds: { request, blocks, refined: { segments } } };
  }
  return { assembly: chooseAssembly(plan, changed, next.segments, oldSize) };
}

/**
 * The block exchange of one changed object where both sides live in one process: the source
 * cuts its changed chunks into blocks and asks, the destination answers from its old object,
 * for as many rounds as the source asks. The workflow runs the same steps as states.
 * `onPlanned` is told the bytes each round reads on both sides (see RunStats.plannedWork).
 */
export async function exchangeBlocks(
  sourceSide: SourceSide,
  destinationSide: DestinationSide,
  settings: BlockSettings,
  source: ObjectIdentity,
  destination: Pick<ObjectHead, "key" | "etag" | "size"> | undefined,
  plan: ChunkPlan,
  changed: readonly number[] | undefined,
  onPlanned: (bytes: number) => void = () => {},
): Promise<AssemblyPlan | undefined> {
  if (destination === undefined || changed === undefined) return undefined;
  const { key, etag, size } = destination;
  const id = { bucket: destinationSide.options.store.bucket, key, etag, size };
  let rounds = await startBlockRounds(sourceSide, settings, source, id, plan, changed);
  if (rounds !== undefined) onPlanned(bytesToRead(changed.map((i) => chunkRange(plan, i))));
  while (rounds !== undefined) {
    onPlanned(bytesToRead(rounds.request.cut) + bytesToRead(rounds.request.whole));
    const response = await destinationSide.answerBlocks(rounds.request, destination);
    const next = await afterBlockAnswer(sourceSide, source, plan, changed, size, rounds, response);
    if ("assembly" in next) return next.assembly;
    rounds = next.rounds;
    // A fine round's source blocks were read for it (they cover exactly what was read).
    if (rounds.refined) onPlanned(bytesToRead(rounds.blocks.ranges()));
  }
  return undefined;
}
