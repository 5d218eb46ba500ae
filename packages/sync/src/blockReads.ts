import {
  BLOCK_DIGEST_BYTES,
  BlockBytes,
  BlockChunker,
  BlockList,
  type BlockParams,
  type OldRange,
  sha256Block,
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
 * The reads that cover `ranges` (any order), in order of offset: ranges at most 64 KiB apart
 * share one read of at most 64 MiB, so a fine round's thousands of small ranges cost tens of
 * requests, not thousands. Each read's members are in order of offset. Made as they are read:
 * a round may ask for hundreds of thousands of ranges.
 */
export function* spansOf(ranges: readonly OldRange[]): Generator<Span> {
  const order = ranges.map((_, i) => i).sort((a, b) => ranges[a]!.offset - ranges[b]!.offset);
  let last: Span | undefined;
  for (const i of order) {
    const { offset, length } = ranges[i]!;
    const end = Math.max(last ? last.offset + last.length : 0, offset + length);
    if (last && offset <= last.offset + last.length + JOIN_GAP && end - last.offset <= JOIN_SPAN) {
      last.length = end - last.offset;
      last.members.push(i);
    } else {
      if (last) yield last;
      last = { offset, length, members: [i] };
    }
  }
  if (last) yield last;
}

/** Bytes the reads of `ranges` take (gaps between joined ranges included). */
export function bytesToRead(ranges: readonly OldRange[]): number {
  let bytes = 0;
  for (const span of spansOf(ranges)) bytes += span.length;
  return bytes;
}

/** A range being read: the sink its bytes go to. */
interface Reading<T> {
  index: number;
  range: OldRange;
  sink: { update(piece: Uint8Array): void; end(): T };
}

/**
 * Reads `ranges` of `key` at version `etag` in as few pinned, ranged reads as {@link spansOf}
 * gives, streaming each range's bytes, in order, to the sink `open` makes for it when its
 * first byte comes; `end` is called as its last byte has passed. A read that breaks is
 * repeated from the first of its ranges not yet ended, and those ranges get new sinks.
 * Returns each sink's result in the order of `ranges`.
 */
async function readRanges<T>(
  reader: BlockReader,
  key: string,
  etag: string,
  ranges: readonly OldRange[],
  open: (range: OldRange, index: number) => Reading<T>["sink"],
): Promise<T[]> {
  const { store, side, limiter, onRead, signal } = reader;
  const results = new Array<T>(ranges.length);
  const ended = new Uint8Array(ranges.length);
  // Pulled as the limiter frees, not one waiting task per read at once, and each read's sinks
  // opened only as its bytes reach them: a read may span thousands of small ranges.
  await forEachConcurrent(spansOf(ranges), limiter.capacity, (span) =>
    limiter.run(() =>
      withRetry(async () => {
        const members = span.members.filter((i) => ended[i] === 0);
        const offset = ranges[members[0]!]!.offset;
        const read = { offset, length: span.offset + span.length - offset };
        const reading: Reading<T>[] = [];
        let next = 0;
        let at = offset;
        const body = await pinnedRead(store, side, key, etag, read, signal);
        await feedBody(store.bucket, key, body, read.length, `the range at ${offset}`, (piece) => {
          const end = at + piece.length;
          for (; next < members.length && ranges[members[next]!]!.offset < end; next++) {
            const index = members[next]!;
            reading.push({ index, range: ranges[index]!, sink: open(ranges[index]!, index) });
          }
          for (let k = 0; k < reading.length; ) {
            const { index, range, sink } = reading[k]!;
            const from = Math.max(at, range.offset);
            const to = Math.min(end, range.offset + range.length);
            if (from < to) sink.update(piece.subarray(from - at, to - at));
            if (to < range.offset + range.length) k++;
            else {
              results[index] = sink.end();
              ended[index] = 1;
              reading.splice(k, 1);
            }
          }
          at = end;
          onRead?.(piece.length);
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
  return readRanges(reader, key, etag, ranges, (range) => {
    // One copy of the range's bytes, digested in one call: no hash object per range.
    const bytes = new BlockBytes(range.length);
    return {
      update: (piece) => bytes.keep(piece),
      end: () => {
        const digest = sha256Block(bytes.take(new Uint8Array(0)));
        bytes.release();
        return digest;
      },
    };
  });
}
