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

interface Entry {
  relative: string;
  object: ObjectSummary;
}

/**
 * A listing's entries, each checked to be strictly greater than the one before in UTF-8 byte
 * order (JavaScript's string order is UTF-16's, which differs for characters beyond U+FFFF).
 * Keys share the listing's prefix, so their relative keys keep the order.
 */
async function* checkedOrder(listing: Listing): AsyncGenerator<Entry> {
  let previous: Entry | undefined;
  for await (const object of listing.objects) {
    const relative = object.key.slice(listing.prefix.length);
    const entry = { relative, object };
    if (previous && compareUtf8(previous.relative, relative) >= 0)
      throw new ListingOrderError(listing.side, previous.object.key, object.key);
    previous = entry;
    yield entry;
  }
}

/**
 * Merge-joins the source and destination listings, both sorted streams, holding one entry
 * of each at a time: memory stays flat at any key count. A key is destination-only as soon
 * as the source listing has passed it; that is what lets `--delete` delete as the run goes,
 * and why an out-of-order listing stops the run (ListingOrderError) at the first key that
 * breaks the order.
 */
export async function* mergeListings(source: Listing, destination: Listing): AsyncGenerator<MergedKey> {
  const sources = checkedOrder(source);
  const destinations = checkedOrder(destination);
  try {
    // Both first pages are asked for at once; a failure of the source's is the one told.
    const [firstSource, firstDestination] = await Promise.allSettled([sources.next(), destinations.next()]);
    if (firstSource.status === "rejected") throw firstSource.reason;
    if (firstDestination.status === "rejected") throw firstDestination.reason;
    let s = firstSource.value;
    let d = firstDestination.value;
    while (!s.done || !d.done) {
      const order = s.done ? 1 : d.done ? -1 : compareUtf8(s.value.relative, d.value.relative);
      if (order < 0 && !s.done) {
        yield { relative: s.value.relative, source: s.value.object };
        s = await sources.next();
      } else if (order > 0 && !d.done) {
        yield { relative: d.value.relative, destination: d.value.object };
        d = await destinations.next();
      } else if (!s.done && !d.done) {
        yield { relative: s.value.relative, source: s.value.object, destination: d.value.object };
        [s, d] = [await sources.next(), await destinations.next()];
      }
    }
  } finally {
    // A consumer that stops early (a failure, an abort) stops both listings.
    await Promise.all([sources.return(undefined), destinations.return(undefined)]);
  }
}
