import { createHash } from "node:crypto";
import type { BodySink } from "@chunksync/storage";
import { describe, expect, test } from "vitest";
import { HalvesReader } from "../../../packages/sync/src/phases/readInHalves.js";

const ONCE = { attempts: 1, baseDelayMs: 1 };
const RETRIED = { attempts: 4, baseDelayMs: 1 };

/** A range read from `data` that lands on the next turn of the event loop, as a socket's would. */
function readsOf(data: Buffer, log: string[]) {
  return async (range: { offset: number; length: number }, sink: BodySink) => {
    log.push(`read ${range.offset}+${range.length}`);
    await new Promise((resolve) => setImmediate(resolve));
    const bytes = data.subarray(range.offset, range.offset + range.length);
    bytes.copy(sink.into!);
    sink.piece?.(sink.into!.subarray(0, bytes.length));
    log.push(`landed ${range.offset}`);
  };
}

describe("HalvesReader", () => {
  test("hands over the range in order, in pieces of half the buffer, each intact until the next is asked for", async () => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) % 251));
    const log: string[] = [];
    const hash = createHash("sha256");
    const reader = new HalvesReader(
      readsOf(data, log),
      { offset: 100, length: 750 },
      Buffer.alloc(201),
      ONCE,
      (b) => hash.update(b),
    );
    const got: Buffer[] = [];
    for await (const piece of reader.pieces()) {
      const copy = Buffer.from(piece);
      // The next read is under way while this piece is with the consumer, in the other half.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      expect(piece.equals(copy)).toBe(true);
      got.push(copy);
    }
    expect(got.map((p) => p.length)).toEqual([100, 100, 100, 100, 100, 100, 100, 50]);
    expect(Buffer.concat(got).equals(data.subarray(100, 850))).toBe(true);
    expect(hash.digest().equals(createHash("sha256").update(data.subarray(100, 850)).digest())).toBe(true);
    // Each read after the first starts before the piece before it is handed over: they overlap.
    expect(log.slice(0, 4)).toEqual(["read 100+100", "landed 100", "read 200+100", "landed 200"]);
  });

  test("a read that fails fails the body, is kept as the failure, and leaves nothing landing once stopped", async () => {
    const log: string[] = [];
    const data = Buffer.alloc(400, 1);
    const reads = readsOf(data, log);
    const broken = Object.assign(new Error("cut"), { code: "ECONNRESET" });
    const reader = new HalvesReader(
      async (range, sink) => {
        if (range.offset >= 200) throw broken;
        await reads(range, sink);
      },
      { offset: 0, length: 400 },
      Buffer.alloc(200),
      ONCE,
    );
    const body = reader.pieces();
    expect((await body.next()).value?.length).toBe(100);
    expect((await body.next()).value?.length).toBe(100);
    await expect(body.next()).rejects.toBe(broken);
    expect(reader.failure).toBe(broken);
    await reader.stop();
  });

  test("a consumer that gives up mid-way: stop settles once the read under way has landed", async () => {
    const log: string[] = [];
    const reader = new HalvesReader(
      readsOf(Buffer.alloc(1000, 2), log),
      { offset: 0, length: 1000 },
      Buffer.alloc(200),
      ONCE,
    );
    const body = reader.pieces();
    await body.next();
    // The second read is under way; the consumer stops without asking for it.
    await body.return(undefined);
    await reader.stop();
    expect(log.at(-1)).toBe("landed 100");
    expect(reader.failure).toBeUndefined();
  });

  test("a half's read that breaks mid-way is read again on its own: the pieces and their hash are those of the range", async () => {
    const data = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 13) % 251));
    const log: string[] = [];
    const reads = readsOf(data, log);
    let broke = false;
    const hash = createHash("sha256");
    const reader = new HalvesReader(
      async (range, sink) => {
        if (range.offset === 200 && !broke) {
          broke = true;
          // Half of the range lands, then the connection breaks.
          sink.into!.fill(0xaa, 0, 50);
          sink.piece?.(sink.into!.subarray(0, 50));
          throw Object.assign(new Error("reset"), { code: "ECONNRESET" });
        }
        await reads(range, sink);
      },
      { offset: 0, length: 600 },
      Buffer.alloc(200),
      RETRIED,
      (b) => hash.update(b),
    );
    const got: Buffer[] = [];
    for await (const piece of reader.pieces()) got.push(Buffer.from(piece));
    expect(broke).toBe(true);
    expect(Buffer.concat(got).equals(data)).toBe(true);
    expect(hash.digest().equals(createHash("sha256").update(data).digest())).toBe(true);
    expect(reader.failure).toBeUndefined();
  });

  test("a range the buffer holds whole is one read into the whole buffer", async () => {
    const data = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 251));
    const log: string[] = [];
    const reader = new HalvesReader(readsOf(data, log), { offset: 50, length: 180 }, Buffer.alloc(180), ONCE);
    const got: Buffer[] = [];
    for await (const piece of reader.pieces()) got.push(Buffer.from(piece));
    expect(got.map((p) => p.length)).toEqual([180]);
    expect(Buffer.concat(got).equals(data.subarray(50, 230))).toBe(true);
    expect(log).toEqual(["read 50+180", "landed 50"]);
  });
});
