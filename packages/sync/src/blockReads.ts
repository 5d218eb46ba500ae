import {
  BLOCK_DIGEST,
  BLOCK_DIGEST_BYTES,
  BlockChunker,
  BlockList,
  type BlockParams,
  createDigester,
  type Digester,
  type OldRange,
} from "@chunksync/core";
import type { ObjectReader } from "@chunksync/storage";
import { feedBody, pinnedRead, type Side } from "./digestRange.js";
import { forEachConcurrent, type Limiter } from "./Limiter.js";
import { retryFor, withRetry } from "./retry.js";

/** What a side reads blocks with: its own store, its limiter, its byte counter. */
export interface BlockReader {
  store: ObjectReader;
  side: Side;
  limiter: Limiter;
  onRead?: ((bytes: number) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** Ranges closer than this share one read: the gap costs less than a request. */
const JOIN_GAP = 64 * 1024;
/** Most bytes one shared read spans. */
const JOIN_SPAN = 64 * 1024 * 1024;

/** One read: `[offset, offset + length)` of the object, holding the ranges `members` (indexes into the ranges given). */
export interface Span {
  offset: number;
  length: number;
  members: number[];
}

/**
 * The reads that cover `ranges` (any order): ranges at most 64 KiB apart share one read of at
 * most 64 MiB, so a fine round's thousands of small ranges cost tens of requests, not thousands.
 */
export function spansOf(ranges: readonly OldRange[]): Span[] {
  const order = ranges.map((_, i) => i).sort((a, b) => ranges[a]!.offset - ranges[b]!.offset);
  const spans: Span[] = [];
  for (const i of order) {
    const { offset, length } = ranges[i]!;
    const last = spans.at(-1);
    const end = Math.max(last ? last.offset + last.length : 0, offset + length);
    if (last && offset <= last.offset + last.length + JOIN_GAP && end - last.offset <= JOIN_SPAN) {
      last.length = end - last.offset;
      last.members.push(i);
    } else spans.push({ offset, length, members: [i] });
  }
  return spans;
}

/** Bytes the reads of `ranges` take (gaps between joined ranges included). */
export function bytesToRead(ranges: readonly OldRange[]): number {
  return spansOf(ranges).reduce((n, s) => n + s.length, 0);
}

/**
 * Reads `ranges` of `key` at version `etag` in as few pinned, ranged reads as {@link spansOf}
 * gives, streaming each range's bytes, in order, to the sink `open` makes for it when its
 * read starts (again for a read repeated after it broke). Returns each sink's result in the
 * order of `ranges`.
 */
async function readRanges<T>(
  reader: BlockReader,
  key: string,
  etag: string,
  ranges: readonly OldRange[],
  open: (range: OldRange, index: number) => { update(piece: Uint8Array): void; end(): T },
): Promise<T[]> {
  const { store, side, limiter, onRead, signal } = reader;
  const results = new Array<T>(ranges.length);
  // Pulled as the limiter frees, not one waiting task per read at once: a round may ask for
  // hundreds of thousands of ranges far apart.
  await forEachConcurrent(spansOf(ranges), limiter.capacity, (span) =>
    limiter.run(() =>
      withRetry(async () => {
        const sinks = span.members.map((i) => ({ range: ranges[i]!, sink: open(ranges[i]!, i) }));
        let at = span.offset;
        const body = await pinnedRead(store, side, key, etag, span, signal);
        await feedBody(store.bucket, key, body, span.length, `the range at ${span.offset}`, (piece) => {
          for (const { range, sink } of sinks) {
            const from = Math.max(at, range.offset);
            const to = Math.min(at + piece.length, range.offset + range.length);
            if (from < to) sink.update(piece.subarray(from - at, to - at));
          }
          at += piece.length;
          onRead?.(piece.length);
        });
        span.members.forEach((i, k) => {
          results[i] = sinks[k]!.sink.end();
        });
      }, retryFor(signal)),
    ),
  );
  return results;
}

/**
 * The content-defined blocks of each of `ranges` of `key` at version `etag`, in order: each
 * range cut alone (blocks never cross it), as its bytes stream by.
 */
export async function readBlocks(
  reader: BlockReader,
  key: string,
  etag: string,
  ranges: readonly OldRange[],
  params: BlockParams,
): Promise<BlockList> {
  // Each range's blocks join the list once those of every range before it have: only the few
  // ranges read out of order wait apart, not a list per range of a round's thousands.
  const blocks = new BlockList(BLOCK_DIGEST_BYTES);
  const waiting = new Map<number, BlockList>();
  let next = 0;
  await readRanges(reader, key, etag, ranges, (range, index) => {
    const chunker = new BlockChunker(params, range.offset);
    return {
      update: (piece) => chunker.update(piece),
      end: () => {
        waiting.set(index, chunker.end());
        for (let list = waiting.get(next); list !== undefined; list = waiting.get(++next)) {
          waiting.delete(next);
          blocks.append(list);
        }
      },
    };
  });
  return blocks;
}

/** The block digest of each of `ranges` of `key` at version `etag`, in the order given. */
export function digestWholeRanges(
  reader: BlockReader,
  key: string,
  etag: string,
  ranges: readonly OldRange[],
): Promise<Buffer[]> {
  return readRanges(reader, key, etag, ranges, () => {
    const digester: Digester = createDigester(BLOCK_DIGEST);
    return { update: (piece) => digester.update(piece), end: () => digester.digest() };
  });
}
