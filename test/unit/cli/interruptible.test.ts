import { afterEach, describe, expect, it, vi } from "vitest";
import { endAs, interruptible, STOPPING, TERMINATING } from "../../../packages/cli/src/interruptible.js";

/** What `interruptible` writes to stderr, with stderr a terminal or not. */
function stderrAs(tty: boolean): string[] {
  const writes: string[] = [];
  vi.spyOn(process.stderr, "write").mockImplementation((s) => writes.push(String(s)) > 0);
  Object.defineProperty(process.stderr, "isTTY", { value: tty, configurable: true });
  return writes;
}

const wasTTY = Object.getOwnPropertyDescriptor(process.stderr, "isTTY");

afterEach(() => {
  vi.restoreAllMocks();
  if (wasTTY) Object.defineProperty(process.stderr, "isTTY", wasTTY);
  else delete (process.stderr as { isTTY?: boolean }).isTTY;
});

describe("endAs", () => {
  it("a stop signal after the command said its ending ends the process with the code it said, not the signal's", () => {
    const exit = vi.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    const before = new Map(
      (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((by) => [by, new Set(process.listeners(by))]),
    );
    endAs(2);
    try {
      process.emit("SIGTERM");
      expect(exit).toHaveBeenLastCalledWith(2);
      process.emit("SIGINT");
      expect(exit).toHaveBeenLastCalledWith(2);
    } finally {
      for (const [by, kept] of before)
        for (const listener of process.listeners(by)) if (!kept.has(listener)) process.off(by, listener);
    }
  });
});

describe("interruptible", () => {
  it("at Ctrl-C aborts the work's signal and says so; work that then throws exits 130", async () => {
    const writes = stderrAs(false);
    const code = interruptible(
      (signal) =>
        new Promise<number>((_, reject) =>
          signal.addEventListener("abort", () => reject(new Error("stopped"))),
        ),
    );
    process.emit("SIGINT");
    expect(await code).toBe(130);
    expect(writes).toEqual([`${STOPPING}\n`, "chunksync: interrupted; nothing was written\n"]);
  });

  it("at SIGTERM says so; work that then throws exits 143, and a second signal exits 143 at once", async () => {
    const writes = stderrAs(false);
    const exit = vi.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    const code = interruptible(
      (signal) =>
        new Promise<number>((_, reject) =>
          signal.addEventListener("abort", () => reject(new Error("stopped"))),
        ),
    );
    process.emit("SIGTERM");
    process.emit("SIGINT");
    expect(exit).toHaveBeenCalledWith(143);
    expect(await code).toBe(143);
    expect(writes).toEqual([
      `${TERMINATING}\n`,
      "chunksync: interrupted again; nothing was written\n",
      "chunksync: interrupted; nothing was written\n",
    ]);
  });

  it("at a second Ctrl-C stops at once, saying what is left; on a terminal each line clears the echoed ^C", async () => {
    const writes = stderrAs(true);
    const exit = vi.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    let finish: (code: number) => void = () => {};
    const code = interruptible(
      () =>
        new Promise<number>((resolve) => {
          finish = resolve;
        }),
      { stopped: "no upload was aborted", again: "uploads not yet aborted are left: run cleanup again" },
    );
    process.emit("SIGINT");
    process.emit("SIGINT");
    expect(exit).toHaveBeenCalledWith(130);
    expect(writes).toEqual([
      `\r\x1b[2K${STOPPING}\n`,
      "\r\x1b[2Kchunksync: interrupted again; uploads not yet aborted are left: run cleanup again\n",
    ]);
    finish(0);
    await code;
    // Its handlers are gone once the work is done.
    expect(process.listenerCount("SIGINT")).toBe(0);
  });
});
