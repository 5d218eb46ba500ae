import type { MemoryBudget } from "@chunksync/core";
import { MemoryObjectStore } from "@chunksync/storage";
import type { ObjectResult } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { seededBytes } from "../../support/data.js";
import { BufferedPartsStore, bytesOf, syncWith, workflowWith } from "../../support/stores.js";

const MiB = 1024 * 1024;
/** The chunk size the engines run with in tests (see `commonOptions`), and their concurrency. */
const CHUNK = 5 * MiB;
const CONCURRENCY = 4;

/** Room for two of the tests' chunks, and not three: half of what four requests would hold. */
const TWO_CHUNKS: MemoryBudget = { bytes: 2 * CHUNK + MiB, strict: true, of: "the test's budget" };

/** Writes `data` by multipart upload: its ETag is no MD5, so a copy of it is sent in parts read whole. */
async function putInParts(store: MemoryObjectStore, key: string, data: Buffer): Promise<void> {
  const upload = await store.createUpload(key, { metadata: {} });
  const parts = [];
  for (let offset = 0, n = 1; offset < data.length; offset += CHUNK, n++)
    parts.push(
      await upload.uploadPart(
        n,
        data.subarray(offset, offset + CHUNK),
        Math.min(CHUNK, data.length - offset),
      ),
    );
  await upload.complete(parts, { ifNoneMatch: "*" });
}

async function put(store: MemoryObjectStore, key: string, data: Buffer): Promise<void> {
  await store.put(key, data, data.length, { metadata: {} }, { ifNoneMatch: "*" });
}

/** An object of six chunks with one byte changed in each: every chunk is a part assembled in memory. */
function everyChunkEdited(data: Buffer): Buffer {
  const edited = Buffer.from(data);
  for (let offset = MiB; offset < edited.length; offset += CHUNK)
    edited[offset] = (edited[offset] ?? 0) ^ 0xff;
  return edited;
}

const engines = [
  ["direct", syncWith],
  ["workflow", workflowWith],
] as const;

describe("parts read into memory stay within the run's memory budget", () => {
  const copied = seededBytes("budget-copied", 6 * CHUNK);
  const old = seededBytes("budget-old", 6 * CHUNK);
  const edited = everyChunkEdited(old);

  /** Two objects, each of six parts read whole: one copied from the source, one assembled from its old bytes. */
  async function stores() {
    const source = new MemoryObjectStore({ bucket: "src" });
    const destination = new BufferedPartsStore({ bucket: "dst" });
    await putInParts(source, "copied", copied);
    await put(source, "edited", edited);
    await put(destination, "edited", old);
    return { source, destination };
  }

  async function expectSynced(destination: MemoryObjectStore, results: ObjectResult[]) {
    expect(results.map((r) => [r.destinationKey, r.applied, r.error])).toEqual(
      expect.arrayContaining([
        ["copied", true, undefined],
        ["edited", true, undefined],
      ]),
    );
    expect((await bytesOf(destination, "copied")).equals(copied)).toBe(true);
    expect((await bytesOf(destination, "edited")).equals(edited)).toBe(true);
  }

  for (const [engine, sync] of engines) {
    it(`holds as many chunk buffers at once as the budget has room for, across objects (${engine})`, async () => {
      const { source, destination } = await stores();
      const { results } = await sync(source, destination, { memory: TWO_CHUNKS });
      await expectSynced(destination, results);
      expect(destination.most).toBe(2);
      expect(destination.mostBytes).toBeLessThanOrEqual(TWO_CHUNKS.bytes);
    });

    it(`holds one per request in flight within the default budget, as before (${engine})`, async () => {
      const { source, destination } = await stores();
      const { results } = await sync(source, destination);
      await expectSynced(destination, results);
      expect(destination.most).toBe(CONCURRENCY);
      expect(destination.mostBytes).toBe(CONCURRENCY * CHUNK);
    });

    it(`fails an object whose one chunk passes a strict budget before its write, the others synced (${engine})`, async () => {
      const source = new MemoryObjectStore({ bucket: "src" });
      const destination = new MemoryObjectStore({ bucket: "dst" });
      await putInParts(source, "copied", copied);
      // Streamed through a buffer of its own size, well within the budget.
      await put(source, "small", Buffer.from("small"));
      const { results } = await sync(source, destination, {
        memory: { bytes: 4 * MiB, strict: true, of: "the test's budget" },
      });
      const failed = results.find((r) => r.destinationKey === "copied");
      expect(failed?.error?.code).toBe("MEMORY_BUDGET");
      expect(failed?.error?.message).toContain(`copied: its chunks of 5.0 MiB (${CHUNK} bytes)`);
      expect(failed?.error?.message).toContain("only 4.0 MiB (4194304 bytes)");
      expect(results.find((r) => r.destinationKey === "small")).toMatchObject({ applied: true });
      expect(destination.calls("createUpload")).toBe(0);
      expect(destination.calls("uploadPart")).toBe(0);
      expect(await destination.head("copied")).toBeUndefined();
    });

    it(`streams an object whose ETag is no MD5 in signed chunks through one chunk's buffer where a strict budget has no room for two (${engine})`, async () => {
      const source = new MemoryObjectStore({ bucket: "src" });
      const destination = new MemoryObjectStore({ bucket: "dst" });
      await putInParts(source, "copied", copied);
      const { results } = await sync(source, destination, {
        memory: { bytes: CHUNK + MiB, strict: true, of: "the test's budget" },
      });
      expect(results).toEqual([expect.objectContaining({ destinationKey: "copied", applied: true })]);
      expect((await bytesOf(destination, "copied")).equals(copied)).toBe(true);
      expect([destination.calls("put"), destination.calls("createUpload")]).toEqual([1, 0]);
    });

    it(`fails a streamed object whose chunk's buffer passes a strict budget before its write; a smaller one goes through a buffer its size (${engine})`, async () => {
      const source = new MemoryObjectStore({ bucket: "src" });
      const destination = new MemoryObjectStore({ bucket: "dst" });
      // Written in one request: its ETag is its MD5, so it is streamed into one PutObject.
      await put(source, "streamed", seededBytes("budget-streamed", CHUNK + MiB));
      await put(source, "small", seededBytes("budget-small", 3 * MiB));
      const { results } = await sync(source, destination, {
        memory: { bytes: 4 * MiB, strict: true, of: "the test's budget" },
      });
      const failed = results.find((r) => r.destinationKey === "streamed");
      expect(failed?.error?.code).toBe("MEMORY_BUDGET");
      expect(results.find((r) => r.destinationKey === "small")).toMatchObject({ applied: true });
      expect(destination.calls("put")).toBe(1);
      expect(await destination.head("streamed")).toBeUndefined();
    });
  }
});
