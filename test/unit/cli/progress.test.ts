import { RunStats } from "@chunksync/sync";
import { describe, expect, it, vi } from "vitest";
import { startProgress } from "../../../packages/cli/src/progress.js";

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  const stream = {
    isTTY,
    columns: 200,
    write: (s: string) => writes.push(s) > 0,
  } as unknown as NodeJS.WriteStream;
  return { stream, writes };
}

const changed = {
  sourceKey: "a/b.bin",
  destinationKey: "a/b.bin",
  size: 64,
  state: "changed" as const,
  action: "compose" as const,
  chunks: { total: 8, chunkSize: 8, changed: [3] },
  planned: { transfer: 8 * 1024 * 1024, serverSide: 0 },
  applied: true,
  attempts: 1,
};

describe("progress", () => {
  it("on a terminal redraws one status line with objects, bytes per side, bytes sent and ETA", () => {
    vi.useFakeTimers();
    try {
      const stats = new RunStats();
      const { stream, writes } = fakeStream(true);
      const progress = startProgress(stats, stream, false);
      stats.objects.scanned = 4;
      stats.done = 1;
      stats.sourceBytesScanned = 400 * 1024 * 1024;
      stats.bytes.sourceRead = 100 * 1024 * 1024;
      stats.bytes.destinationRead = 90 * 1024 * 1024;
      stats.bytes.transferred = 8 * 1024 * 1024;
      vi.advanceTimersByTime(1000);
      const line = writes.at(-1)!;
      // "\r" + erase-line, then the bar: 1 of 4 objects done fills 5 of 20 cells.
      expect(line.startsWith("\r\x1b[2K[#####...............] 1/4 objects")).toBe(true);
      expect(line).toContain("digested src 100.0 MiB dst 90.0 MiB");
      expect(line).toContain("sent 8.0 MiB");
      expect(line).toMatch(/ETA \d/);
      progress.onResult(changed);
      expect(writes.some((w) => w.includes("changed   a/b.bin (1/8 chunks): compose, 8.0 MiB sent\n"))).toBe(
        true,
      );
      progress.stop();
      expect(writes.at(-1)).toBe("\r\x1b[2K");
    } finally {
      vi.useRealTimers();
    }
  });

  it("elsewhere prints one plain line per object that needed work, none for identical ones", () => {
    const { stream, writes } = fakeStream(false);
    const progress = startProgress(new RunStats(), stream, false);
    progress.onResult({ ...changed, state: "identical", action: "none" });
    progress.onResult({ ...changed, applied: false });
    progress.stop();
    expect(writes).toEqual(["changed   a/b.bin (1/8 chunks): would compose, 8.0 MiB to send\n"]);
  });
});
