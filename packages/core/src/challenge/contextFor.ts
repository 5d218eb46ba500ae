import type { ChunkRange } from "../chunkPlan.js";
import type { ChallengeContext } from "./encodeContext.js";
import { type ChallengeRequest, PROTOCOL_VERSION } from "./types.js";

/** The context of one challenged chunk, built the same way on both sides from the request. */
export function contextFor(
  request: Pick<ChallengeRequest, "direction" | "algorithm" | "source" | "destination">,
  range: ChunkRange,
): ChallengeContext {
  return {
    version: PROTOCOL_VERSION,
    direction: request.direction,
    algorithm: request.algorithm,
    source: request.source,
    destination: request.destination,
    index: range.index,
    offset: range.offset,
    length: range.length,
  };
}
