import { type ChunkRange, chunkRange } from "../chunkPlan.js";
import type { ChallengeRequest } from "./types.js";

/**
 * Destination side, step one: the challenged chunks that lie wholly inside a
 * destination object of `destinationSize` bytes, i.e. the ranges whose digests
 * the destination must compute. Every other challenged chunk is answered
 * `missing`.
 */
export function chunksToAnswer(
  request: Pick<ChallengeRequest, "plan"> & { indices: readonly number[] },
  destinationSize: number,
): ChunkRange[] {
  return request.indices
    .map((index) => chunkRange(request.plan, index))
    .filter((range) => fitsInside(range, destinationSize));
}

/** Whether `range` lies wholly inside an object of `size` bytes: only such a chunk is answered. */
export function fitsInside(range: ChunkRange, size: number): boolean {
  return range.offset + range.length <= size;
}
