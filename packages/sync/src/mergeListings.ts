import { compareUtf8 } from "@chunksync/core";
import type { ObjectSummary } from "@chunksync/storage";
import { ListingOrderError } from "./errors.js";

/** One listing of a run: a side's objects under its prefix, in S3's key order. */
export interface Listing {
  side: "source" | "destination";
  objects: AsyncIterable<ObjectSummary>;
  prefix: string;
}

/**
 * One key of the merged listings, relative to the prefixes: on both sides (a pair), on the
 * source only (missing on the destination) or on the destination only.
 */
export type MergedKey =
  | { relative: string; source: ObjectSummary; destination: ObjectSummary }
  | { relative: string; source: ObjectSummary; destination?: undefined }
  | { relative: string; source?: undefined; destination: ObjectSummary };

/** One listing of a run in batches, as {@link readAheadBatches} takes them: a side's objects in S3's key order. */
export interface ListingBatches {
  side: "source" | "destination";
  batches: AsyncIterable<readonly ObjectSummary[]>;
  prefix: string;
}

/**
 * A listing's entries as the merge walks them, each checked to be strictly greater than the one
 * before in UTF-8 byte order (JavaScript's string order is UTF-16's, which differs for characters
 * beyond U+FFFF). Keys share the listing's prefix, so their relative keys keep the order.
 */
class ListingCursor {
  readonly #batches: AsyncIterator<readonly ObjectSummary[]>;
  #batch: readonly ObjectSummary[] = [];
  #at = 0;
  #ended = false;
  /** The entry in hand, with its key relative to the prefix; undefined at the end or between batches. */
  object: ObjectSummary | undefined;
  relative = "";

  constructor(readonly listing: ListingBatches) {
    this.#batches = listing.batches[Symbol.asyncIterator]();
  }

  /** An entry is in hand, or the listing ended: no batch to wait for. */
  get ready(): boolean {
    return this.object !== undefined || this.#ended;
  }

  /** Waits for the next batch (where the one in hand is used up). */
  async fill(): Promise<void> {
    const next = await this.#batches.next();
    if (next.done) this.#ended = true;
    else [this.#batch, this.#at] = [next.value, 0];
    this.advance();
  }

  /**
   * Takes the next entry of the batch in hand (none where it is used up).
   *
   * @throws ListingOrderError where it is not after the entry before it
   */
  advance(): void {
    const object = this.#batch[this.#at];
    const previous = this.object ?? this.#last;
    this.object = undefined;
    if (object === undefined) {
      this.#last = previous;
      return;
    }
    this.#at++;
    const relative = object.key.slice(this.listing.prefix.length);
    if (previous && compareUtf8(this.relative, relative) >= 0)
      throw new ListingOrderError(this.listing.side, previous.key, object.key);
    this.object = object;
    this.relative = relative;
  }

  /** The entry taken last across a batch's end, whose relative key is still `relative`. */
  #last: ObjectSummary | undefined;

  async close(): Promise<void> {
    await this.#batches.return?.(undefined);
  }
}

/**
 * Merge-joins the source and destination listings, both sorted streams, holding one batch
 * of each at a time: memory stays flat at any key count. A key is destination-only as soon
 * as the source listing has passed it; that is what lets `--delete` delete as the run goes,
 * and why an out-of-order listing stops the run (ListingOrderError) at the first key that
 * breaks the order, once the keys merged before it are handed over. The merged keys come in
 * batches, as far as both listings' batches in hand go: a turn of the consumer per batch.
 */
export async function* mergeListingBatches(
  source: ListingBatches,
  destination: ListingBatches,
): AsyncGenerator<MergedKey[]> {
  const s = new ListingCursor(source);
  const d = new ListingCursor(destination);
  try {
    // The first batches are asked for together: a listing starts at its first `next()`, and one
    // after the other would cost a round trip more. The source's failure is the one thrown first.
    const [first, second] = await Promise.allSettled([s.fill(), d.fill()]);
    if (first.status === "rejected") throw first.reason;
    if (second.status === "rejected") throw second.reason;
    let merged: MergedKey[] = [];
    for (;;) {
      if (!s.ready || !d.ready) {
        if (merged.length > 0) yield merged;
        merged = [];
        if (!s.ready) await s.fill();
        if (!d.ready) await d.fill();
        continue;
      }
      const [sv, dv] = [s.object, d.object];
      if (sv === undefined && dv === undefined) break;
      try {
        const order = sv === undefined ? 1 : dv === undefined ? -1 : compareUtf8(s.relative, d.relative);
        if (order < 0) {
          merged.push({ relative: s.relative, source: sv! });
          s.advance();
        } else if (order > 0) {
          merged.push({ relative: d.relative, destination: dv! });
          d.advance();
        } else {
          merged.push({ relative: s.relative, source: sv!, destination: dv! });
          s.advance();
          d.advance();
        }
      } catch (error) {
        // The keys merged before the one out of order are settled first, as one by one.
        if (merged.length > 0) yield merged;
        throw error;
      }
    }
    if (merged.length > 0) yield merged;
  } finally {
    // A consumer that stops early (a failure, an abort) stops both listings.
    await Promise.all([s.close(), d.close()]);
  }
}

/**
 * One listing of `side` (or the part of one that starts after the key `after`) as it comes, each
 * key checked to be after the one before it in UTF-8 byte order, as the merge checks them: for
 * an engine that takes a listing's keys in ranges without merging it (the workflow's pages).
 *
 * @throws ListingOrderError at the first key that is not after the one before it (or `after`)
 */
export async function* inListingOrder(
  side: "source" | "destination",
  objects: AsyncIterable<ObjectSummary>,
  after?: string,
): AsyncGenerator<ObjectSummary> {
  let previous = after;
  for await (const object of objects) {
    if (previous !== undefined && compareUtf8(previous, object.key) >= 0)
      throw new ListingOrderError(side, previous, object.key);
    previous = object.key;
    yield object;
  }
}

/** {@link mergeListingBatches} one key at a time, over listings that come one object at a time. */
export async function* mergeListings(source: Listing, destination: Listing): AsyncGenerator<MergedKey> {
  for await (const batch of mergeListingBatches(singly(source), singly(destination))) yield* batch;
}

/** A listing's objects as batches of one. */
function singly(listing: Listing): ListingBatches {
  async function* batches() {
    for await (const object of listing.objects) yield [object];
  }
  return { side: listing.side, prefix: listing.prefix, batches: batches() };
}
