import {
  BLOCK_DIGEST,
  type Block,
  BlockChunker,
  type BlockParams,
  createDigester,
  type OldRange,
} from "@chunksync/core";
import type { ObjectReader } from "@chunksync/storage";
import { feedBody, pinnedRead, type Side } from "./digestRange.js";
import { type Limiter, settleAll } from "./Limiter.js";
import { retryFor, withRetry } from "./retry.js";

/** What a side reads blocks with: its own store, its limiter, its byte counter. */
export interface BlockReader {
  store: ObjectReader;
  side: Side;
  limiter: Limiter;
  onRead?: ((bytes: number) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** Whole ranges that touch are read in one request (a gap would be bytes read for nothing). */
const JOIN_GAP = 0;
/** Most bytes one joined read spans (held in memory while its ranges are digested). */
const JOIN_SPAN = 16 * 1024 * 1024;

/**
 * The content-defined blocks of each of `ranges` of `key` at version `etag`, cut and digested
 * as each ranged read streams (one chunker per range: blocks never cross it), in order. A read
 * that breaks is repeated whole.
 */
export async function readBlocks(
  reader: BlockReader,
  key: string,
  etag: string,
  ranges: readonly OldRange[],
  params: BlockParams,
): Promise<Block[]> {
  const { store, side, limiter, onRead, signal } = reader;
  const cut = await settleAll(
    ranges.map((range) =>
      limiter.run(() =>
        withRetry(async () => {
          const chunker = new BlockChunker(params, range.offset);
          const body = await pinnedRead(store, side, key, etag, range, signal);
          await feedBody(store.bucket, key, body, range.length, `the range at ${range.offset}`, (piece) => {
            chunker.update(piece);
            onRead?.(piece.length);
          });
          return chunker.end();
        }, retryFor(signal)),
      ),
    ),
  );
  return cut.flat();
}

/**
 * The block digest of each of `ranges` of `key` at version `etag`, in the order given. Ranges
 * close together share one read of at most 16 MiB.
 */
export async function digestWholeRanges(
  reader: BlockReader,
  key: string,
  etag: string,
  ranges: readonly OldRange[],
): Promise<Buffer[]> {
  const { store, side, limiter, onRead, signal } = reader;
  const order = ranges.map((_, i) => i).sort((a, b) => ranges[a]!.offset - ranges[b]!.offset);
  const groups: number[][] = [];
  let start = 0;
  let end = -Infinity;
  for (const i of order) {
    const r = ranges[i]!;
    const last = groups.at(-1);
    if (last && r.offset <= end + JOIN_GAP && Math.max(end, r.offset + r.length) - start <= JOIN_SPAN) {
      last.push(i);
      end = Math.max(end, r.offset + r.length);
    } else {
      groups.push([i]);
      start = r.offset;
      end = r.offset + r.length;
    }
  }
  const digests = new Array<Buffer>(ranges.length);
  await settleAll(
    groups.map((group) =>
      limiter.run(() =>
        withRetry(async () => {
          const from = Math.min(...group.map((i) => ranges[i]!.offset));
          const to = Math.max(...group.map((i) => ranges[i]!.offset + ranges[i]!.length));
          const span = Buffer.allocUnsafe(to - from);
          let at = 0;
          const body = await pinnedRead(store, side, key, etag, { offset: from, length: to - from }, signal);
          await feedBody(store.bucket, key, body, to - from, `the range at ${from}`, (piece) => {
            span.set(piece, at);
            at += piece.length;
            onRead?.(piece.length);
          });
          for (const i of group) {
            const r = ranges[i]!;
            const digester = createDigester(BLOCK_DIGEST);
            digester.update(span.subarray(r.offset - from, r.offset - from + r.length));
            digests[i] = digester.digest();
          }
        }, retryFor(signal)),
      ),
    ),
  );
  return digests;
}
