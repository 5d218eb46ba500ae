import { createHash } from "node:crypto";
import { getEventListeners, setMaxListeners } from "node:events";
import { type BodySink, pour } from "@chunksync/storage";
import { afterEach, describe, expect, test, vi } from "vitest";
import { HalvesReader } from "../../../packages/sync/src/phases/readInHalves.js";

const ONCE = { attempts: 1, baseDelayMs: 1 };
const RETRIED = { attempts: 4, baseDelayMs: 1 };
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** `bytes` in pieces of 30, one a turn of the event loop, as a socket's reads come. */
async function* trickle(bytes: Buffer, cutAfter = Number.POSITIVE_INFINITY) {
  for (let at = 0; at < bytes.length; at += 30) {
    if (at >= cutAfter) throw Object.assign(new Error("reset"), { code: "ECONNRESET" });
    await turn();
    yield Buffer.from(bytes.subarray(at, Math.min(at + 30, bytes.length, cutAfter)));
  }
}

/** A store's range reads of `data`, poured into the sink as a transport pours them; `log` says what was asked for and how far each got. */
function readsOf(data: Buffer, log: string[], cut?: (range: { offset: number; length: number }) => number) {
  const state = { landed: 0 };
  const read = async (range: { offset: number; length: number }, sink: BodySink) => {
    log.push(`read ${range.offset}+${range.length}`);
    const counted = {
      ...sink,
      piece: (b: Buffer) => {
        state.landed += b.length;
        sink.piece?.(b);
      },
    };
    const landed = await pour(
      trickle(data.subarray(range.offset, range.offset + range.length), cut?.(range)),
      counted,
    );
    log.push(`landed ${range.offset}+${landed}`);
  };
  return { read, state };
}

/**
 * Takes every piece of `reader`, holding each some turns of the event loop before asking for the
 * next: each stays intact meanwhile, and no byte lands past the `most` pieces (of `size` bytes)
 * the buffer has room for, this one and those after it.
 */
async function consume(reader: HalvesReader, state: { landed: number }, size: number, most: number) {
  const got: Buffer[] = [];
  for await (const piece of reader.pieces()) {
    const copy = Buffer.from(piece);
    for (let i = 0; i < 10; i++) await turn();
    expect(piece.equals(copy)).toBe(true);
    expect(state.landed).toBeLessThanOrEqual((got.length + most) * size);
    got.push(copy);
  }
  return got;
}

describe("HalvesReader", () => {
  afterEach(() => vi.restoreAllMocks());

  test("reads the range in one read, hands it over in order in pieces of half the buffer, each intact until the next is asked for, and the read waits while neither half is free", async () => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) % 251));
    const log: string[] = [];
    const { read, state } = readsOf(data, log);
    const hash = createHash("sha256");
    const reader = new HalvesReader(read, { offset: 100, length: 750 }, Buffer.alloc(201), ONCE, (b) =>
      hash.update(b),
    );
    // The read goes on while a piece is with the consumer, into the other half only.
    const got = await consume(reader, state, 100, 2);
    expect(got.map((p) => p.length)).toEqual([100, 100, 100, 100, 100, 100, 100, 50]);
    expect(Buffer.concat(got).equals(data.subarray(100, 850))).toBe(true);
    expect(hash.digest().equals(createHash("sha256").update(data.subarray(100, 850)).digest())).toBe(true);
    expect(log).toEqual(["read 100+750", "landed 100+750"]);
  });

  test.each([
    { buffer: 200, most: 2, case: "in the buffer's two halves" },
    { buffer: 150, most: 1, case: "one at a time in a buffer of one piece" },
  ])(
    "hands over pieces of `pieceSize` (the last shorter), $case, each intact until the next is asked for",
    async ({ buffer, most }) => {
      const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 11) % 251));
      const log: string[] = [];
      const { read, state } = readsOf(data, log);
      const reader = new HalvesReader(
        read,
        { offset: 0, length: 430 },
        Buffer.alloc(buffer),
        ONCE,
        undefined,
        100,
      );
      // Nothing lands past the pieces the buffer has room for: this one, and the next where two fit.
      const got = await consume(reader, state, 100, most);
      expect(got.map((p) => p.length)).toEqual([100, 100, 100, 100, 30]);
      expect(Buffer.concat(got).equals(data.subarray(0, 430))).toBe(true);
      expect(log).toEqual(["read 0+430", "landed 0+430"]);
    },
  );

  test("a read that fails fails the body, is kept as the failure, and leaves nothing landing once stopped", async () => {
    const log: string[] = [];
    // The first read breaks in the third half; the one after it at once, having handed nothing over.
    const { read } = readsOf(Buffer.alloc(400, 1), log, (range) => (range.offset === 0 ? 250 : 0));
    const reader = new HalvesReader(read, { offset: 0, length: 400 }, Buffer.alloc(200), ONCE);
    const body = reader.pieces();
    expect((await body.next()).value?.length).toBe(100);
    expect((await body.next()).value?.length).toBe(100);
    await expect(body.next()).rejects.toMatchObject({ code: "ECONNRESET" });
    expect(reader.failure).toMatchObject({ code: "ECONNRESET" });
    expect(log.filter((l) => l.startsWith("read"))).toEqual(["read 0+400", "read 200+200"]);
    await reader.stop();
  });

  test("a consumer that gives up mid-way: stop settles, the read that waits for room gives up, and that is no failure", async () => {
    const log: string[] = [];
    const { read, state } = readsOf(Buffer.alloc(1000, 2), log);
    const reader = new HalvesReader(read, { offset: 0, length: 1000 }, Buffer.alloc(200), ONCE);
    const body = reader.pieces();
    await body.next();
    for (let i = 0; i < 20; i++) await turn();
    // The first half is still the consumer's: the read filled the second and waits.
    expect(state.landed).toBe(200);
    await body.return(undefined);
    await reader.stop();
    expect(state.landed).toBe(200);
    expect(reader.failure).toBeUndefined();
  });

  test("a read that breaks mid-way is read again from the first half not handed over: the pieces and their hash are those of the range", async () => {
    const data = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 13) % 251));
    const log: string[] = [];
    let broke = false;
    // The first attempt breaks 50 bytes into the third half.
    const { read } = readsOf(data, log, (range) => {
      if (broke) return Number.POSITIVE_INFINITY;
      broke = true;
      return 250 - range.offset;
    });
    const hash = createHash("sha256");
    const reader = new HalvesReader(read, { offset: 0, length: 600 }, Buffer.alloc(200), RETRIED, (b) =>
      hash.update(b),
    );
    const got: Buffer[] = [];
    for await (const piece of reader.pieces()) got.push(Buffer.from(piece));
    expect(Buffer.concat(got).equals(data)).toBe(true);
    expect(hash.digest().equals(createHash("sha256").update(data).digest())).toBe(true);
    expect(reader.failure).toBeUndefined();
    expect(log[0]).toBe("read 0+600");
    // Read again from a half's start, at most from the third: the bytes before it were handed over.
    expect(log.filter((l) => l.startsWith("read"))).toHaveLength(2);
    expect(["read 0+600", "read 100+500", "read 200+400"]).toContain(
      log.filter((l) => l.startsWith("read"))[1],
    );
  });

  test("a read that hands a half over between its failures has its attempts afresh: one attempt each still gets the whole range", async () => {
    const data = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 11) % 251));
    const log: string[] = [];
    // Every read breaks 150 bytes in, unless what it asks for is less.
    const { read } = readsOf(data, log, () => 150);
    const reader = new HalvesReader(read, { offset: 0, length: 600 }, Buffer.alloc(200), ONCE);
    const got: Buffer[] = [];
    for await (const piece of reader.pieces()) got.push(Buffer.from(piece));
    expect(Buffer.concat(got).equals(data)).toBe(true);
    expect(reader.failure).toBeUndefined();
    expect(log.filter((l) => l.startsWith("read")).length).toBeGreaterThan(1);
  });

  test("a read that breaks without handing a half over uses its attempts, then fails", async () => {
    const log: string[] = [];
    const { read } = readsOf(Buffer.alloc(600, 3), log, () => 50);
    const reader = new HalvesReader(read, { offset: 0, length: 600 }, Buffer.alloc(200), RETRIED);
    await expect(async () => {
      for await (const _ of reader.pieces());
    }).rejects.toMatchObject({ code: "ECONNRESET" });
    expect(log.filter((l) => l.startsWith("read"))).toEqual(Array(4).fill("read 0+600"));
    await reader.stop();
  });

  test("a range the buffer holds whole is one read into the whole buffer", async () => {
    const data = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 251));
    const log: string[] = [];
    const { read } = readsOf(data, log);
    const reader = new HalvesReader(read, { offset: 50, length: 180 }, Buffer.alloc(180), ONCE);
    const got: Buffer[] = [];
    for await (const piece of reader.pieces()) got.push(Buffer.from(piece));
    expect(got.map((p) => p.length)).toEqual([180]);
    expect(Buffer.concat(got).equals(data.subarray(50, 230))).toBe(true);
    expect(log).toEqual(["read 50+180", "landed 50+180"]);
  });

  // AbortSignal.any keeps an entry on the run's long-lived signal for every signal combined
  // with it (Node 20: about 58 B each, never pruned): one a part streamed, for the whole run.
  test("the run's stop gives up the read's retries; a reader stopped leaves nothing on the run's signal", async () => {
    const any = vi.spyOn(AbortSignal, "any");
    const run = new AbortController();
    const log: string[] = [];
    // Every read breaks at once: the reader waits between attempts, until the run stops.
    const { read } = readsOf(Buffer.alloc(600, 4), log, () => 0);
    const reader = new HalvesReader(read, { offset: 0, length: 600 }, Buffer.alloc(200), {
      attempts: 1_000,
      baseDelayMs: 5,
      signal: run.signal,
    });
    const body = reader.pieces().next();
    while (log.length < 2) await turn();
    run.abort(new Error("stopped by the user"));
    await expect(body).rejects.toBeDefined();
    const attempts = log.filter((l) => l.startsWith("read")).length;
    expect(attempts).toBeLessThan(1_000);
    await reader.stop();
    expect(log.filter((l) => l.startsWith("read"))).toHaveLength(attempts);

    // Readers of one run each listen on its signal while they read, and not once stopped.
    const runSignal = new AbortController().signal;
    // As a run's own signal is (runSync, runWorkflowLocally): many listeners by design.
    setMaxListeners(0, runSignal);
    const readers = Array.from(
      { length: 20 },
      () =>
        new HalvesReader(read, { offset: 0, length: 100 }, Buffer.alloc(200), { ...ONCE, signal: runSignal }),
    );
    expect(getEventListeners(runSignal, "abort")).toHaveLength(20);
    await Promise.all(readers.map((r) => r.stop()));
    expect(getEventListeners(runSignal, "abort")).toHaveLength(0);
    expect(any).not.toHaveBeenCalled();
  });
});
