import { MemoryObjectStore, type ObjectSummary } from "@chunksync/storage";
import { ListingOrderError, mergeListings, type ObjectResult } from "@chunksync/sync";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LISTING_READ_AHEAD } from "../../../packages/sync/src/Limiter.js";
import { ReorderedStore, syncWith, utf16Order, workflowWith } from "../../support/stores.js";
import { SyntheticListingStore } from "../../support/syntheticStore.js";

/** S3's key order: UTF-8 bytes, not JavaScript's UTF-16 code units. */
const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

/** Characters whose UTF-8 and UTF-16 orders differ (U+E000..U+FFFF against astral ones), and "/". */
const KEY_CHARS = ["a", "b", "/", "é", "\uE000", "\uFFFD", "😀", "𝄞", "\u{10FFFF}"];
const keyArb = fc
  .array(fc.constantFrom(...KEY_CHARS), { minLength: 1, maxLength: 4 })
  .map((cs) => cs.join(""));
/** Distinct keys, each on the source, the destination or both. */
const sidesArb = fc.uniqueArray(fc.tuple(keyArb, fc.constantFrom("source", "destination", "both")), {
  selector: ([k]) => k,
  maxLength: 24,
});

async function* listed(keys: string[], prefix = ""): AsyncGenerator<ObjectSummary> {
  for (const key of keys) yield { key: prefix + key, size: key.length, etag: `"${key}"` };
}

/** A memory store whose listing comes in another order: a server that does not keep S3's. */
async function put(store: MemoryObjectStore, key: string, text: string): Promise<void> {
  const data = Buffer.from(text);
  await store.put(key, data, data.length, { metadata: {} }, { ifNoneMatch: "*" });
}

describe("mergeListings", () => {
  it("joins two sorted listings into the sorted union of their keys, each with its sides", async () => {
    await fc.assert(
      fc.asyncProperty(sidesArb, async (entries) => {
        const on = (side: string) =>
          entries
            .filter(([, s]) => s === side || s === "both")
            .map(([k]) => k)
            .sort(utf8Order);
        const merged = [];
        for await (const m of mergeListings(
          { side: "source", prefix: "src/", objects: listed(on("source"), "src/") },
          { side: "destination", prefix: "", objects: listed(on("destination")) },
        ))
          merged.push([m.relative, m.source?.key, m.destination?.key]);
        const reference = entries
          .map(([k, s]) => [k, s === "destination" ? undefined : `src/${k}`, s === "source" ? undefined : k])
          .sort((a, b) => utf8Order(a[0] as string, b[0] as string));
        expect(merged).toEqual(reference);
      }),
      { numRuns: 300 },
    );
  });

  it("fails at the first key that is not greater, in UTF-8 byte order, than the one before", async () => {
    // JavaScript's sort puts "😀" (UTF-16 D83D) before "\uFFFD"; S3 lists it after (UTF-8 F0 > EF).
    const utf16Sorted = ["\uFFFD", "😀", "a"].sort();
    expect(utf16Sorted).toEqual(["a", "😀", "\uFFFD"]);
    const run = async (keys: string[]) => {
      for await (const _ of mergeListings(
        { side: "source", prefix: "", objects: listed([]) },
        { side: "destination", prefix: "", objects: listed(keys) },
      ));
    };
    const error = await run(utf16Sorted).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ListingOrderError);
    expect(error).toMatchObject({
      code: "LISTING_ORDER",
      details: { side: "destination", previous: "😀", key: "\uFFFD" },
    });
    // A repeated key is out of order too: each must be strictly greater.
    await expect(run(["a", "a"])).rejects.toMatchObject({ code: "LISTING_ORDER" });
    await expect(run(["a", "\uFFFD", "😀"])).resolves.toBeUndefined();
  });
});

describe("runSync over merged listings", () => {
  it("finds each key identical, changed, missing or destination-only whatever the characters (memory stores, both sides prefixed)", async () => {
    await fc.assert(
      fc.asyncProperty(sidesArb, fc.boolean(), async (entries, del) => {
        const source = new MemoryObjectStore({ bucket: "src" });
        const destination = new MemoryObjectStore({ bucket: "dst" });
        const expected: Record<string, string> = {};
        for (const [i, [key, side]] of entries.entries()) {
          if (side !== "destination") await put(source, `s/${key}`, key);
          // Every third pair differs in content.
          if (side !== "source")
            await put(destination, `d/${key}`, side === "both" && i % 3 === 0 ? "x" : key);
          expected[key] =
            side === "source"
              ? "missing"
              : side === "destination"
                ? "extra"
                : i % 3 === 0
                  ? "changed"
                  : "identical";
        }
        const report = await syncWith(source, destination, {
          sourcePrefix: "s/",
          destinationPrefix: "d/",
          dryRun: true,
          delete: del,
        });
        const got = Object.fromEntries(
          report.results.map((r: ObjectResult) => [r.destinationKey.slice("d/".length), r.state]),
        );
        expect(got).toEqual(expected);
        expect(report.results).toHaveLength(entries.length);
        expect(report.objects.extra).toBe(entries.filter(([, s]) => s === "destination").length);
        expect(report.planned.delete).toBe(del ? report.objects.extra : 0);
      }),
      { numRuns: 40 },
    );
  });

  for (const [engine, sync] of [
    ["direct", syncWith],
    ["workflow", workflowWith],
  ] as const) {
    for (const side of ["source", "destination"] as const) {
      it(`stops with LISTING_ORDER, naming the ${side} and both keys, on a ${side} that lists out of order (${engine})`, async () => {
        const stores = {
          source: new MemoryObjectStore({ bucket: "src" }),
          destination: new MemoryObjectStore({ bucket: "dst" }),
        };
        stores[side] = new ReorderedStore(side, utf16Order);
        for (const key of ["a", "\uFFFD", "😀"]) {
          await put(stores.source, key, key);
          await put(stores.destination, key, key);
        }
        const error = await sync(stores.source, stores.destination, { delete: true }).catch(
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ListingOrderError);
        expect((error as Error).message).toBe(
          `the ${side} listing is not in UTF-8 byte order of keys, as S3 lists: "\uFFFD" came after "😀"`,
        );
        // On a misordered source, "\uFFFD" looks destination-only before the break shows: the
        // source is asked for the key before any delete, so the destination keeps every object.
        for (const key of ["a", "\uFFFD", "😀"]) expect(await stores.destination.head(key)).toBeDefined();
      });
    }
  }

  it("the workflow stops where its source's listing pages would split a misordered pair, deleting nothing", async () => {
    // 500 keys a page: "😀" ends the first, and "\uFFFD", which S3's order puts before it, would
    // start the second. Unchecked, the first page's range took the destination's "\uFFFD" for
    // destination-only and deleted it, and the second page passed the source's over.
    const keys = [...Array.from({ length: 499 }, (_, i) => `k${String(i).padStart(3, "0")}`), "😀", "\uFFFD"];
    const source = new ReorderedStore("src", utf16Order);
    const destination = new MemoryObjectStore({ bucket: "dst" });
    for (const key of keys) {
      await put(source, key, key);
      await put(destination, key, key);
    }
    await expect(workflowWith(source, destination, { delete: true })).rejects.toThrow(
      'the source listing is not in UTF-8 byte order of keys, as S3 lists: "\uFFFD" came after "😀"',
    );
    for (const key of keys) expect(await destination.head(key)).toBeDefined();
  });
});

describe("a run's memory does not grow with its key count", () => {
  it("the listings run a bounded way ahead of the settled objects, over 200,000 keys", async () => {
    const count = 200_000;
    // Even keys only on the source (missing), odd keys only on the destination: every key
    // goes through the merge, none is compared, so the run is quick.
    const source = new SyntheticListingStore("src", count, (i) => i % 2 === 0);
    const destination = new SyntheticListingStore("dst", count, (i) => i % 2 === 1);
    let listed = 0;
    let aheadMost = 0;
    let settled = 0;
    const counting = (store: SyntheticListingStore) => {
      const list = store.list.bind(store);
      store.list = async function* (prefix: string, signal?: AbortSignal) {
        for await (const o of list(prefix, signal)) {
          listed++;
          yield o;
        }
      };
    };
    counting(source);
    counting(destination);
    const report = await syncWith(source, destination, {
      dryRun: true,
      concurrency: 8,
      // Every thousandth object waits a turn of the event loop (a report written to disk):
      // the listings, which go on meanwhile, show how far they may run ahead.
      onResult: () => {
        settled++;
        aheadMost = Math.max(aheadMost, listed - settled);
        return settled % 1000 === 0 ? new Promise<void>((resolve) => setImmediate(resolve)) : undefined;
      },
    });
    expect(report.objects).toMatchObject({ scanned: count / 2, missing: count / 2, extra: count / 2 });
    expect(settled).toBe(count);
    // Two listings read ahead, the merged keys' read-ahead, the batch of merged keys in hand (at
    // most what each listing read ahead), the objects in progress: a bound that does not depend
    // on the key count (the whole run would be 200,000).
    expect(aheadMost).toBeLessThanOrEqual(2 * LISTING_READ_AHEAD + 10_000 + 2 * LISTING_READ_AHEAD + 8 + 2);
    expect(aheadMost).toBeGreaterThan(1000);
  });
});

describe("mergeListings' first pages", () => {
  it("asks both listings at once: the destination's first page is not kept waiting for the source's", async () => {
    const events: string[] = [];
    async function* source(): AsyncGenerator<ObjectSummary> {
      events.push("source asked");
      // A page that takes a while: answered only after the pending microtasks and I/O callbacks.
      await new Promise((resolve) => setImmediate(resolve));
      events.push("source answered");
      yield { key: "a", size: 1, etag: '"a"' };
    }
    async function* destination(): AsyncGenerator<ObjectSummary> {
      events.push("destination asked");
      yield { key: "a", size: 1, etag: '"a"' };
    }
    const merged = mergeListings(
      { side: "source", objects: source(), prefix: "" },
      { side: "destination", objects: destination(), prefix: "" },
    );
    for await (const _ of merged);
    expect(events).toEqual(["source asked", "destination asked", "source answered"]);
  });

  it("fails with the source's error when both listings fail", async () => {
    const failing = (side: string): AsyncIterable<ObjectSummary> => ({
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.reject(new Error(`${side} failed`)),
      }),
    });
    const merged = mergeListings(
      { side: "source", objects: failing("source"), prefix: "" },
      { side: "destination", objects: failing("destination"), prefix: "" },
    );
    await expect(merged.next()).rejects.toThrow("source failed");
  });
});
