import { type ObjectResult, RunStats } from "@chunksync/sync";
import { describe, expect, it, vi } from "vitest";
import { RateWindow, startProgress, statusLine } from "../../../packages/cli/src/progress.js";

const MiB = 1024 * 1024;

function fakeStream(isTTY: boolean, columns = 200) {
  const writes: string[] = [];
  const stream = {
    isTTY,
    columns,
    write: (s: string) => writes.push(s) > 0,
  } as unknown as NodeJS.WriteStream;
  return { stream, writes };
}

const changed: ObjectResult = {
  sourceKey: "a/b.bin",
  destinationKey: "a/b.bin",
  size: 64,
  state: "changed",
  action: "compose",
  chunks: { total: 8, chunkSize: 8, changed: [3] },
  planned: { transfer: 8 * MiB, serverSide: 0 },
  applied: true,
  attempts: 1,
};

const extra: ObjectResult = {
  destinationKey: "old.bin",
  size: 10,
  state: "extra",
  action: "delete",
  planned: { transfer: 0, serverSide: 0 },
  applied: true,
  attempts: 1,
};

/** A run of `scanned` source objects and `destinationOnly` others, with both listings complete. */
function listedStats(scanned: number, destinationOnly: number): RunStats {
  const stats = new RunStats();
  stats.objects.scanned = scanned;
  stats.destinationOnly = destinationOnly;
  stats.listed = true;
  return stats;
}

describe("statusLine", () => {
  it("while listing says what was found so far, with no bar and no ETA", () => {
    const stats = new RunStats();
    stats.objects.scanned = 3;
    stats.sourceBytesScanned = 300 * MiB;
    stats.plannedWork = 600 * MiB;
    stats.bytes.sourceRead = 10 * MiB;
    const line = statusLine(stats, stats.startedAt + 10_000);
    expect(line.startsWith("listing: 3 objects, 300.0 MiB so far | 0 done")).toBe(true);
    expect(line).not.toContain("[");
    expect(line).not.toContain("ETA");
  });

  it("while the listings are merged, counts what each side has listed", () => {
    const stats = new RunStats();
    stats.destinationListed = 1200;
    stats.objects.scanned = 3;
    stats.sourceBytesScanned = 3 * MiB;
    expect(
      statusLine(stats, stats.startedAt + 1000).startsWith(
        "listing: 3 objects, 3.0 MiB so far (1200 listed on the destination) | 0 done",
      ),
    ).toBe(true);
  });

  it("weights the bar by bytes of work, not by objects", () => {
    // One large object of four is a quarter of the objects but nearly all of the work.
    const stats = listedStats(4, 0);
    stats.done = 3;
    stats.plannedWork = 400 * MiB;
    stats.bytes.sourceRead = 50 * MiB;
    stats.bytes.destinationRead = 40 * MiB;
    stats.bytes.copiedServerSide = 10 * MiB;
    stats.bytes.transferred = 8 * MiB;
    const line = statusLine(stats, stats.startedAt + 10_000);
    expect(line.startsWith("[#####...............] 25% | 3/4 objects")).toBe(true);
    expect(line).toContain("read src 50.0 MiB dst 40.0 MiB | sent 8.0 MiB");
    // 100 MiB of work in 10 s: 10 MiB/s, 300 MiB left.
    expect(line).toContain("10.0 MiB/s ETA 30.0s");
  });

  it("counts a streamed object's body as sent as it goes, before the object is stored", () => {
    const stats = listedStats(2, 0);
    stats.plannedWork = 400 * MiB;
    stats.bytes.sourceRead = 20 * MiB;
    stats.bytes.transferred = 8 * MiB;
    stats.sending = 12 * MiB;
    expect(statusLine(stats, stats.startedAt + 10_000)).toContain("| sent 20.0 MiB |");
  });

  it("counts destination-only objects in the total: more settled than scanned draws a full bar", () => {
    // The crash: one source object and two destination-only ones, all three settled.
    const stats = listedStats(1, 2);
    stats.done = 3;
    stats.plannedWork = 0;
    const line = statusLine(stats, stats.startedAt + 10_000);
    expect(line.startsWith("[####################] 100% | 3/3 objects")).toBe(true);
  });

  it("never draws past the ends when the work done passes the plan (retried reads)", () => {
    const stats = listedStats(2, 0);
    stats.done = 1;
    stats.plannedWork = 10 * MiB;
    stats.bytes.sourceRead = 30 * MiB;
    const line = statusLine(stats, stats.startedAt + 10_000);
    expect(line.startsWith("[###################.] 99% | 1/2 objects")).toBe(true);
    // No work left by the plan: no ETA rather than a made-up one.
    expect(line).not.toContain("ETA");
  });

  it("a tail of small objects: the ETA is the objects' time left at their rate where that is longer than the bytes'", () => {
    // A 1 GiB object done, then 9,000 of 10,000 objects of 4 KiB left: 35 MiB of work, but
    // 9,000 objects at the 100 a second the run settles them lately.
    const stats = listedStats(10_001, 0);
    stats.done = 1001;
    stats.plannedWork = 1024 * MiB + 10_000 * 4096;
    stats.bytes.sourceRead = 1024 * MiB + 1000 * 4096;
    const at = stats.startedAt + 20_000;
    expect(statusLine(stats, at, { rate: 4 * MiB, objectRate: 100 })).toContain("4.0 MiB/s ETA 1m30s");
    // Objects that each cost little beside their bytes: the bytes' time stands.
    expect(statusLine(stats, at, { rate: 4 * MiB, objectRate: 10_000 })).toContain("4.0 MiB/s ETA 8.8s");
    // No rate of objects measured yet: their count since the start (1,001 in 20 s).
    expect(statusLine(stats, at, { rate: 4 * MiB })).toContain("ETA 3m00s");
  });

  it("counts what the indexes answered for as done, though no byte of it was read", () => {
    const stats = listedStats(10, 0);
    stats.plannedWork = 400 * MiB;
    stats.answeredWork = 300 * MiB;
    stats.done = 7;
    stats.bytes.sourceRead = 20 * MiB;
    stats.bytes.destinationRead = 20 * MiB;
    // 340 of 400 MiB done; 60 MiB left at the reading's 4 MiB/s.
    expect(statusLine(stats, stats.startedAt + 10_000)).toMatch(
      /^\[#{17}\.{3}\] 85% .* 4\.0 MiB\/s ETA 15\.0s$/,
    );
  });

  it("shows an ETA only once a rate can be measured, and never 0.0s while work remains", () => {
    const stats = listedStats(1, 0);
    stats.plannedWork = 100 * MiB + 1;
    stats.bytes.sourceRead = 100 * MiB;
    expect(statusLine(stats, stats.startedAt + 500)).not.toContain("ETA");
    const line = statusLine(stats, stats.startedAt + 10_000);
    expect(line).toContain("ETA 1.0s");
    expect(line).not.toContain("0.0s");
  });
});

describe("statusLine within a terminal's width", () => {
  const busy = () => {
    const stats = listedStats(1500, 0);
    stats.done = 12;
    stats.plannedWork = 600 * MiB;
    stats.bytes.sourceRead = 269 * MiB;
    stats.bytes.destinationRead = 269 * MiB;
    stats.bytes.transferred = 1 * MiB;
    return stats;
  };

  it("on a terminal of 80 or 100 columns keeps the bar, the objects, the rate and the ETA", () => {
    const stats = busy();
    const at = stats.startedAt + 10_000;
    const wide = statusLine(stats, at, { width: 200 });
    expect(wide).toMatch(/ \| read src 269\.0 MiB dst 269\.0 MiB \| sent 1\.0 MiB \| [\d.]+ MiB\/s ETA /);
    // The bytes read go first, then the bytes sent.
    const hundred = statusLine(stats, at, { width: 99 });
    expect(hundred).toMatch(
      /^\[#+\.*\] \d+% \| 12\/1500 objects \| sent 1\.0 MiB \| [\d.]+ MiB\/s ETA (?:\d+m)?[\d.]+s$/,
    );
    const eighty = statusLine(stats, at, { width: 79 });
    expect(eighty).toMatch(/^\[#+\.*\] \d+% \| 12\/1500 objects \| [\d.]+ MiB\/s ETA (?:\d+m)?[\d.]+s$/);
    // Then the objects' count; a width the bar alone passes cuts the line.
    expect(statusLine(stats, at, { width: 50 })).toMatch(
      /^\[#+\.*\] \d+% \| [\d.]+ MiB\/s ETA (?:\d+m)?[\d.]+s$/,
    );
    for (const line of [hundred, eighty]) expect(line.length).toBeLessThanOrEqual(99);
  });

  it("at any width shows each field whole or not at all: never a number cut short", () => {
    const stats = busy();
    const at = stats.startedAt + 10_000;
    const full = statusLine(stats, at).split(" | ");
    const percent = full[0]!.split(" ").at(-1)!;
    for (let width = 1; width <= 130; width++) {
      const line = statusLine(stats, at, { width });
      expect(line.length).toBeLessThanOrEqual(width);
      if (line === "") continue;
      const [first, ...rest] = line.split(" | ");
      expect([percent, expect.stringMatching(new RegExp(`^\\[[#.]+\\] ${percent}$`))]).toContainEqual(first);
      for (const field of rest) expect(full).toContain(field);
    }
    expect(statusLine(stats, at, { width: 9 })).toBe(percent);
    // While listing, the count is said shorter, never cut.
    const listing = new RunStats();
    listing.objects.scanned = 500;
    expect(statusLine(listing, listing.startedAt, { width: 11 })).toBe("500 listed");
    expect(statusLine(listing, listing.startedAt, { width: 5 })).toBe("");
  });

  it("on a terminal of 40 columns draws a shorter bar and keeps the rate and the ETA whole", () => {
    const stats = busy();
    const line = statusLine(stats, stats.startedAt + 10_000, { width: 39 });
    expect(line).toMatch(/^\[#*\.*\] \d+% \| [\d.]+ MiB\/s ETA (?:\d+m)?[\d.]+s$/);
    expect(line.length).toBeLessThanOrEqual(39);
    // Narrower than the rate and ETA leave room for: the bar stays, and no separator dangles.
    const narrow = statusLine(stats, stats.startedAt + 10_000, { width: 24 });
    expect(narrow.length).toBeLessThanOrEqual(24);
    expect(narrow).toMatch(/^\[#*\.*\] \d+%/);
    expect(narrow).not.toMatch(/[ |]$/);
  });

  it("while listing on a narrow terminal says the count alone, with no separator left at its end", () => {
    const stats = new RunStats();
    stats.objects.scanned = 20;
    stats.sourceBytesScanned = 600 * MiB;
    stats.destinationListed = 12;
    const line = statusLine(stats, stats.startedAt + 10_000, { width: 39 });
    expect(line.length).toBeLessThanOrEqual(39);
    expect(line).toMatch(/^listing: 20 objects/);
    expect(line).not.toMatch(/[ |]$/);
  });

  it("takes the rate it is given for the ETA: what the run did lately, not since its start", () => {
    const stats = busy();
    // 538 MiB of 600 MiB done in 10 s since the start; lately 100 MiB/s: 0.62 s left, said 1.0s
    // (the 1,488 objects left settle at 2,000 a second lately).
    expect(statusLine(stats, stats.startedAt + 10_000, { rate: 100 * MiB, objectRate: 2000 })).toContain(
      "100.0 MiB/s ETA 1.0s",
    );
  });
});

describe("RateWindow", () => {
  it("measures the work of the last span, not the idle seconds before it", () => {
    const window = new RateWindow(10_000);
    // 8 s of listing and unchanged objects: no work.
    for (let at = 0; at <= 8000; at += 200) window.sample(at, 0);
    // Then 10 MiB/s for 12 s.
    let rate: number | undefined;
    for (let at = 8200; at <= 20_000; at += 200) rate = window.sample(at, ((at - 8000) / 1000) * 10 * MiB);
    expect(rate).toBeCloseTo(10 * MiB, -3);
  });

  it("says nothing until it holds a second of samples", () => {
    const window = new RateWindow();
    expect(window.sample(0, 0)).toBeUndefined();
    expect(window.sample(500, MiB)).toBeUndefined();
    expect(window.sample(1000, 2 * MiB)).toBe(2 * MiB);
  });
});

describe("progress", () => {
  it("on a terminal redraws the status line, prints settled objects above it, and clears it on stop", () => {
    vi.useFakeTimers();
    try {
      const stats = listedStats(1, 2);
      const { stream, writes } = fakeStream(true);
      const progress = startProgress(stats, stream, false);
      stats.done = 1;
      progress.onResult(changed);
      stats.done = 2;
      progress.onResult(extra);
      stats.done = 3;
      expect(() => progress.onResult({ ...extra, destinationKey: "older.bin" })).not.toThrow();
      vi.advanceTimersByTime(1000);
      expect(writes).toContain("\r\x1b[2Kchanged   a/b.bin (1/8 chunks): compose, 8.0 MiB sent\n");
      expect(writes).toContain("\r\x1b[2Kextra     older.bin: delete\n");
      expect(writes.at(-1)?.startsWith("\r\x1b[2K[####################] 100% | 3/3 objects")).toBe(true);
      progress.stop();
      expect(writes.at(-1)).toBe("\r\x1b[2K");
      // A line said after the stop (a stop's own, while the run's last requests end) draws no status under it.
      progress.say("chunksync: stopping");
      vi.advanceTimersByTime(1000);
      expect(writes.at(-1)).toBe("\r\x1b[2Kchunksync: stopping\n");
    } finally {
      vi.useRealTimers();
    }
  });

  it("times what is left by the bytes' rate alone while few objects settle: large objects one at a time", () => {
    vi.useFakeTimers();
    try {
      // Six objects of 40 MiB, one at a time at 4 MiB/s: one settled, the second half read.
      const stats = listedStats(6, 0);
      stats.plannedWork = 240 * MiB;
      const { stream, writes } = fakeStream(true);
      const progress = startProgress(stats, stream, false);
      const etas: string[] = [];
      for (let second = 1; second <= 15; second++) {
        stats.bytes.sourceRead = second * 4 * MiB;
        stats.done = second >= 10 ? 1 : 0;
        vi.advanceTimersByTime(1000);
        etas.push(/ETA (\S+)/.exec(writes.at(-1) ?? "")?.[1] ?? "");
      }
      progress.stop();
      // 180 MiB left at 4 MiB/s at the end, not 5 objects at the one a run of 15 s settled.
      expect(etas.at(-1)).toBe("45.0s");
      expect(etas.slice(-5)).toEqual(["49.0s", "48.0s", "47.0s", "46.0s", "45.0s"]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("draws the line on a terminal that reports no size (0 columns)", () => {
    const { stream, writes } = fakeStream(true, 0);
    const progress = startProgress(listedStats(1, 0), stream, false);
    progress.onResult(changed);
    progress.stop();
    expect(writes.some((w) => w.includes("/1 objects"))).toBe(true);
  });

  it("on a terminal that reports no size, keeps the line within the COLUMNS the shell states", () => {
    const { stream, writes } = fakeStream(true, 0);
    const progress = startProgress(listedStats(1, 0), stream, false, { COLUMNS: "20" });
    progress.onResult(changed);
    progress.stop();
    const drawn = writes.filter((w) => !w.endsWith("\n")).map((w) => w.replace("\r\x1b[2K", ""));
    expect(drawn.some((line) => line.startsWith("["))).toBe(true);
    for (const line of drawn) expect(line.length, line).toBeLessThanOrEqual(20);
  });

  it("elsewhere prints one plain line per object that needed work, none for identical ones", () => {
    const { stream, writes } = fakeStream(false);
    const progress = startProgress(new RunStats(), stream, false);
    progress.onResult({ ...changed, state: "identical", action: "none" });
    progress.onResult({ ...changed, applied: false });
    progress.stop();
    expect(writes).toEqual(["changed   a/b.bin (1/8 chunks): would compose, at most 8.0 MiB to send\n"]);
  });

  it("says a kept destination-only object is kept and an archived one skipped, not that a sync would do so", () => {
    const { stream, writes } = fakeStream(false);
    const progress = startProgress(new RunStats(), stream, false);
    progress.onResult({ ...extra, action: "keep", applied: false });
    progress.onResult({
      ...extra,
      sourceKey: "a/b.bin",
      state: "unreadable",
      action: "none",
      applied: false,
    });
    progress.onResult({ ...extra, applied: false });
    progress.stop();
    expect(writes).toEqual([
      "extra     old.bin: keep\n",
      "unreadable a/b.bin: skip\n",
      "extra     old.bin: would delete\n",
    ]);
  });

  it("says a metadata change as what is done: restate metadata, or would", () => {
    const { stream, writes } = fakeStream(false);
    const progress = startProgress(new RunStats(), stream, false);
    const metadata = {
      ...changed,
      action: "metadata" as const,
      chunks: { total: 8, chunkSize: 8, changed: [] },
    };
    progress.onResult({ ...metadata, planned: { transfer: 0, serverSide: 64 } });
    progress.onResult({ ...metadata, applied: false, planned: { transfer: 0, serverSide: 64 } });
    progress.stop();
    expect(writes).toEqual([
      "changed   a/b.bin (0/8 chunks): restate metadata\n",
      "changed   a/b.bin (0/8 chunks): would restate metadata\n",
    ]);
  });

  it("on a terminal declared TERM=dumb prints plain lines, never the escapes that clear a line", () => {
    const { stream, writes } = fakeStream(true);
    const progress = startProgress(listedStats(1, 0), stream, false, { TERM: "dumb" });
    progress.onResult(changed);
    progress.stop();
    expect(writes).toEqual(["changed   a/b.bin (1/8 chunks): compose, 8.0 MiB sent\n"]);
  });

  it("quiet, on a terminal or not, prints only the objects that failed", () => {
    for (const tty of [true, false]) {
      const { stream, writes } = fakeStream(tty);
      const progress = startProgress(new RunStats(), stream, true);
      progress.onResult(changed);
      progress.onResult({ ...changed, state: "failed", error: { code: "X", message: "broken" } });
      progress.say("chunksync: stopping");
      progress.stop();
      // On a terminal a line said clears the row first, where the terminal echoed `^C`.
      expect(writes).toEqual([
        "failed    a/b.bin: broken\n",
        `${tty ? "\r\x1b[2K" : ""}chunksync: stopping\n`,
      ]);
    }
  });

  it("shows a key and a failure's message escaped, each object on one line", () => {
    const { stream, writes } = fakeStream(false);
    const progress = startProgress(new RunStats(), stream, false);
    const key = "a\nb\r\x1b[2J\u202e";
    progress.onResult({ ...changed, sourceKey: key, destinationKey: key });
    progress.onResult({
      ...extra,
      destinationKey: key,
      state: "failed",
      error: { code: "X", message: `delete s3://b/${key}: \x1b]0;server text\x07` },
    });
    progress.stop();
    expect(writes).toEqual([
      "changed   a\\nb\\r\\x1b[2J\\u202e (1/8 chunks): compose, 8.0 MiB sent\n",
      "failed    a\\nb\\r\\x1b[2J\\u202e: delete s3://b/a\\nb\\r\\x1b[2J\\u202e: \\x1b]0;server text\\x07\n",
    ]);
  });
});

describe("a line said beside the progress", () => {
  it("on a terminal goes above the status line, cleared first, and the status is drawn again under it", () => {
    const { stream, writes } = fakeStream(true);
    const progress = startProgress(listedStats(2, 0), stream, false);
    progress.say("chunksync: stopping");
    progress.stop();
    expect(writes[0]).toBe("\r\x1b[2Kchunksync: stopping\n");
    expect(writes[1]?.startsWith("\r\x1b[2K")).toBe(true);
    expect(writes[1]).toContain("0/2 objects");
  });

  it("elsewhere is one line, with no escape", () => {
    const { stream, writes } = fakeStream(false);
    const progress = startProgress(listedStats(2, 0), stream, true);
    progress.say("chunksync: stopping");
    expect(writes).toEqual(["chunksync: stopping\n"]);
  });
});
