import type { IndexEntry } from "@chunksync/core";
import { IndexRecorder, type SideIndex } from "@chunksync/sync";
import { describe, expect, it } from "vitest";

/** A side that records the keys it is given, in order. */
function recordingSide(kept: string[]): SideIndex {
  return { keep: async (entry: IndexEntry) => void kept.push(entry.key) } as unknown as SideIndex;
}

const entry = (key: string) => ({ key }) as IndexEntry;

describe("IndexRecorder", () => {
  it("writes entries in the order slots were taken, whatever order they settle in", async () => {
    const kept: string[] = [];
    const recorder = new IndexRecorder({ source: recordingSide(kept) });
    const slots = await Promise.all(["a", "b", "c", "d"].map(() => recorder.slot()));
    await slots[2]!.settle({ source: entry("c") });
    await slots[1]!.settle({});
    expect(kept).toEqual([]);
    await slots[0]!.settle({ source: entry("a") });
    expect(kept).toEqual(["a", "c"]);
    await slots[3]!.settle({ source: entry("d") });
    await recorder.drained();
    expect(kept).toEqual(["a", "c", "d"]);
  });

  it("holds back taking a slot while the window is full, until the oldest settles", async () => {
    const kept: string[] = [];
    const recorder = new IndexRecorder({ source: recordingSide(kept) }, 3);
    const first = await recorder.slot();
    const second = await recorder.slot();
    const third = await recorder.slot();
    let fourthTaken = false;
    const fourth = recorder.slot().then((slot) => {
      fourthTaken = true;
      return slot;
    });
    await second.settle({ source: entry("b") });
    await third.settle({ source: entry("c") });
    await new Promise((resolve) => setImmediate(resolve));
    expect(fourthTaken).toBe(false);
    await first.settle({ source: entry("a") });
    await (await fourth).settle({ source: entry("d") });
    expect(fourthTaken).toBe(true);
    await recorder.drained();
    expect(kept).toEqual(["a", "b", "c", "d"]);
  });

  it("hands entries to a writer that takes them at once without a promise, in order", async () => {
    const kept: string[] = [];
    const side = { keep: (e: IndexEntry) => void kept.push(e.key) } as unknown as SideIndex;
    const recorder = new IndexRecorder({ source: side });
    const [a, b] = [recorder.take(), recorder.take()];
    expect(b.settle({ source: entry("b") })).toBeUndefined();
    expect(kept).toEqual([]);
    expect(a.settle({ source: entry("a") })).toBeUndefined();
    expect(kept).toEqual(["a", "b"]);
    await recorder.drained();
  });

  it("says so when a slot was never settled", async () => {
    const recorder = new IndexRecorder({});
    await recorder.slot();
    await expect(recorder.drained()).rejects.toThrow(/unsettled/);
  });
});
