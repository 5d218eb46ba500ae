import { MemoryObjectStore, StorageUnavailableError } from "@chunksync/storage";
import { RunStats } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { seededBytes } from "../../support/data.js";
import { bytesOf, syncWith } from "../../support/stores.js";

const MiB = 1024 * 1024;
/** Over the tests' 5 MiB chunk: a new object streamed into one PutObject. */
const data = seededBytes("live-sent", 12 * MiB);

/**
 * A destination whose PutObject reads the body whole, then runs `afterBody` (the run's counters
 * are looked at while the object is not yet stored) and fails its first `failures` puts.
 */
class HeldPutStore extends MemoryObjectStore {
  afterBody: (() => void) | undefined;
  failures = 0;

  override async put(...args: Parameters<MemoryObjectStore["put"]>): Promise<{ etag: string }> {
    const [key, body, ...rest] = args;
    const pieces: Buffer[] = [];
    // Each piece is a view of a buffer the next read lands in again: copied as it comes.
    if (Buffer.isBuffer(body)) pieces.push(body);
    else for await (const piece of body) pieces.push(Buffer.from(piece as Buffer));
    this.afterBody?.();
    if (this.failures > 0) {
      this.failures--;
      throw new StorageUnavailableError({ operation: "PutObject", bucket: this.bucket, key }, "injected");
    }
    return super.put(key, Buffer.concat(pieces), ...rest);
  }
}

async function setup() {
  const source = new MemoryObjectStore({ bucket: "src" });
  const destination = new HeldPutStore({ bucket: "dst" });
  await source.put("k", data, data.length, { metadata: {} }, { ifNoneMatch: "*" });
  const stats = new RunStats();
  const seen: Array<{ sending: number; transferred: number }> = [];
  destination.afterBody = () => seen.push({ sending: stats.sending, transferred: stats.bytes.transferred });
  return { source, destination, stats, seen };
}

describe("a streamed object's body counted as sent as it goes (the status line's live figure)", () => {
  it("is counted while its PUT is under way, and as transferred, once, when stored", async () => {
    const { source, destination, stats, seen } = await setup();
    const report = await syncWith(source, destination, { stats });
    expect(report.results[0]).toMatchObject({ state: "missing", applied: true });
    // The whole body was handed over before the server stored it: sent, not yet transferred.
    expect(seen).toEqual([{ sending: data.length, transferred: 0 }]);
    expect(stats.sending).toBe(0);
    expect(stats.bytes.transferred).toBe(data.length);
    expect((await bytesOf(destination, "k")).equals(data)).toBe(true);
  });

  it("takes back what a failed attempt handed over: the retry counts from nothing again", async () => {
    const { source, destination, stats, seen } = await setup();
    destination.failures = 1;
    await syncWith(source, destination, { stats });
    expect(seen).toEqual([
      { sending: data.length, transferred: 0 },
      { sending: data.length, transferred: 0 },
    ]);
    expect(stats.sending).toBe(0);
    expect(stats.bytes.transferred).toBe(data.length);
    expect((await bytesOf(destination, "k")).equals(data)).toBe(true);
  });
});
