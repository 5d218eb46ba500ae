/**
 * A worker thread that cuts and digests the blocks of each chunk it is handed (bench/blockPipeline.ts:
 * the cut and the block digests on a thread of their own). The chunks lie in shared slots; the
 * worker answers with the slot once it is done with it.
 */
import { parentPort, workerData } from "node:worker_threads";
import { BlockChunker, type BlockParams } from "@chunksync/core";

export interface CutJob {
  slots: SharedArrayBuffer[];
  params: BlockParams;
}
/** A chunk read into a slot, `length` bytes from `offset` in the object. */
export interface CutChunk {
  slot: number;
  offset: number;
  length: number;
}

const { slots, params } = workerData as CutJob;
parentPort?.on("message", ({ slot, offset, length }: CutChunk) => {
  const chunker = new BlockChunker(params, offset);
  chunker.update(new Uint8Array(slots[slot]!, 0, length));
  chunker.end();
  parentPort?.postMessage(slot);
});
