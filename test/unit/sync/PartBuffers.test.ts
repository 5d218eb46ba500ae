import { PartBuffers } from "@chunksync/sync";
import { describe, expect, test } from "vitest";

describe("PartBuffers", () => {
  test("hands a settled part's buffer to the next part that fits in it", async () => {
    const buffers = new PartBuffers(2);
    const first = await buffers.with(1024, async (b) => b);
    const second = await buffers.with(512, async (b) => b);
    expect(second).toBe(first);
    // Larger than any held: a new one.
    const third = await buffers.with(2048, async (b) => b);
    expect(third).not.toBe(first);
    expect(third.length).toBe(2048);
  });

  test("never gives one buffer to two parts in flight", async () => {
    const buffers = new PartBuffers(4);
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
    await new Promise((resolve) => setImmediate(resolve));
    expect(new Set(inFlight).size).toBe(3);
    release();
    await Promise.all(running);
  });

  test("keeps at most `keep` buffers between uses, the largest, and gives them back after a failure", async () => {
    const buffers = new PartBuffers(1);
    const big = await buffers.with(4096, async (b) => b);
    // A failing part still returns its buffer.
    await expect(
      buffers.with(4000, async (b) => {
        expect(b).toBe(big);
        throw new Error("part failed");
      }),
    ).rejects.toThrow("part failed");
    let small: Buffer | undefined;
    let again: Buffer | undefined;
    await buffers.with(4096, async (b) => {
      // Taken while `big` is in use: a second buffer, smaller, made now.
      small = await buffers.with(10, async (s) => s);
      again = b;
    });
    expect(again).toBe(big);
    expect(small?.length).toBe(10);
    // Only the largest was kept.
    expect(await buffers.with(10, async (b) => b)).toBe(big);
  });
});
