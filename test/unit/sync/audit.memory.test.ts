import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seededRandom } from "@chunksync/core";
import { AccessDeniedError, MemoryBuckets, MemoryObjectStore } from "@chunksync/storage";
import { type AuditOptions, DirectoryIndexLocation, IndexCursor, runAudit, runScrub } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { scrubText } from "../../../packages/cli/src/auditRun.js";
import { auditExitCode, scrubExitCode } from "../../../packages/cli/src/exitCodes.js";
import { seededBytes } from "../../support/data.js";
import { memoryIndexes, unconsulted } from "../../support/indexes.js";
import { bytesOf, syncWith } from "../../support/stores.js";

const MiB = 1024 * 1024;
const secret = Buffer.from(Array.from({ length: 32 }, (_, i) => 3 + i));

function setup() {
  let now = Date.UTC(2026, 0, 1);
  const clock = () => new Date(now);
  const buckets = new MemoryBuckets();
  const source = new MemoryObjectStore({ bucket: "src", buckets, now: clock });
  const destination = new MemoryObjectStore({ bucket: "dst", buckets, now: clock });
  /** Rot at rest: the stored bytes change, the ETag and LastModified do not. */
  const rot = (key: string, offset: number, bucket = "dst") => {
    const stored = buckets.get(bucket)!.objects.get(key)!;
    stored.data[offset]! ^= 0xff;
  };
  const audit = (overrides: Partial<AuditOptions> = {}) =>
    runAudit({
      source,
      sourcePrefix: "",
      destination,
      destinationPrefix: "",
      secret,
      sample: { kind: "full" },
      rangeSize: MiB,
      concurrency: 4,
      filters: [],
      ...overrides,
    });
  const pass = (ms: number) => {
    now += ms;
  };
  return { source, destination, rot, audit, pass };
}

async function put(store: MemoryObjectStore, key: string, data: Buffer) {
  await store.put(key, data, data.length, { metadata: {} }, undefined);
}

describe("audit on in-memory stores", () => {
  const big = seededBytes("big", 6 * MiB + 10);

  it("identical sides: every sampled range equal, each side reads exactly the sampled bytes", async () => {
    const { source, destination, audit } = setup();
    for (const store of [source, destination]) {
      await put(store, "a", big);
      await put(store, "b", seededBytes("b", 100));
    }
    const report = await audit({ sample: { kind: "count", count: 3 }, random: seededRandom("x") });
    expect(report.ranges).toEqual({ sampled: 3, equal: 3, differs: 0, missing: 0 });
    expect(report.differences).toEqual([]);
    expect(report.bytes.sourceRead).toBe(report.bytes.sampled);
    expect(report.bytes.destinationRead).toBe(report.bytes.sampled);
    expect(report.unseen[1]).toEqual({ fraction: 0.01, probability: 0.99 ** 3 });
  });

  it("names the rotted range, a shorter destination and the ranges past its end, and a missing object", async () => {
    const { source, destination, rot, audit } = setup();
    await put(source, "a", big);
    await put(destination, "a", big);
    await put(source, "c", big);
    await put(destination, "c", big.subarray(0, 3 * MiB));
    await put(source, "d", seededBytes("d", 10));
    rot("a", 5 * MiB + 3);
    const report = await audit();
    expect(report.differences).toEqual([
      { key: "a", offset: 5 * MiB, length: MiB, status: "differs" },
      { key: "c", destinationSize: 3 * MiB, status: "size" },
      { key: "c", offset: 3 * MiB, length: MiB, status: "missing" },
      { key: "c", offset: 4 * MiB, length: MiB, status: "missing" },
      { key: "c", offset: 5 * MiB, length: MiB, status: "missing" },
      { key: "c", offset: 6 * MiB, length: 10, status: "missing" },
      { key: "d", status: "missing" },
    ]);
    expect(report.objects).toMatchObject({ listed: 3, sampled: 2, missing: 1, resized: 1, failed: 0 });
  });
});

describe("audit: what is drawn, and the chance stated for it", () => {
  const big = seededBytes("big", 6 * MiB + 10);
  const unseen = (k: number) =>
    [0.001, 0.01, 0.1].map((fraction) => ({ fraction, probability: (1 - fraction) ** k }));
  const zero = [0.001, 0.01, 0.1].map((fraction) => ({ fraction, probability: 0 }));

  it.each(["one", "two", "three", "four", "five"])(
    "1%% of a bucket of fewer ranges than 1 / 1%% still draws one, and finds a destination that differs (seed %s)",
    async (seed) => {
      const { source, destination, audit } = setup();
      // 10 objects, 12 MiB in all: 20 ranges of 1 MiB, every one of them other bytes on the destination.
      for (let i = 0; i < 10; i++) {
        await put(source, `o${i}`, seededBytes(`o${i}`, Math.floor(1.2 * MiB)));
        await put(destination, `o${i}`, seededBytes(`o${i}!`, Math.floor(1.2 * MiB)));
      }
      const report = await audit({
        sample: { kind: "fraction", fraction: 0.01 },
        random: seededRandom(seed),
      });
      expect(report.ranges).toEqual({ sampled: 1, equal: 0, differs: 1, missing: 0 });
      expect(report.objects).toMatchObject({ listed: 10, sampled: 1 });
      expect(report.unseen).toEqual(unseen(1));
      expect(report.everyRangeRead).toBe(false);
      expect(auditExitCode(report)).toBe(1);
    },
  );

  it("a full audit reads every range: nothing could have gone unseen", async () => {
    const { source, destination, audit } = setup();
    for (const store of [source, destination]) {
      await put(store, "a", big);
      await put(store, "b", seededBytes("b", 100));
    }
    const full = await audit();
    expect(full.ranges).toEqual({ sampled: 8, equal: 8, differs: 0, missing: 0 });
    expect(full.everyRangeRead).toBe(true);
    expect(full.unseen).toEqual(zero);
    // A count as large as the listing reads every range too.
    const all = await audit({ sample: { kind: "count", count: 50 }, random: seededRandom("all") });
    expect(all.ranges.sampled).toBe(8);
    expect(all.everyRangeRead).toBe(true);
    expect(all.unseen).toEqual(zero);
  });

  it("an audit that read nothing claims nothing, even in full", async () => {
    const { source, audit } = setup();
    await put(source, "gone", seededBytes("gone", 10));
    const report = await audit();
    expect(report.ranges.sampled).toBe(0);
    expect(report.everyRangeRead).toBe(false);
    expect(report.unseen).toEqual(unseen(0));
  });

  it("a full audit that could not read an object states the chance for the ranges it read", async () => {
    const { source, destination, audit } = setup();
    for (const store of [source, destination]) {
      await put(store, "a", big);
      await put(store, "b", seededBytes("b", 100));
    }
    destination.failNext("read", new AccessDeniedError({ operation: "read", bucket: "dst" }));
    const report = await audit();
    expect(report.objects.failed).toBe(1);
    expect(report.ranges.sampled).toBeLessThan(8);
    expect(report.everyRangeRead).toBe(false);
    expect(report.unseen).toEqual(unseen(report.ranges.sampled));
  });
});

/**
 * "a" and "b" (1000 bytes each) synced with both sides' indexes, and time moved on so their
 * entries stand; returns the destination's index.
 */
async function syncedPair({ source, destination, pass }: ReturnType<typeof setup>) {
  await put(source, "a", seededBytes("a", 1000));
  await put(source, "b", seededBytes("b", 1000));
  const { source: sourceIndex, destination: destinationIndex } = memoryIndexes(secret);
  pass(2000);
  await syncWith(source, destination, {
    secret,
    index: { source: sourceIndex, destination: destinationIndex },
  });
  pass(2000);
  return destinationIndex;
}

/** A full scrub of `store`, one object at a time. */
function scrubOneAtATime(
  store: MemoryObjectStore,
  index: Awaited<ReturnType<typeof syncedPair>>,
  signal?: AbortSignal,
) {
  return runScrub({
    store,
    prefix: "",
    index,
    sample: { kind: "full" },
    concurrency: 1,
    ...(signal ? { signal } : {}),
  });
}

/** "a" (`data`) and "b" synced with both indexes, then the stored bytes of "a" in `bucket` rotted at `offset`. */
async function rottedAfterSync(data: Buffer, offset: number, bucket = "dst") {
  const world = setup();
  const { source, destination, rot, pass } = world;
  await put(source, "a", data);
  await put(source, "b", seededBytes("b", 1000));
  const { source: sourceIndex, destination: destinationIndex } = memoryIndexes(secret);
  const index = { source: sourceIndex, destination: destinationIndex };
  const sync = () => syncWith(source, destination, { secret, index });
  pass(2000);
  await sync();
  pass(2000);
  rot("a", offset, bucket);
  return { ...world, index, sync };
}

describe("scrub on in-memory stores", () => {
  it("finds the rotted chunk, drops its entry, and the next sync repairs the object", async () => {
    const big = seededBytes("big", 12 * MiB);
    const { destination, index, sync, pass } = await rottedAfterSync(big, 11 * MiB);
    expect((await sync()).objects.identical).toBe(2);

    // A count above the chunks there are draws every chunk, through the reservoir's second index pass.
    const scrub = () =>
      runScrub({
        store: destination,
        prefix: "",
        index: index.destination,
        sample: { kind: "count", count: 10 },
        concurrency: 2,
      });
    const found = await scrub();
    expect(found.rotted).toEqual([
      { key: "a", etag: expect.any(String), chunks: [{ index: 2, offset: 10 * MiB, length: 2 * MiB }] },
    ]);
    expect(found.chunks).toEqual({ sampled: 4, equal: 3, differs: 1 });
    expect(found.sample).toBe("10 chunks");
    expect(found.index).toMatchObject({ found: "loaded", marked: 1, written: 2 });
    expect(found.bytes.read).toBe(big.length + 1000);

    const repaired = await sync();
    expect(repaired.objects).toMatchObject({ changed: 1, identical: 1 });
    // Only the marked entry's object was read on the destination.
    expect(repaired.index?.destination).toMatchObject({ fromIndex: 1, read: 1 });
    pass(2000);
    const again = await scrub();
    expect(again.rotted).toEqual([]);
    expect(again.index.written).toBeUndefined();
  });

  it("a check --full whose filters pass over a rotted source keeps its mark and the other entries: the next sync still refuses to send it", async () => {
    const good = seededBytes("a", 2 * MiB);
    const { source, destination, index, sync, pass } = await rottedAfterSync(good, 100, "src");
    const scrub = await runScrub({
      store: source,
      prefix: "",
      index: index.source,
      sample: { kind: "full" },
      concurrency: 2,
    });
    expect(scrub.rotted.map((r) => r.key)).toEqual(["a"]);
    pass(2000);
    // `check --full --exclude a`: the indexes are rebuilt from what is read, `a` is passed over.
    const full = unconsulted(index);
    const checked = await syncWith(source, destination, {
      secret,
      index: full,
      dryRun: true,
      filters: [{ kind: "exclude", glob: "a" }],
    });
    expect(checked.objects).toMatchObject({ scanned: 1, identical: 1 });
    for (const side of ["source", "destination"] as const)
      expect(checked.index?.[side]).toMatchObject({ found: "loaded", fromIndex: 0, read: 1, written: 2 });
    pass(2000);
    const next = await sync();
    expect(next.results.find((r) => r.destinationKey === "a")?.error?.code).toBe("SOURCE_ROTTED");
    expect(next.index?.destination).toMatchObject({ fromIndex: 1, read: 0 });
    expect(next.bytes.sourceRead).toBe(0);
    expect(await bytesOf(destination, "a")).toEqual(good);
  });

  it("a scrub stopped part way reports what it found until then, and still drops the entries of the rotted objects", async () => {
    const world = setup();
    const { destination, rot } = world;
    const destinationIndex = await syncedPair(world);
    rot("a", 10);
    const stop = new AbortController();
    // The second object's read comes after the stop: the first was judged.
    destination.beforeNext("read", () => {});
    destination.beforeNext("read", () => stop.abort());
    const report = await scrubOneAtATime(destination, destinationIndex, stop.signal);
    expect(report.interrupted).toBe(true);
    expect(report.rotted.map((r) => r.key)).toEqual(["a"]);
    expect(report.objects).toMatchObject({ sampled: 1, rotted: 1, failed: 0 });
    expect(report.index).toMatchObject({ marked: 1, written: 2 });
    expect(report.everyChunkRead).toBe(false);
  });

  it("an index that cannot be rewritten: the rotted object is still named, with why its entry stays", async () => {
    const world = setup();
    const { destination, rot } = world;
    const destinationIndex = await syncedPair(world);
    rot("b", 10);
    // A location this side may read but no longer write.
    const readOnly = new (class extends DirectoryIndexLocation {
      override async write(): Promise<void> {
        throw new Error("EACCES: permission denied");
      }
    })((destinationIndex.location as DirectoryIndexLocation).directory);
    const report = await runScrub({
      store: destination,
      prefix: "",
      index: { ...destinationIndex, location: readOnly },
      sample: { kind: "full" },
      concurrency: 2,
    });
    expect(report.rotted.map((r) => r.key)).toEqual(["b"]);
    expect(report.index).toMatchObject({
      marked: 0,
      notMarked: { code: "UNEXPECTED", message: "EACCES: permission denied" },
    });
    expect(report.index.written).toBeUndefined();
    expect(scrubExitCode(report)).toBe(2);
  });

  it("marks only the version it judged: an entry a sync wrote meanwhile for a new version keeps no mark", async () => {
    const world = setup();
    const { source, destination, rot, pass } = world;
    const destinationIndex = await syncedPair(world);
    rot("a", 10);
    const { source: sourceIndex } = memoryIndexes(secret);
    // Once "a" is judged, another writer replaces it and a sync puts the source's bytes back: a new
    // version, whose entry the sync commits before the scrub rewrites the index.
    destination.beforeNext("read", () => {});
    destination.beforeNext("read", async () => {
      await put(destination, "a", seededBytes("a-other", 1000));
      pass(2000);
      await syncWith(source, destination, {
        secret,
        index: { source: sourceIndex, destination: destinationIndex },
      });
    });
    const report = await scrubOneAtATime(destination, destinationIndex);
    expect(report.rotted.map((r) => r.key)).toEqual(["a"]);
    expect(report.index).toMatchObject({ marked: 0, written: 2 });
    const cursor = await IndexCursor.open(destinationIndex.location, destinationIndex.scope);
    const entry = await cursor.find("a");
    expect(entry?.etag).toBe((await destination.head("a"))?.etag);
    expect(entry?.rotted).toBeUndefined();
  });

  it("a full scrub that reads a marked object whole as indexed (repaired below the S3 API) clears its mark", async () => {
    const world = setup();
    const { destination, rot } = world;
    const destinationIndex = await syncedPair(world);
    rot("a", 10);
    expect((await scrubOneAtATime(destination, destinationIndex)).index).toMatchObject({
      marked: 1,
      cleared: 0,
    });
    // A sample that draws no chunk of it, or finds it rotted still, keeps the mark.
    expect((await scrubOneAtATime(destination, destinationIndex)).index).toMatchObject({
      marked: 1,
      cleared: 0,
    });
    rot("a", 10);
    const healed = await scrubOneAtATime(destination, destinationIndex);
    expect(healed.rotted).toEqual([]);
    expect(healed.index).toMatchObject({ marked: 0, cleared: 1, written: 2 });
    const cursor = await IndexCursor.open(destinationIndex.location, destinationIndex.scope);
    expect((await cursor.find("a"))?.rotted).toBeUndefined();
    expect(scrubText(healed, "s3://dst", false)).toContain(
      "1 object marked rotted before now read as indexed, every chunk: its mark is cleared",
    );
  });

  it("in a bucket that keeps versions, judges only an entry of the version listed: another version of the same bytes is neither marked nor cleared through it", async () => {
    let now = Date.UTC(2026, 0, 1);
    const clock = () => new Date(now);
    const buckets = new MemoryBuckets();
    const source = new MemoryObjectStore({ bucket: "src", buckets, now: clock });
    const destination = new MemoryObjectStore({ bucket: "dst", buckets, now: clock, versioned: true });
    const data = seededBytes("versions", 1000);
    await put(source, "a", data);
    const { source: sourceIndex, destination: destinationIndex } = memoryIndexes(secret);
    now += 2000;
    const sync = () =>
      syncWith(source, destination, {
        secret,
        index: { source: sourceIndex, destination: destinationIndex },
      });
    await sync();
    now += 2000;
    // A second run lists the version written: its entry learns its version ID.
    await sync();
    now += 2000;
    const full = () => scrubOneAtATime(destination, destinationIndex);
    // The same bytes again: a new version, with the ETag of the one indexed, and that one rots.
    await put(destination, "a", data);
    buckets.get("dst")!.objects.get("a")!.data[10]! ^= 0xff;
    const other = await full();
    expect(other.objects).toMatchObject({ listed: 1, indexed: 0, rotted: 0 });
    expect(other.index).toMatchObject({ marked: 0 });
    const cursor = await IndexCursor.open(destinationIndex.location, destinationIndex.scope);
    expect((await cursor.find("a"))?.rotted).toBeUndefined();
  });

  it("an object rewritten under the scrub is neither rot nor counted among the chunks sampled", async () => {
    const world = setup();
    const { destination } = world;
    const destinationIndex = await syncedPair(world);
    // Another writer replaces "a" just before the scrub reads it.
    destination.beforeNext("read", () => put(destination, "a", seededBytes("a2", 1000)));
    const report = await scrubOneAtATime(destination, destinationIndex);
    expect(report.rotted).toEqual([]);
    expect(report.objects).toMatchObject({ indexed: 2, sampled: 1, rotted: 0, failed: 0 });
    expect(report.chunks).toEqual({ sampled: 1, equal: 1, differs: 0 });
    expect(report.bytes.sampled).toBe(1000);
    // Not every chunk indexed was read: the chance stated is the sample's.
    expect(report.everyChunkRead).toBe(false);
    expect(report.unseen[2]!.probability).toBeCloseTo(0.9);
    // And the scrub says why an object it drew went unjudged.
    expect(report.index.notes).toContain(
      "1 object was written anew while the scrub read it (a new version, not rot): not judged",
    );
  });

  it.each(["one", "two", "three"])(
    "1%% of an index of fewer chunks than 1 / 1%% still draws one, and finds the rot (seed %s)",
    async (seed) => {
      const world = setup();
      const { destination, rot } = world;
      const destinationIndex = await syncedPair(world);
      rot("a", 10);
      rot("b", 10);
      const report = await runScrub({
        store: destination,
        prefix: "",
        index: destinationIndex,
        sample: { kind: "fraction", fraction: 0.01 },
        concurrency: 2,
        random: seededRandom(seed),
      });
      expect(report.chunks).toEqual({ sampled: 1, equal: 0, differs: 1 });
      expect(report.objects).toMatchObject({ indexed: 2, sampled: 1, rotted: 1 });
      expect(report.unseen.map((u) => u.probability)).toEqual([0.999, 0.99, 0.9]);
      expect(report.everyChunkRead).toBe(false);
      expect(scrubExitCode(report)).toBe(1);
    },
  );

  it("a full scrub reads every chunk: nothing could have gone unseen", async () => {
    const world = setup();
    const destinationIndex = await syncedPair(world);
    const report = await runScrub({
      store: world.destination,
      prefix: "",
      index: destinationIndex,
      sample: { kind: "full" },
      concurrency: 2,
    });
    expect(report.chunks).toEqual({ sampled: 2, equal: 2, differs: 0 });
    expect(report.everyChunkRead).toBe(true);
    expect(report.unseen).toEqual([0.001, 0.01, 0.1].map((fraction) => ({ fraction, probability: 0 })));
  });

  it("reads nothing without an index", async () => {
    const { destination } = setup();
    await put(destination, "a", seededBytes("a", 10));
    const dir = mkdtempSync(join(tmpdir(), "scrub-"));
    const report = await runScrub({
      store: destination,
      prefix: "",
      index: {
        location: new DirectoryIndexLocation(join(dir, "none")),
        scope: {
          storage: "memory",
          bucket: "dst",
          prefix: "",
          chunkSize: 5 * MiB,
          algorithm: "sha256",
          pairing: "x",
        },
      },
      sample: { kind: "full" },
      concurrency: 2,
    });
    expect(report.index.found).toBe("absent");
    expect(report.objects.listed).toBe(0);
    expect(report.bytes.read).toBe(0);
  });
});

describe("scrub and an index piece it cannot read", () => {
  /** A full scrub of a synced pair's destination, "b" rotted, its index read through `reading`, which sees each piece's bytes. */
  async function scrubReading(reading: (data: Buffer) => Buffer) {
    const world = setup();
    const { destination, rot } = world;
    const destinationIndex = await syncedPair(world);
    rot("b", 10);
    const directory = (destinationIndex.location as DirectoryIndexLocation).directory;
    const location = new (class extends DirectoryIndexLocation {
      override async read(name: string, most?: number): Promise<Buffer | undefined> {
        const data = await super.read(name, most);
        return data !== undefined && name.endsWith(".jsonl") ? reading(data) : data;
      }
    })(directory);
    return runScrub({
      store: destination,
      prefix: "",
      index: { ...destinationIndex, location },
      sample: { kind: "full" },
      concurrency: 2,
    });
  }

  it("a piece that fails to read (not damaged: the next sync may read it) leaves its objects unjudged: an error, not a clean scrub", async () => {
    const report = await scrubReading(() => {
      throw new Error("ECONNRESET");
    });
    expect(report.objects).toMatchObject({ listed: 2, indexed: 0, rotted: 0 });
    expect(report.index.unread).toEqual([
      { piece: expect.stringMatching(/\.jsonl$/), objects: 2, code: "UNEXPECTED", message: "ECONNRESET" },
    ]);
    expect(scrubExitCode(report)).toBe(2);
    // A scrub reads no object of a piece it dropped, and says so.
    expect(report.index.notes).toEqual([
      expect.stringMatching(/its objects \(2\) go unchecked by this scrub$/),
    ]);
  });

  it("a damaged piece leaves its objects unjudged too: an error, not a clean scrub of nothing", async () => {
    const report = await scrubReading((data) => {
      data[data.length - 5]! ^= 1;
      return data;
    });
    expect(report.objects).toMatchObject({ listed: 2, indexed: 0, rotted: 0 });
    expect(report.index.unread).toEqual([
      {
        piece: expect.stringMatching(/\.jsonl$/),
        objects: 2,
        code: "INDEX_DAMAGED",
        message: expect.stringContaining("does not match its checksum"),
      },
    ]);
    expect(scrubExitCode(report)).toBe(2);
  });
});
