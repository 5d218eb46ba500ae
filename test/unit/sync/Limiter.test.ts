import { setTimeout as sleep } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { forEachConcurrent, Limiter, settleAll } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import {
  LISTING_READ_AHEAD,
  mapAhead,
  readAhead,
  readAheadBatches,
} from "../../../packages/sync/src/Limiter.js";

describe("Limiter", () => {
  it("never runs more than its capacity at once, and runs everything", async () => {
    const limiter = new Limiter(3);
    let active = 0;
    let peak = 0;
    const done = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limiter.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await sleep(1 + (i % 3));
          active--;
          return i;
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(done).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it("serves the tasks of objects under way before those that open an object, each kind in the order it came", async () => {
    const limiter = new Limiter(1);
    const order: string[] = [];
    let release = () => {};
    const busy = limiter.run(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    const task = (name: string, opens = false) =>
      limiter.run(async () => {
        order.push(name);
      }, opens);
    const all = [task("open a", true), task("open b", true), task("block round"), task("write")];
    release();
    await Promise.all([busy, ...all]);
    expect(order).toEqual(["block round", "write", "open a", "open b"]);
  });

  it("releases its slot when a task fails", async () => {
    const limiter = new Limiter(1);
    await expect(limiter.run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(limiter.run(async () => "next")).resolves.toBe("next");
  });
});

describe("forEachConcurrent", () => {
  it("pulls lazily from an async source with bounded concurrency", async () => {
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 10; i++) {
        pulled++;
        yield i;
      }
    }
    let active = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachConcurrent(source(), 2, async (i) => {
      active++;
      peak = Math.max(peak, active);
      // Never more than the workers' items ahead of what has finished.
      expect(pulled - seen.length).toBeLessThanOrEqual(2);
      await sleep(1);
      seen.push(i);
      active--;
    });
    expect(peak).toBe(2);
    expect(seen.sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
  });

  it("rethrows its source's failure only once the items in flight have finished", async () => {
    async function* source() {
      yield 1;
      yield 2;
      throw new Error("listing broke");
    }
    const finished: number[] = [];
    await expect(
      forEachConcurrent(source(), 2, async (i) => {
        // The second item is still running when the first worker meets the failure.
        await sleep(i * 20);
        finished.push(i);
      }),
    ).rejects.toThrow("listing broke");
    expect(finished.sort()).toEqual([1, 2]);
  });

  it("stops taking new items after a failure, lets the ones in flight finish, then rethrows", async () => {
    const started: number[] = [];
    const finished: number[] = [];
    await expect(
      forEachConcurrent([...Array(10).keys()], 3, async (i) => {
        started.push(i);
        if (i === 1) throw new Error("item 1 failed");
        await sleep(5);
        finished.push(i);
      }),
    ).rejects.toThrow("item 1 failed");
    expect(started.length).toBeLessThan(10);
    expect(finished.sort()).toEqual(started.filter((i) => i !== 1).sort());
  });
});

describe("settleAll", () => {
  it("waits for every task before rethrowing the first failure", async () => {
    let slowDone = false;
    await expect(
      settleAll([
        Promise.reject(new Error("fast failure")),
        sleep(20).then(() => {
          slowDone = true;
        }),
      ]),
    ).rejects.toThrow("fast failure");
    expect(slowDone).toBe(true);
  });
});

describe("readAhead", () => {
  // Items may be heavy (a page's results, a thousand objects each): one the consumer took is
  // not kept for the read-ahead's sake, or a run's report would hold every page's results.
  it.each([
    ["readAhead", (s: AsyncIterable<Heavy>) => readAhead(s, 4)],
    ["readAheadBatches", (s: AsyncIterable<Heavy>) => readAheadBatches(s, 4)],
    ["mapAhead", (s: AsyncIterable<Heavy>) => mapAhead(s, 4, async (h) => h)],
  ])("%s keeps no item the consumer has taken and let go of", async (_, ahead) => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const made: WeakRef<Heavy>[] = [];
    async function* source() {
      for (let i = 0; ; i++) {
        const item = { payload: new Array<number>(1000).fill(i) };
        made.push(new WeakRef(item));
        yield item;
      }
    }
    const items = ahead(source());
    let taken = 0;
    while (taken < 100) {
      const next = await items.next();
      taken += Array.isArray(next.value) ? next.value.length : 1;
    }
    // WeakRefs clear only after the turn that made them, and once a collection found the item unreachable.
    await sleep(0);
    gc();
    await sleep(0);
    const kept = made.slice(0, taken - 1).filter((ref) => ref.deref() !== undefined).length;
    expect(kept).toBe(0);
    await items.return(undefined);
  });

  it("reads its source to the end before the consumer takes the second item", async () => {
    let ended = false;
    async function* source() {
      for (let i = 0; i < 3000; i++) yield i;
      ended = true;
    }
    const items = readAhead(source(), 10_000);
    expect((await items.next()).value).toBe(0);
    // The source yields without waiting on I/O: one turn of the event loop drains it.
    await sleep(0);
    expect(ended).toBe(true);
    const rest: number[] = [];
    for await (const i of items) rest.push(i);
    expect(rest).toEqual(Array.from({ length: 2999 }, (_, i) => i + 1));
  });

  it("reads no more than its limit ahead of the consumer, and stops the source when the consumer stops", async () => {
    let produced = 0;
    let closed = false;
    async function* source() {
      try {
        for (let i = 0; i < 100_000; i++) {
          produced++;
          yield i;
        }
      } finally {
        closed = true;
      }
    }
    const items = readAhead(source(), 10);
    expect((await items.next()).value).toBe(0);
    await sleep(0);
    // The one taken, and ten waiting: a listing of any length holds the same.
    expect(produced).toBe(11);
    for (let i = 1; i <= 500; i++) expect((await items.next()).value).toBe(i);
    await sleep(0);
    expect(produced).toBeLessThanOrEqual(511);
    await items.return(undefined);
    await sleep(0);
    expect(closed).toBe(true);
    expect(produced).toBeLessThanOrEqual(512);
  });

  it("hands over every item read before the source failed, then the failure", async () => {
    async function* source() {
      yield 1;
      yield 2;
      throw new Error("listing broke");
    }
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const i of readAhead(source(), 10_000)) got.push(i);
      })(),
    ).rejects.toThrow("listing broke");
    expect(got).toEqual([1, 2]);
  });
});

describe("readAheadBatches", () => {
  it("hands over what was read at once, holding a batch in hand against its limit until the next is asked", async () => {
    let produced = 0;
    async function* source() {
      for (let i = 0; i < 1000; i++) {
        produced++;
        yield i;
      }
    }
    const batches = readAheadBatches(source(), 10);
    const first = (await batches.next()).value as number[];
    await sleep(0);
    // The batch in hand and what was read since: the limit (and the one item the source is
    // at) in all, however long the source.
    expect(produced).toBeLessThanOrEqual(11);
    const all = [...first];
    for await (const batch of batches) {
      expect(batch.length).toBeGreaterThan(0);
      expect(batch.length).toBeLessThanOrEqual(10);
      all.push(...batch);
    }
    expect(all).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it("with a listing's read-ahead, the next page is asked for while the consumer holds the one before", async () => {
    let asked = 0;
    /** S3's pages of 1,000 keys, each asked for when the one before has been passed on. */
    async function* listing() {
      for (let page = 0; page < 3; page++) {
        asked++;
        await sleep(0);
        for (let i = 0; i < 1000; i++) yield page * 1000 + i;
      }
    }
    const batches = readAheadBatches(listing(), LISTING_READ_AHEAD);
    const first = (await batches.next()).value as number[];
    expect(first[0]).toBe(0);
    // The consumer still works on the first page: the second is asked for all the same.
    for (let turn = 0; turn < 100 && asked < 2; turn++) await sleep(0);
    expect(asked).toBe(2);
    let count = first.length;
    for await (const batch of batches) count += batch.length;
    expect(count).toBe(3000);
  });
});

describe("mapAhead", () => {
  async function* numbers(n: number) {
    for (let i = 0; i < n; i++) yield i;
  }

  it("hands over each item's work in the source's order, with work of later items started ahead, never more than its limit and one", async () => {
    let active = 0;
    let peak = 0;
    const out: number[] = [];
    for await (const value of mapAhead(numbers(40), 5, async (i) => {
      active++;
      peak = Math.max(peak, active);
      // Later items finish first: the order is the source's all the same.
      await sleep(i % 2 === 0 ? 4 : 1);
      active--;
      return i * 10;
    }))
      out.push(value);
    expect(out).toEqual(Array.from({ length: 40 }, (_, i) => i * 10));
    expect(peak).toBeGreaterThan(1);
    expect(peak).toBeLessThanOrEqual(6);
  });

  it("rethrows a failure where the consumer reaches its item, after the items before it", async () => {
    const out: number[] = [];
    const run = async () => {
      for await (const value of mapAhead(numbers(10), 4, async (i) => {
        if (i === 3) throw new Error("record 3 unreadable");
        await sleep(1);
        return i;
      }))
        out.push(value);
    };
    await expect(run()).rejects.toThrow("record 3 unreadable");
    expect(out).toEqual([0, 1, 2]);
  });
});

interface Heavy {
  payload: number[];
}
