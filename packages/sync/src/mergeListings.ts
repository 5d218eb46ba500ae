import { compareUtf8 } from "@chunksync/core";
import type { ObjectSummary } from "@chunksync/storage";
import { ListingOrderError } from "./errors.js";

/**
 * One listing of a run: a side's objects under its prefix, in S3's key order, in batches (as
 * `readAheadBatches` hands them over).
 */
export interface Listing {
  side: "source" | "destination";
  objects: AsyncIterable<readonly ObjectSummary[]>;
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

/**
 * A listing's current entry, each checked to be strictly greater than the one before in UTF-8
 * byte order (JavaScript's string order is UTF-16's, which differs for characters beyond
 * U+FFFF). Keys share the listing's prefix, so their relative keys keep the order.
 */
class ListingCursor {
  /** The current entry; undefined once the listing ended. */
  object: ObjectSummary | undefined;
  relative = "";
  readonly #iterator: AsyncIterator<readonly ObjectSummary[]>;
  #batch: readonly ObjectSummary[] = [];
  #at = 0;
  /** The next entry, found out of order: {@link fill} throws for it. */
  #outOfOrder: ObjectSummary | undefined;

  constructor(readonly listing: Listing) {
    this.#iterator = listing.objects[Symbol.asyncIterator]();
  }

  /**
   * Moves to the next entry of the batch in hand; false when that needs {@link fill}: the
   * batch is used up, or its next entry is out of order (then `fill` throws for it).
   */
  step(): boolean {
    if (this.#at >= this.#batch.length) return false;
    const next = this.#batch[this.#at]!;
    const relative = next.key.slice(this.listing.prefix.length);
    if (this.object !== undefined && compareUtf8(this.relative, relative) >= 0) {
      this.#outOfOrder = next;
      return false;
    }
    this.#at++;
    this.object = next;
    this.relative = relative;
    return true;
  }

  /** Moves to the next entry, waiting for the listing's next batch; `object` is undefined at its end. */
  async fill(): Promise<void> {
    for (;;) {
      if (this.#outOfOrder !== undefined)
        throw new ListingOrderError(this.listing.side, this.object!.key, this.#outOfOrder.key);
      if (this.step()) return;
      const next = await this.#iterator.next();
      if (next.done) {
        this.object = undefined;
        return;
      }
      this.#batch = next.value;
      this.#at = 0;
    }
  }

  async close(): Promise<void> {
    await this.#iterator.return?.(undefined);
  }
}

/**
 * Merge-joins the source and destination listings, both sorted streams, in batches: memory
 * stays flat at any key count. A key is destination-only as soon as the source listing has
 * passed it; that is what lets `--delete` delete as the run goes, and why an out-of-order
 * listing stops the run (ListingOrderError) at the first key that breaks the order, after
 * every key before it is handed over. A batch is handed over whenever a listing must be
 * waited for, so nothing merged waits on I/O.
 */
export async function* mergeListings(source: Listing, destination: Listing): AsyncGenerator<MergedKey[]> {
  const s = new ListingCursor(source);
  const d = new ListingCursor(destination);
  try {
    // Both first pages are asked for at once; a failure of the source's is the one told.
    const first = await Promise.allSettled([s.fill(), d.fill()]);
    for (const f of first) if (f.status === "rejected") throw f.reason;
    let merged: MergedKey[] = [];
    while (s.object !== undefined || d.object !== undefined) {
      const order =
        s.object === undefined ? 1 : d.object === undefined ? -1 : compareUtf8(s.relative, d.relative);
      let source = false;
      let destination = false;
      if (order < 0) {
        merged.push({ relative: s.relative, source: s.object! });
        source = true;
      } else if (order > 0) {
        merged.push({ relative: d.relative, destination: d.object! });
        destination = true;
      } else {
        merged.push({ relative: s.relative, source: s.object!, destination: d.object! });
        source = destination = true;
      }
      const waitSource = source && !s.step();
      const waitDestination = destination && !d.step();
      if (waitSource || waitDestination) {
        yield merged;
        merged = [];
        if (waitSource) await s.fill();
        if (waitDestination) await d.fill();
      }
    }
    if (merged.length > 0) yield merged;
  } finally {
    // A consumer that stops early (a failure, an abort) stops both listings.
    await Promise.all([s.close(), d.close()]);
  }
}
