import type { MemoryBudget } from "@chunksync/core";
import { PartBuffers } from "@chunksync/sync";
import { describe, expect, test } from "vitest";

const budget = (bytes: number): MemoryBudget => ({ bytes, strict: false, of: "a test" });

/** A few turns of the event loop: every part that can take a buffer has, and every settled one gave its back. */
async function settled(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A part holding its buffer until released, and the order parts got theirs. */
function holder(buffers: PartBuffers, got: string[]) {
  const running: Promise<void>[] = [];
  const releases = new Map<string, () => void>();
  const hold = (name: string, size: number) => {
    const released = new Promise<void>((resolve) => releases.set(name, resolve));
    running.push(
      buffers.with(size, async () => {
        got.push(name);
        await released;
      }),
    );
  };
  const release = async (name: string) => {
    releases.get(name)?.();
    await settled();
  };
  return { hold, release, all: () => Promise.all(running) };
}

describe("PartBuffers", () => {
  test("hands a settled part's buffer to the next part of its size", async () => {
    const buffers = new PartBuffers(budget(4096));
    const first = await buffers.with(1024, async (b) => b);
    expect(first.length).toBe(1024);
    expect(await buffers.with(1024, async (b) => b)).toBe(first);
  });

  test("never gives one buffer to two parts in flight", async () => {
    const buffers = new PartBuffers(budget(1000));
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const inFlight: Buffer[] = [];
    const running = [1, 2, 3].map(() =>
      buffers.with(100, async (b) => {
        inFlight.push(b);
        await held;
      }),
    );
    await settled();
    expect(new Set(inFlight).size).toBe(3);
    release();
    await Promise.all(running);
  });

  test("lets parts wait for room in the budget and serves them in the order they came", async () => {
    const buffers = new PartBuffers(budget(250));
    const got: string[] = [];
    const parts = holder(buffers, got);
    for (const name of ["a", "b", "c", "d"]) parts.hold(name, 100);
    await settled();
    expect(got).toEqual(["a", "b"]);
    await parts.release("b");
    expect(got).toEqual(["a", "b", "c"]);
    await parts.release("a");
    expect(got).toEqual(["a", "b", "c", "d"]);
    await Promise.all(["c", "d"].map(parts.release));
    await parts.all();
  });

  test("reads a part larger than the budget alone, and the parts after it wait their turn", async () => {
    const buffers = new PartBuffers(budget(250));
    const got: string[] = [];
    const parts = holder(buffers, got);
    parts.hold("small", 100);
    parts.hold("large", 1000);
    parts.hold("after", 100);
    await settled();
    expect(got).toEqual(["small"]);
    // The small part's free buffer makes way for the large one.
    await parts.release("small");
    expect(got).toEqual(["small", "large"]);
    await parts.release("large");
    expect(got).toEqual(["small", "large", "after"]);
    await parts.release("after");
    await parts.all();
  });

  test("drops free buffers of other sizes to make room, and gives a buffer back after a failure", async () => {
    const buffers = new PartBuffers(budget(300));
    const small = await buffers.with(100, async (b) => b);
    const big = await buffers.with(200, async (b) => b);
    // 100 + 200 held: a part of 300 drops both.
    const whole = await buffers.with(300, async (b) => b);
    expect(whole).not.toBe(big);
    await expect(
      buffers.with(300, async (b) => {
        expect(b).toBe(whole);
        throw new Error("part failed");
      }),
    ).rejects.toThrow("part failed");
    expect(await buffers.with(300, async (b) => b)).toBe(whole);
    expect(await buffers.with(100, async (b) => b)).not.toBe(small);
  });
});
