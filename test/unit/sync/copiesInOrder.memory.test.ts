import type { ByteRange } from "@chunksync/storage";
import { MemoryObjectStore } from "@chunksync/storage";
import { describe, expect, it } from "vitest";
import { flipByte, seededBytes } from "../../support/data.js";
import { memoryIndexes, movableClock } from "../../support/indexes.js";
import { bytesOf, syncWith, uploadsInProgress } from "../../support/stores.js";

const MiB = 1024 * 1024;
/** The tests' chunk size (see `syncWith`). */
const CHUNK = 5 * MiB;
const old = seededBytes("in-order-old", 8 * CHUNK);
/** Chunk 2 edited: chunks 0-1 are one run of the old object's, ended by it. */
const edited = flipByte(old, 2 * CHUNK + 100);

/** A source whose read of the last chunk of "k" waits, once, for `hold` (its first such read). */
class HeldSource extends MemoryObjectStore {
  hold: (() => Promise<void>) | undefined;
  lastRead = false;

  override async read(key: string, range: ByteRange, etag: string, signal?: AbortSignal) {
    const hold = this.hold;
    if (key === "k" && range.offset === 7 * CHUNK && hold) {
      this.hold = undefined;
      await hold();
    }
    const body = await super.read(key, range, etag, signal);
    if (key === "k" && range.offset === 7 * CHUNK) this.lastRead = true;
    return body;
  }
}

async function put(store: MemoryObjectStore, key: string, data: Buffer): Promise<void> {
  await store.put(key, data, data.length, { metadata: {} }, { ifNoneMatch: "*" });
}

const secret = Buffer.alloc(32, 9);

/**
 * A source holding `edited`, a destination `old` synced from it with both sides' indexes (the
 * source's entry then no longer stands for its version: it most often changed), a run with those
 * indexes, and a promise of the destination's first part copy.
 */
async function setup() {
  const time = movableClock();
  const source = new HeldSource({ bucket: "src", now: time.now });
  const destination = new MemoryObjectStore({ bucket: "dst", now: time.now });
  const index = memoryIndexes(secret);
  const run = () => syncWith(source, destination, { secret, index });
  await put(source, "k", old);
  time.pass(2000);
  await run();
  time.pass(2000);
  await source.delete("k");
  await put(source, "k", edited);
  time.pass(2000);
  source.lastRead = false;
  let copied = () => {};
  const firstCopy = new Promise<void>((resolve) => {
    copied = resolve;
  });
  let copiedBeforeLastRead: boolean | undefined;
  destination.beforeNext("copyPart", () => {
    copiedBeforeLastRead = !source.lastRead;
    copied();
  });
  return { source, destination, run, firstCopy, copiedBeforeLastRead: () => copiedBeforeLastRead };
}

describe("a changed object's chunks decided in order, where the source's index entry no longer stands", () => {
  it("copies the old object's unchanged run a changed chunk ended while its last chunk is still read", async () => {
    const { source, destination, run, firstCopy, copiedBeforeLastRead } = await setup();
    // The last chunk's read waits for the first copy: with copies only after every chunk was
    // challenged, the run would never end (and the test time out).
    source.hold = () => firstCopy;
    const report = await run();
    expect(copiedBeforeLastRead()).toBe(true);
    expect(report.results[0]).toMatchObject({
      state: "changed",
      action: "compose",
      applied: true,
      attempts: 1,
    });
    expect(report.results[0]?.chunks?.changed).toEqual([2]);
    expect((await bytesOf(destination, "k")).equals(edited)).toBe(true);
    // Chunks 0-1 and 3-7 copied in place, once each.
    expect(report.bytes.copiedServerSide).toBe(7 * CHUNK);
    expect(await uploadsInProgress(destination)).toBe(0);
  }, 60_000);

  it("aborts the upload its early copies went into where the source changes before its last chunk is read, and writes the new version", async () => {
    const { source, destination, run, firstCopy } = await setup();
    const newer = flipByte(edited, 7 * CHUNK + 5);
    source.hold = async () => {
      await firstCopy;
      // Another writer replaces the source while the run reads it: the pinned read fails.
      await source.delete("k");
      await put(source, "k", newer);
    };
    const report = await run();
    expect(report.results[0]).toMatchObject({ state: "changed", applied: true, attempts: 2 });
    expect((await bytesOf(destination, "k")).equals(newer)).toBe(true);
    // The second attempt's copies alone are counted: chunks 0-1 and 3-6 in place.
    expect(report.bytes.copiedServerSide).toBe(6 * CHUNK);
    expect(await uploadsInProgress(destination)).toBe(0);
  }, 60_000);
});
