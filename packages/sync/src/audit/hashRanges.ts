import type { PossessionHasher, SampledRange } from "@chunksync/core";
import type { ObjectReader } from "@chunksync/storage";
import { StorageUnavailableError } from "@chunksync/storage";
import { readRange, type Side } from "../digestRange.js";
import { type Limiter, settleAll } from "../Limiter.js";
import { retryFor, withRetry } from "../retry.js";

/** Adjacent ranges are read in one GET up to this many bytes: `--full` costs a request per span, not per range. */
const MAX_SPAN = 64 * 1024 * 1024;

/** How one side reads its ranges: its store, the run's limiter, its byte counter. */
export interface RangeReading {
  store: ObjectReader;
  side: Side;
  limiter: Limiter;
  onRead?: (bytes: number) => void;
  signal?: AbortSignal;
}

/** Runs of adjacent ranges, each read in one request. */
export function spansOf(ranges: readonly SampledRange[], maxSpan = MAX_SPAN): SampledRange[][] {
  const spans: SampledRange[][] = [];
  for (const range of ranges) {
    const span = spans[spans.length - 1];
    const last = span?.[span.length - 1];
    const start = span?.[0]?.offset ?? 0;
    if (
      span &&
      last &&
      last.offset + last.length === range.offset &&
      range.offset + range.length - start <= maxSpan
    )
      span.push(range);
    else spans.push([range]);
  }
  return spans;
}

/**
 * Reads `ranges` of `key` pinned to `etag` (adjacent ones in one request) and feeds each range's
 * bytes to its own hasher as they arrive: memory holds no range whole. Returns each range's
 * value, in the order of `ranges`. A lost pin is an ObjectChangedError; a body that breaks or
 * ends short is retried as a whole span.
 */
export async function hashRanges(
  reading: RangeReading,
  key: string,
  etag: string,
  ranges: readonly SampledRange[],
  hasher: (range: SampledRange) => PossessionHasher,
): Promise<Map<number, Buffer>> {
  const { store, side, limiter, signal } = reading;
  const values = new Map<number, Buffer>();
  const spans = spansOf(ranges);
  await settleAll(
    spans.map((span) =>
      limiter.run(() =>
        withRetry(async () => {
          const first = span[0]!;
          const last = span[span.length - 1]!;
          const length = last.offset + last.length - first.offset;
          let index = 0;
          let current = hasher(first);
          let left = first.length;
          const done: Buffer[] = [];
          const landed = (chunk: Buffer) => {
            reading.onRead?.(chunk.length);
            let piece = chunk;
            while (piece.length > 0) {
              if (index >= span.length) throw longer(store.bucket, key, length);
              const take = Math.min(left, piece.length);
              current.update(piece.subarray(0, take));
              piece = piece.subarray(take);
              left -= take;
              if (left === 0) {
                done.push(current.value());
                index++;
                const next = span[index];
                if (next) {
                  current = hasher(next);
                  left = next.length;
                }
              }
            }
          };
          // Exactly `length` bytes came (see readRange), so every range of the span was hashed.
          const read = { offset: first.offset, length };
          await readRange(
            store,
            side,
            key,
            etag,
            read,
            { piece: landed },
            `the span at ${first.offset}`,
            signal,
          );
          for (const [i, range] of span.entries()) values.set(range.offset, done[i]!);
        }, retryFor(signal)),
      ),
    ),
  );
  return values;
}

function longer(bucket: string, key: string, length: number): Error {
  return new StorageUnavailableError(
    { operation: "read", bucket, key },
    `the body held more bytes than the ${length} asked for`,
  );
}
