import { setImmediate as nextTurn } from "node:timers/promises";
import {
  BLOCK_DIGEST_BYTES,
  BlockBytes,
  BlockChunker,
  type BlockDigest,
  BlockList,
  type BlockParams,
  ChunksyncError,
  type OldRange,
  RangeList,
  type Ranges,
  sha256Block,
} from "@chunksync/core";
import type { ObjectReader } from "@chunksync/storage";
import { readRange, type Side } from "./digestRange.js";
import type { KeptChunks } from "./KeptChunks.js";
import { forEachConcurrent, type Limiter } from "./Limiter.js";
import { retryFor, withRetry } from "./retry.js";

/** What a side reads blocks with: its own store, its limiter, its byte counter. */
export interface BlockReader {
  store: ObjectReader;
  side: Side;
  limiter: Limiter;
  onRead?: ((bytes: number) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** The bytes of a range of `key`'s version `etag`, in order, where this side holds them already: they are not read again. */
  held?:
    | ((
        key: string,
        etag: string,
        range: { offset: number; length: number },
      ) => readonly Uint8Array[] | undefined)
    | undefined;
  /**
   * Where this side keeps the bytes of a read of `key`'s version `etag` for a later step (see
   * `held`): a tap given each piece, ended with whether the read came whole; undefined where
   * it keeps none.
   */
  keeping?:
    | ((
        key: string,
        etag: string,
        range: { offset: number; length: number },
      ) => ReadTap | undefined | Promise<ReadTap | undefined>)
    | undefined;
}

/**
 * A side's {@link BlockReader}: its own store, limiter, counter and signal, with the bytes it
 * keeps (see KeptChunks) served in place of a read, and those it reads kept where there is room.
 */
export function blockReader(
  options: Pick<BlockReader, "store" | "limiter" | "onRead" | "signal">,
  side: Side,
  kept: KeptChunks | undefined,
): BlockReader {
  const { store, limiter, onRead, signal } = options;
  return {
    store,
    side,
    limiter,
    onRead,
    signal,
    held: kept && ((key, etag, range) => kept.bytes(key, etag, range)),
    keeping: kept && ((key, etag, range) => kept.keeping(key, etag, range, signal)),
  };
}

/** Given each piece of one read as it comes, then told whether the read came whole. */
export interface ReadTap {
  /** Where the read lands: the tap keeps views of it (see `KeepTap.into`). */
  into: Buffer;
  piece(piece: Uint8Array): void;
  end(whole: boolean): void;
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
export function* spansOf(ranges: RangeList): Generator<Span> {
  const order = Uint32Array.from({ length: ranges.count }, (_, i) => i).sort(
    (a, b) => ranges.offset(a) - ranges.offset(b),
  );
  let last: Span | undefined;
  for (const i of order) {
    const offset = ranges.offset(i);
    const end = Math.max(last ? last.offset + last.length : 0, offset + ranges.length(i));
    if (last && offset <= last.offset + last.length + JOIN_GAP && end - last.offset <= JOIN_SPAN) {
      last.length = end - last.offset;
      last.members.push(i);
    } else {
      if (last) yield last;
      last = { offset, length: ranges.length(i), members: [i] };
    }
  }
  if (last) yield last;
}

/** The ranges of `lists` in one list, in the order given: a range's index tells which list it came from. */
function joined(...lists: RangeList[]): RangeList {
  const all = new RangeList(lists.reduce((n, list) => n + list.count, 0));
  for (const list of lists) for (let i = 0; i < list.count; i++) all.push(list.offset(i), list.length(i));
  return all;
}

/** Bytes the reads of all of `ranges` together take (gaps between joined ranges included, a byte two ask for once). */
export function bytesToRead(...ranges: Ranges[]): number {
  let bytes = 0;
  for (const span of spansOf(joined(...ranges.map((r) => RangeList.from(r))))) bytes += span.length;
  return bytes;
}

/** Where one range's bytes go as they are read. */
interface RangeSink {
  update(piece: Uint8Array): void;
  /** Called once the range's last byte has passed. */
  end(): void;
}

/**
 * Reads `ranges` of `key` at version `etag` in as few pinned, ranged reads as {@link spansOf}
 * gives, streaming each range's bytes, in order, to the sink made for it when its first byte
 * comes: `openSpan` is called once per read and gives what makes its ranges' sinks. A read
 * that breaks is repeated from the first of its ranges not yet ended, and those ranges get new
 * sinks. A read whose bytes the reader holds (see {@link BlockReader}) is passed from them; one
 * read from the store is kept where the reader keeps it.
 */
async function readRanges(
  reader: BlockReader,
  key: string,
  etag: string,
  ranges: RangeList,
  openSpan: (span: Span) => (range: OldRange, index: number) => RangeSink,
): Promise<void> {
  const { store, side, limiter, onRead, signal } = reader;
  const ended = new Uint8Array(ranges.count);
  // Pulled as the limiter frees, not one waiting task per read at once, and each read's sinks
  // opened only as its bytes reach them: a read may span thousands of small ranges.
  await forEachConcurrent(spansOf(ranges), limiter.capacity, (span) => {
    const open = openSpan(span);
    return limiter.run(() =>
      withRetry(async () => {
        const members = span.members.filter((i) => ended[i] === 0);
        const offset = ranges.offset(members[0]!);
        const read = { offset, length: span.offset + span.length - offset };
        const reading: { index: number; range: OldRange; sink: RangeSink }[] = [];
        let next = 0;
        let at = offset;
        const pass = (piece: Uint8Array) => {
          const end = at + piece.length;
          for (; next < members.length && ranges.offset(members[next]!) < end; next++) {
            const index = members[next]!;
            const range = ranges.at(index);
            reading.push({ index, range, sink: open(range, index) });
          }
          for (let k = 0; k < reading.length; ) {
            const { index, range, sink } = reading[k]!;
            const from = Math.max(at, range.offset);
            const to = Math.min(end, range.offset + range.length);
            if (from < to) sink.update(piece.subarray(from - at, to - at));
            if (to < range.offset + range.length) k++;
            else {
              sink.end();
              ended[index] = 1;
              reading.splice(k, 1);
            }
          }
          at = end;
        };
        const held = reader.held?.(key, etag, read);
        if (held !== undefined) {
          // Cut from memory one piece a turn of the event loop, as a read's pieces come: a
          // chunk's cut in one go (hundreds of ms on a loaded machine) would hold back the
          // requests due meanwhile, the other side's read of this round and the upload's copies.
          for (const piece of held) {
            pass(piece);
            await nextTurn();
          }
          return;
        }
        const keeping = await reader.keeping?.(key, etag, read);
        try {
          const piece = (bytes: Uint8Array) => {
            pass(bytes);
            keeping?.piece(bytes);
            onRead?.(bytes.length);
          };
          const sink = { into: keeping?.into, piece };
          await readRange(store, side, key, etag, read, sink, `the range at ${offset}`, signal);
        } catch (error) {
          keeping?.end(false);
          throw error;
        }
        keeping?.end(true);
      }, retryFor(signal)),
    );
  });
}

/** Blocks a list for `bytes` cut into blocks of `params` in `ranges` pieces is likely to hold: no list grows by copying. */
const expectedBlocks = (bytes: number, ranges: number, params: BlockParams) =>
  Math.ceil(bytes / params.avg) + ranges;

/** What makes the sinks of one kind of range, read by {@link readRanges}, and what they gave once all ended. */
interface Sinks<T> {
  openSpan: (span: Span) => (range: OldRange, index: number) => RangeSink;
  result: () => T;
}

/**
 * The content-defined blocks of each of `ranges` (disjoint) of `key` at version `etag`, in the
 * order given: each range cut alone (blocks never cross it), as its bytes stream by. Each block
 * digested by `digest` (a {@link BlockTagger}'s `tagBytes` keeps only tags); `width` its bytes.
 */
export async function readBlocks(
  reader: BlockReader,
  key: string,
  etag: string,
  ranges: Ranges,
  params: BlockParams,
  digest: BlockDigest = sha256Block,
  width = BLOCK_DIGEST_BYTES,
): Promise<BlockList> {
  const list = RangeList.from(ranges);
  const cutter = blockSinks(list, params, digest, width);
  await readRanges(reader, key, etag, list, cutter.openSpan);
  return cutter.result();
}

/**
 * The blocks of `cut` as {@link readBlocks} gives them, and the digest by `whole.digest` of each
 * of `whole.ranges` (any order, overlapping or not, `width` bytes each) concatenated in the order
 * given, in one pass of reads: a byte both ask for is read once. A fine round that also asks
 * about the first round's guesses often names the same old bytes in both.
 */
export async function readBlocksAndWhole(
  reader: BlockReader,
  key: string,
  etag: string,
  cut: { ranges: Ranges; params: BlockParams; digest: BlockDigest },
  whole: { ranges: Ranges; digest: BlockDigest },
  width = BLOCK_DIGEST_BYTES,
): Promise<{ blocks: BlockList; whole: Buffer }> {
  const cuts = RangeList.from(cut.ranges);
  const wholes = RangeList.from(whole.ranges);
  // One list, the ranges to cut first: a range's index tells whose sink it gets.
  const both = joined(cuts, wholes);
  const cutter = blockSinks(cuts, cut.params, cut.digest, width);
  const digester = wholeSinks(wholes, whole.digest, width);
  await readRanges(reader, key, etag, both, (span) => {
    const toCut = cutter.openSpan(span);
    const toDigest = digester.openSpan(span);
    return (range, index) => (index < cuts.count ? toCut(range, index) : toDigest(range, index - cuts.count));
  });
  return { blocks: cutter.result(), whole: digester.result() };
}

/** The sinks that cut each of `ranges` (disjoint) into blocks, for {@link readBlocks}. */
function blockSinks(
  ranges: RangeList,
  params: BlockParams,
  digest: BlockDigest,
  width: number,
): Sinks<BlockList> {
  const blocks = new BlockList(width, expectedBlocks(ranges.bytes(), ranges.count, params));
  // The ranges of one read are cut one after the other into one list for the read (a round
  // reads up to a million small ranges: no list or chunker state of their own), and join the
  // result in the order given once every range before them has.
  const waiting = new Map<number, { list: BlockList; from: number; to: number }>();
  let next = 0;
  const flush = () => {
    for (let w = waiting.get(next); w !== undefined; w = waiting.get(++next)) {
      waiting.delete(next);
      blocks.append(w.list, w.from, w.to);
    }
  };
  const openSpan = (span: Span) => {
    const list = new BlockList(width, expectedBlocks(span.length, span.members.length, params));
    // Blocks of the ranges that ended; those after them were cut by a read that broke.
    let kept = 0;
    // The range being cut, -1 for none: only a read that broke in it starts it again.
    let cutting = -1;
    return (range: OldRange, index: number): RangeSink => {
      let chunker: BlockChunker | undefined;
      // Started at the range's first bytes: a read opens the next range in the piece where the
      // one before ends, and that one's last bytes come first.
      const start = () => {
        if (cutting >= 0 && cutting !== index)
          throw new ChunksyncError("BLOCK_RANGES_OVERLAP", "ranges cut into blocks overlap");
        cutting = index;
        list.truncate(kept);
        return new BlockChunker(params, range.offset, digest, list);
      };
      return {
        update: (piece) => {
          chunker ??= start();
          chunker.update(piece);
        },
        end: () => {
          (chunker ?? start()).end();
          cutting = -1;
          waiting.set(index, { list, from: kept, to: list.count });
          kept = list.count;
          flush();
        },
      };
    };
  };
  return { openSpan, result: () => blocks };
}

/** The sinks that digest each of `ranges` whole, into one buffer of `width` bytes a range. */
function wholeSinks(ranges: RangeList, digest: BlockDigest, width: number): Sinks<Buffer> {
  const digests = Buffer.alloc(ranges.count * width);
  const open = (range: OldRange, index: number): RangeSink => {
    // One copy of the range's bytes, digested in one call: no hash object per range.
    const bytes = new BlockBytes(range.length);
    return {
      update: (piece) => bytes.keep(piece),
      end: () => {
        digests.set(digest(bytes.take(new Uint8Array(0))), index * width);
        bytes.release();
      },
    };
  };
  return { openSpan: () => open, result: () => digests };
}
