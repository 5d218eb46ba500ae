import {
  type AssemblyPlan,
  type BlockList,
  type BlockRounds,
  type ChunkPlan,
  chooseAssembly,
  chunkRange,
  nameableAsCopySource,
  nextBlockRound,
  type ObjectIdentity,
} from "@chunksync/core";
import type { ObjectHead } from "@chunksync/storage";
import { bytesToRead } from "../blockReads.js";
import type { DestinationSide } from "../DestinationSide.js";
import type { SourceSide } from "../SourceSide.js";

/** Changed chunks smaller than this together cross whole: a block exchange would cost more round trips than it saves. */
export const MIN_BLOCK_BYTES = 1024 * 1024;

/** Whether a changed object is worth a block exchange: enough changed bytes, and as many old ones to match against. */
export function wantsBlocks(plan: ChunkPlan, changed: readonly number[], oldSize: number): boolean {
  let bytes = 0;
  for (const i of changed) bytes += chunkRange(plan, i).length;
  // What blocks can reuse is at most the old object: below the same floor, it cannot pay.
  return bytes >= MIN_BLOCK_BYTES && oldSize >= MIN_BLOCK_BYTES;
}

/** The run's settings that say whether any object is matched block by block. */
export interface BlockSettings {
  /** Blocks are on for the run (`--no-blocks` turns them off). */
  blocks: boolean;
  /** Changed chunks are copied server-side: nothing crosses, so nothing is saved. */
  serverSideCopy: boolean;
  /** A dry run writes nothing, so it exchanges nothing either. */
  dryRun?: boolean;
  /**
   * The destination's store reads a copy source's escapes once (its capability): where not, an
   * object whose key holds a `%` is written at chunk level (no copy may name it), so no exchange
   * for it can pay.
   */
  copySourceEscapesReadOnce: boolean;
}

/**
 * Whether one object's block exchange can pay: blocks on, no server-side copy, no dry run, a
 * challenged destination a copy may name, and enough changed bytes.
 */
export function blocksPay(
  settings: BlockSettings,
  destination: { key: string; size: number } | undefined,
  plan: ChunkPlan,
  changed: readonly number[] | undefined,
): destination is { key: string; size: number } {
  const { blocks, serverSideCopy, dryRun } = settings;
  if (destination === undefined || changed === undefined || !blocks || serverSideCopy || dryRun) return false;
  if (!nameableAsCopySource(destination.key, settings.copySourceEscapesReadOnce)) return false;
  return wantsBlocks(plan, changed, destination.size);
}

/**
 * Starts the block exchange of one object where it can pay: the source side's first request
 * and the state it keeps between answers. Undefined where the object stays at chunk level
 * (see {@link blocksPay}, or what `SourceSide.planBlocks` declines).
 */
export async function startBlockRounds(
  sourceSide: SourceSide,
  settings: BlockSettings,
  source: ObjectIdentity,
  destination: (ObjectIdentity & { size: number }) | undefined,
  plan: ChunkPlan,
  changed: readonly number[] | undefined,
): Promise<BlockRounds | undefined> {
  if (!blocksPay(settings, destination, plan, changed) || changed === undefined) return undefined;
  return sourceSide.startBlocks(source, destination, plan, changed);
}

/** A round to ask: its request, and the source's blocks for it, cut or still being cut. */
type AskedRound = Omit<BlockRounds, "blocks"> & { blocks: BlockList | Promise<BlockList> };

/**
 * The source side's step between two answers of the destination: the next rounds to ask
 * about (for a fine round, after cutting its unmatched runs into fine blocks), or the
 * exchange's outcome, the assembly that sends the fewest bytes across (undefined where
 * blocks save nothing and the chunk-level compose stands).
 */
export async function afterBlockAnswer(
  ...step: Parameters<typeof nextStep>
): Promise<{ rounds: BlockRounds } | { assembly: AssemblyPlan | undefined }> {
  const next = nextStep(...step);
  if ("assembly" in next) return next;
  return { rounds: { ...next.rounds, blocks: await next.rounds.blocks } };
}

/**
 * {@link afterBlockAnswer} (the source side, its object and plan, the changed chunks, the old
 * object's size, the rounds asked and the destination's answer), with a fine round's blocks
 * still being cut when it returns.
 */
function nextStep(
  sourceSide: SourceSide,
  source: ObjectIdentity,
  plan: ChunkPlan,
  changed: readonly number[],
  oldSize: number,
  rounds: BlockRounds,
  response: unknown,
): { rounds: AskedRound } | { assembly: AssemblyPlan | undefined } {
  const next = nextBlockRound(plan, changed, oldSize, rounds, response);
  if ("rounds" in next) return next;
  if ("refine" in next) {
    const { request, ranges, segments, guessed } = next.refine;
    return {
      rounds: {
        request,
        blocks: sourceSide.cutBlocks(source, request, ranges),
        refined: { segments, ...(guessed ? { guessed } : {}) },
      },
    };
  }
  return { assembly: chooseAssembly(plan, changed, next.segments, oldSize) };
}

/**
 * The block exchange of one changed object where both sides live in one process: the source
 * cuts its changed chunks into blocks and asks, the destination answers from its old object,
 * for as many rounds as the source asks. A round's request names what the destination reads
 * before the source has read anything, so the source cuts its blocks for a round while the
 * destination answers it: each round costs the slower side's reads, not both one after the
 * other. The workflow runs the same steps as states, one side after the other.
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
  if (!blocksPay(settings, destination, plan, changed) || changed === undefined) return undefined;
  const { key, etag, size } = destination;
  const start = sourceSide.planBlocks(
    source,
    { bucket: destinationSide.options.store.bucket, key, etag, size },
    plan,
    changed,
  );
  if (start === undefined) return undefined;
  onPlanned(bytesToRead(start.ranges));
  let asked: AskedRound = {
    request: start.request,
    blocks: sourceSide.cutBlocks(source, start.request, start.ranges),
  };
  const exchange = { sourceSide, destinationSide, source, destination, plan, changed, onPlanned };
  for (;;) {
    const next = await exchangeRound(exchange, asked);
    if ("assembly" in next) return next.assembly;
    asked = next.rounds;
  }
}

/**
 * One round of {@link exchangeBlocks}: the source's cut and the destination's answer, then the
 * next step. A function of its own so that a round's answer (a million tags as text at
 * 100 GiB) is unreachable once the round returns, not kept by the loop's frame through the
 * rounds after it.
 */
async function exchangeRound(
  exchange: {
    sourceSide: SourceSide;
    destinationSide: DestinationSide;
    source: ObjectIdentity;
    destination: Pick<ObjectHead, "key" | "etag" | "size">;
    plan: ChunkPlan;
    changed: readonly number[];
    onPlanned: (bytes: number) => void;
  },
  asked: AskedRound,
): Promise<ReturnType<typeof nextStep>> {
  const { sourceSide, destinationSide, source, destination, plan, changed, onPlanned } = exchange;
  onPlanned(bytesToRead(asked.request.cut, asked.request.whole));
  // Both settle before either failure is rethrown: no read is left running.
  const [cut, answer] = await Promise.allSettled([
    asked.blocks,
    destinationSide.answerBlocks(asked.request, destination),
  ]);
  if (cut.status === "rejected") throw cut.reason;
  if (answer.status === "rejected") throw answer.reason;
  // A fine round's source blocks were read for it (they cover exactly what was read).
  if (asked.refined) onPlanned(bytesToRead(cut.value.ranges()));
  return nextStep(
    sourceSide,
    source,
    plan,
    changed,
    destination.size,
    { ...asked, blocks: cut.value },
    answer.value,
  );
}
