import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  AccessDeniedError,
  MemoryBuckets,
  MemoryObjectStore,
  PreconditionFailedError,
  StorageUnavailableError,
} from "@chunksync/storage";
import {
  DISTRUSTED_NOTE,
  IndexCursor,
  IndexWriter,
  type ObjectResult,
  type RunReport,
  runScrub,
  runSync,
  type SyncOptions,
  VERSIONS_UNLISTED_NOTE,
} from "@chunksync/sync";
import { MemoryWorkArea, syncWithWorkflow } from "@chunksync/workflow";
import { describe, expect, it } from "vitest";
import { afterAnswers } from "../../support/afterAnswers.js";
import { flipByte, seededBytes } from "../../support/data.js";
import { byKey, expectAsDirect, SAME_BYTES } from "../../support/engineParity.js";
import { memoryIndexes, movableClock, unconsulted } from "../../support/indexes.js";
import { collectResults } from "../../support/results.js";
import { bytesOf, UnlistedStore } from "../../support/stores.js";
import { syncOptionsFor } from "../../support/syncOptions.js";
import { FlowsWorkArea, objectRecordKinds, pageRecordsLeft } from "../../support/workflowRecords.js";

const MiB = 1024 * 1024;
const secret = Buffer.alloc(32, 9);

type Engine = "direct" | "workflow";
const engines: Record<Engine, (options: SyncOptions) => Promise<RunReport>> = {
  direct: runSync,
  workflow: syncWithWorkflow,
};

function setup({ versioned = false } = {}) {
  const time = movableClock();
  const buckets = { src: new MemoryBuckets(), dst: new MemoryBuckets() };
  const source = new UnlistedStore({ bucket: "src", now: time.now, buckets: buckets.src, versioned });
  const destination = new MemoryObjectStore({
    bucket: "dst",
    now: time.now,
    buckets: buckets.dst,
    versioned,
  });
  /** Rot at rest: a stored byte changes, the ETag and LastModified do not. */
  const rot = (bucket: "src" | "dst", key: string, offset: number) => {
    buckets[bucket].get(bucket)!.objects.get(key)!.data[offset]! ^= 0xff;
  };
  const { dir, source: sourceIndex, destination: destinationIndex } = memoryIndexes(secret);
  const index = { source: sourceIndex, destination: destinationIndex };
  // The runs reach the stores through these, where another writer can act just after an answer.
  const staging = { source: afterAnswers(source), destination: afterAnswers(destination) };
  const run = (engine: Engine = "workflow", overrides: Partial<SyncOptions> = {}) =>
    collectResults(
      engines[engine],
      syncOptionsFor(staging.source.store, staging.destination.store, secret, {
        chunkSize: 5 * MiB,
        concurrency: 4,
        index,
        ...overrides,
      }),
    );
  /**
   * Syncs twice, a moment apart: the copy, then the run that confirms the entries it wrote (a
   * HEAD each); from then on both sides' entries stand for every object.
   */
  const standing = async (engine: Engine = "workflow", overrides: Partial<SyncOptions> = {}) => {
    for (let i = 0; i < 2; i++) {
      time.pass(2000);
      await run(engine, overrides);
    }
  };
  return { time, source, destination, staging, dir, index, run, rot, standing };
}

/**
 * "a" (12 MiB) and "b" synced by `engine`, then "a" rotted on `side` below the S3 API and that
 * side's index scrubbed whole: the bytes written, the scrub's report, and whether the side's
 * stored index marks "a" rotted now.
 */
async function rottedPair(world: ReturnType<typeof setup>, engine: Engine, side: "source" | "destination") {
  const { time, source, destination, index, run, rot } = world;
  const data = seededBytes(`rot-${side}`, 12 * MiB);
  await put(source, "a", data);
  await put(source, "b", seededBytes("b", 1000));
  time.pass(2000);
  await run(engine);
  time.pass(2000);
  rot(side === "source" ? "src" : "dst", "a", 11 * MiB);
  const scrub = await runScrub({
    store: side === "source" ? source : destination,
    prefix: "",
    index: index[side],
    sample: { kind: "full" },
    concurrency: 2,
  });
  expect(scrub.rotted.map((r) => r.key)).toEqual(["a"]);
  const marked = async () =>
    (await (await IndexCursor.open(index[side].location, index[side].scope)).find("a"))?.rotted;
  return { data, scrub, marked };
}

/** The keys a side's index holds, in order. */
async function storedKeys(side: ReturnType<typeof setup>["index"]["source"]): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of (await IndexCursor.open(side.location, side.scope)).entries())
    keys.push(entry.key);
  return keys;
}

/**
 * A work area whose page challenges ask, as they are stored, of a source half their size, as a
 * forged shared record would: its chunk lies inside the destination's version.
 */
class RequestsHalved extends MemoryWorkArea {
  override async put(key: string, value: unknown): Promise<void> {
    if (!/\/page-decisions\/\d+\/challenges\.json$/.test(key)) return super.put(key, value);
    const challenges = value as { key: string; request: { plan: { size: number } } | null }[];
    const halved = challenges.map((c) => {
      if (c.request === null) return c;
      const size = Math.floor(c.request.plan.size / 2);
      return { ...c, request: { ...c.request, plan: { ...c.request.plan, size } } };
    });
    return super.put(key, halved);
  }
}

/** A work area whose page challenges lose their requests as they are stored, as a forged shared record would. */
class RequestsTakenOut extends MemoryWorkArea {
  taken = 0;
  override async put(key: string, value: unknown): Promise<void> {
    if (!/\/page-decisions\/\d+\/challenges\.json$/.test(key)) return super.put(key, value);
    const challenges = value as { key: string; request: unknown }[];
    this.taken += challenges.length;
    return super.put(
      key,
      challenges.map((c) => ({ ...c, request: null })),
    );
  }
}

async function put(store: MemoryObjectStore, key: string, data: Buffer) {
  await store.put(key, data, data.length, { metadata: {} }, undefined);
}

describe("the digest index under the workflow engine, on in-memory stores", () => {
  const big = seededBytes("wf-index-big", 12 * MiB);

  it("a second run over unchanged objects reads no byte on either side", async () => {
    const { time, source, run } = setup();
    await put(source, "a", big);
    await put(source, "b", seededBytes("b", 1000));
    time.pass(2000);
    const first = await run();
    expect(first.objects.missing).toBe(2);
    expect(first.index?.source).toMatchObject({ found: "absent", written: 2 });
    expect(first.index?.destination).toMatchObject({ found: "absent", written: 2 });
    time.pass(2000);
    const second = await run();
    expect(second.objects.identical).toBe(2);
    expect(second.bytes.sourceRead).toBe(0);
    expect(second.bytes.destinationRead).toBe(0);
    expect(second.index?.source).toMatchObject({ fromIndex: 2, read: 0, found: "loaded", written: 2 });
    expect(second.index?.destination).toMatchObject({ fromIndex: 2, read: 0, found: "loaded", written: 2 });
  });

  it.each(["encode", "decode"] as const)(
    "%s: pairs both indexes answer for are decided a page at a time, with no object flow of their own; a pair whose entries differ goes on to its flow and is rewritten; the results, counts and indexes are the direct engine's",
    async (variant) => {
      const reports: Record<Engine, RunReport & { results: ObjectResult[] }> = {} as never;
      for (const engine of ["direct", "workflow"] as const) {
        const { time, source, destination, run } = setup();
        const data = {
          a: seededBytes("page-a", 7 * MiB),
          b: seededBytes("page-b", 1000),
          c: seededBytes("page-c", 6 * MiB),
          empty: Buffer.alloc(0),
        };
        for (const [key, bytes] of Object.entries(data)) await put(source, key, bytes);
        time.pass(2000);
        await run(engine, { variant });
        time.pass(2000);
        // Entries of written versions need a HEAD once (decided with it: no object flow runs);
        // after it they stand as read ones.
        const heads = destination.calls("head");
        const confirming = new FlowsWorkArea();
        const confirmed = await run(engine, { variant, work: confirming } as Partial<SyncOptions>);
        expect(confirmed.objects).toMatchObject({ identical: 4 });
        expect(confirmed.bytes.sourceRead + confirmed.bytes.destinationRead).toBe(0);
        expect(destination.calls("head") - heads).toBe(4);
        if (engine === "workflow") {
          expect(confirming.flows()).toEqual([]);
          // No record of an object alone: the page's listing and decision steps keep their
          // records a page at a time.
          expect(await objectRecordKinds(confirming)).toEqual([]);
          // And in-process none of the page's lookups and decision records outlive the page.
          expect(await pageRecordsLeft(confirming)).toEqual([]);
        }
        // The destination's "c" replaced by other bytes of its size, read into its index by a
        // check: both entries stand, and they differ.
        const other = flipByte(data.c, 5 * MiB + 3);
        await put(destination, "c", other);
        time.pass(2000);
        const checked = await run("direct", { variant, dryRun: true });
        expect(checked.objects).toMatchObject({ identical: 3, changed: 1 });
        time.pass(2000);
        const work = new FlowsWorkArea();
        const report = await run(engine, { variant, work } as Partial<SyncOptions>);
        expect(report.objects).toMatchObject({ identical: 3, changed: 1, failed: 0 });
        expect((await bytesOf(destination, "c")).equals(data.c)).toBe(true);
        if (engine === "workflow") {
          // Only "c" ran an object flow.
          expect(work.flows()).toEqual(["c"]);
        }
        time.pass(2000);
        const after = await run(engine, { variant });
        expect(after.objects).toMatchObject({ identical: 4 });
        expect(after.bytes.sourceRead + after.bytes.destinationRead).toBe(0);
        reports[engine] = report;
      }
      expectAsDirect(reports, { index: true });
      for (const side of ["source", "destination"] as const)
        expect(reports.workflow.index?.[side]).toMatchObject({ fromIndex: 4, read: 0, written: 4 });
    },
  );

  it.each(["encode", "decode"] as const)(
    "%s: small sources rewritten since their entries are read once on their page and challenged there: one with the same bytes settles there, and ones with other bytes, of their size, longer or shorter, are rewritten there, with no flow of their own (one cut short, whose old bytes hold it, and one over a block's minimum, run their own); the results, counts and indexes are the direct engine's",
    async (variant) => {
      const reports: Record<Engine, RunReport & { results: ObjectResult[] }> = {} as never;
      const data = {
        // Over a block's minimum: its challenge is its own flow's (a block round could match it).
        big: seededBytes("reread-big", 2 * MiB),
        grown: seededBytes("reread-grown", 1000),
        kept: seededBytes("reread-kept", 500),
        other: seededBytes("reread-other", 1000),
        same: seededBytes("reread-same", 1000),
        shrunk: seededBytes("reread-shrunk", 1000),
        truncated: seededBytes("reread-truncated", 1000),
      };
      const edited = {
        grown: seededBytes("reread-grown", 1500),
        other: flipByte(data.other, 500),
        // Its chunk lies inside the old object, which the destination reads to answer it.
        shrunk: flipByte(data.shrunk.subarray(0, 600), 10),
        // And here the old bytes hold the new ones: its write copies them on the destination's
        // server, which a page's copy does not make.
        truncated: data.truncated.subarray(0, 600),
      };
      for (const engine of ["direct", "workflow"] as const) {
        const { time, source, destination, run, standing } = setup();
        for (const [key, bytes] of Object.entries(data)) await put(source, key, bytes);
        await standing(engine, { variant });
        // Rewritten on the source: their entries no longer stand for the versions listed.
        time.pass(2000);
        await put(source, "big", data.big);
        await put(source, "same", data.same);
        for (const [key, bytes] of Object.entries(edited)) await put(source, key, bytes);
        time.pass(2000);
        const work = new FlowsWorkArea();
        const report = await run(engine, { variant, work } as Partial<SyncOptions>);
        expect(report.objects).toMatchObject({ identical: 3, changed: 4, failed: 0 });
        for (const [key, bytes] of Object.entries(edited))
          expect((await bytesOf(destination, key)).equals(bytes), key).toBe(true);
        if (engine === "workflow") expect(work.flows()).toEqual(["big", "truncated"]);
        time.pass(2000);
        const after = await run(engine, { variant });
        expect(after.objects).toMatchObject({ identical: 7 });
        expect(after.bytes.sourceRead + after.bytes.destinationRead).toBe(0);
        reports[engine] = report;
      }
      expectAsDirect(reports, { bytes: ["transferred", "uploaded", "copiedServerSide"], index: true });
      // An object rewritten on its page is read by its page's challenge, and through its link by
      // the rewrite, where the direct engine writes the chunk its read kept; the one cut short is
      // read by its page's challenge and again by its flow, on both sides.
      const { other, grown, shrunk, truncated } = edited;
      const again = other.length + grown.length + shrunk.length + truncated.length;
      expect(reports.workflow.bytes.sourceRead).toBe(reports.direct.bytes.sourceRead + again);
      expect(reports.workflow.bytes.destinationRead).toBe(
        reports.direct.bytes.destinationRead + truncated.length,
      );
      expect(reports.workflow.index?.source).toMatchObject({ fromIndex: 1, read: 6 });
    },
  );

  it("a small pair its page found changed, whose destination another writer replaced before the page's rewrite, keeps that writer's object, reported as the direct engine reports it", async () => {
    const reports = {} as Record<Engine, RunReport & { results: ObjectResult[] }>;
    const theirs = seededBytes("another writer's", 1000);
    for (const engine of ["direct", "workflow"] as const) {
      const { time, source, destination, run, standing } = setup();
      await put(source, "a", seededBytes("theirs-a", 1000));
      await put(source, "b", seededBytes("theirs-b", 1000));
      await standing(engine);
      time.pass(2000);
      await put(source, "a", flipByte(seededBytes("theirs-a", 1000), 10));
      time.pass(2000);
      destination.beforeNext("createUpload", () => put(destination, "a", theirs));
      reports[engine] = await run(engine);
      expect((await bytesOf(destination, "a")).equals(theirs), engine).toBe(true);
    }
    expect(byKey(reports.workflow).a).toMatchObject({
      state: "failed",
      error: { code: "DESTINATION_CHANGED" },
    });
    expectAsDirect(reports);
  });

  it("in buckets that keep versions, small objects edited at their size, longer or shorter are rewritten on their page, with the direct engine's results and index entries; the next run reads nothing", async () => {
    const reports = {} as Record<Engine, RunReport & { results: ObjectResult[] }>;
    const data = Object.fromEntries(
      ["a", "b", "c"].map((key) => [key, seededBytes(`versioned-${key}`, 1000)]),
    );
    const edited = {
      a: flipByte(data.a!, 10),
      b: Buffer.concat([data.b!, seededBytes("versioned-more", 300)]),
      c: flipByte(data.c!.subarray(0, 700), 10),
    };
    for (const engine of ["direct", "workflow"] as const) {
      const { time, source, destination, run, standing } = setup({ versioned: true });
      for (const [key, bytes] of Object.entries(data)) await put(source, key, bytes);
      await standing(engine);
      for (const [key, bytes] of Object.entries(edited)) await put(source, key, bytes);
      time.pass(2000);
      const work = new FlowsWorkArea();
      reports[engine] = await run(engine, { work } as Partial<SyncOptions>);
      expect(reports[engine].objects, engine).toMatchObject({ changed: 3, failed: 0 });
      if (engine === "workflow") expect(work.flows()).toEqual([]);
      for (const [key, bytes] of Object.entries(edited))
        expect((await bytesOf(destination, key)).equals(bytes), `${engine}: ${key}`).toBe(true);
      time.pass(2000);
      const after = await run(engine);
      expect(after.objects, engine).toMatchObject({ identical: 3 });
      expect(after.bytes.sourceRead + after.bytes.destinationRead, engine).toBe(0);
    }
    expectAsDirect(reports, {
      bytes: ["transferred", "uploaded", "destinationRead", "copiedServerSide"],
      index: true,
    });
  });

  it("a small source rewritten longer between its listing and its page's read is challenged and written as the version read, as the direct engine writes it", async () => {
    const reports = {} as Record<Engine, RunReport & { results: ObjectResult[] }>;
    const next = {} as Record<Engine, RunReport & { results: ObjectResult[] }>;
    const data = seededBytes("raced-a", 1000);
    const listed = flipByte(data, 10);
    const read = seededBytes("raced-a-longer", 1400);
    for (const engine of ["direct", "workflow"] as const) {
      const { time, source, destination, run, standing } = setup();
      await put(source, "a", data);
      await standing(engine);
      await put(source, "a", listed);
      time.pass(2000);
      // Another writer's turn just before the run's first read of the source.
      source.beforeNext("readFirst", () => put(source, "a", read));
      reports[engine] = await run(engine);
      expect((await bytesOf(destination, "a")).equals(read), engine).toBe(true);
      time.pass(2000);
      next[engine] = await run(engine);
      expect(next[engine].objects, engine).toMatchObject({ identical: 1 });
    }
    expectAsDirect(reports, { bytes: SAME_BYTES, index: true });
    // The entries the run left serve the next run alike.
    expectAsDirect(next, { bytes: [...SAME_BYTES, "sourceRead"], index: true });
  });

  it("a shorter small source whose destination another writer replaces as the page reads it to answer: the page fails nothing, and the pair is settled as the direct engine settles it", async () => {
    const reports = {} as Record<Engine, RunReport & { results: ObjectResult[] }>;
    const data = seededBytes("replaced-a", 1000);
    const shorter = flipByte(data.subarray(0, 600), 10);
    const theirs = seededBytes("replaced-theirs", 1000);
    for (const engine of ["direct", "workflow"] as const) {
      const { time, source, destination, run, standing } = setup();
      await put(source, "a", data);
      await put(source, "b", seededBytes("replaced-b", 1000));
      await standing(engine);
      await put(source, "a", shorter);
      time.pass(2000);
      // Another writer's turn just before the run's first read of the destination.
      destination.beforeNext("read", () => put(destination, "a", theirs));
      reports[engine] = await run(engine);
      expect(reports[engine].objects, engine).toMatchObject({ identical: 1 });
    }
    expectAsDirect(reports);
  });

  it("a page's challenge of another size whose chunk lies inside a destination version over a block's minimum is not answered there, which reads no byte of it: its flow decides the pair", async () => {
    const { time, source, destination, run, standing } = setup();
    const data = seededBytes("halved-a", MiB + 1000);
    await put(source, "a", data);
    await standing();
    time.pass(2000);
    const work = new RequestsHalved();
    const reads = () => destination.calls("read") + destination.calls("readFirst");
    const before = reads();
    const report = await run("workflow", { work } as Partial<SyncOptions>);
    expect(report.objects).toMatchObject({ identical: 1, failed: 0 });
    expect(reads() - before).toBe(0);
    expect(report.bytes.destinationRead).toBe(0);
  });

  it("a page's challenges whose requests were taken out of the shared record decide nothing: a pair that differs is found and rewritten", async () => {
    const { time, source, destination, run, standing } = setup();
    const data = seededBytes("forged-c", 6 * MiB);
    await put(source, "a", seededBytes("forged-a", 1000));
    await put(source, "c", data);
    await standing();
    // Both entries stand, and differ: the destination's "c" read into its index by a check.
    await put(destination, "c", flipByte(data, 3));
    time.pass(2000);
    await run("direct", { dryRun: true });
    time.pass(2000);
    const forged = new RequestsTakenOut();
    const report = await run("workflow", { work: forged } as Partial<SyncOptions>);
    expect(forged.taken).toBeGreaterThan(0);
    expect(report.objects).toMatchObject({ identical: 1, changed: 1, failed: 0 });
    expect((await bytesOf(destination, "c")).equals(data)).toBe(true);
  });

  it.each(["direct", "workflow"] as const)(
    "a new object whose source entry stands is streamed into one PutObject under the %s engine, as one the source heads",
    async (engine) => {
      const { time, source, destination, run } = setup();
      await put(source, "a", big);
      time.pass(2000);
      await run(engine);
      await destination.delete("a");
      time.pass(2000);
      const [puts, uploads] = [destination.calls("put"), destination.calls("createUpload")];
      const again = await run(engine);
      expect(again.objects).toMatchObject({ missing: 1, failed: 0 });
      expect(again.bytes.sourceRead).toBe(big.length);
      // The source's ETag, its MD5: one streamed PutObject, not a multipart upload's `...-N`.
      expect((await destination.head("a"))?.etag).toBe((await source.head("a"))?.etag);
      expect([destination.calls("put") - puts, destination.calls("createUpload") - uploads]).toEqual([1, 0]);
      expect((await bytesOf(destination, "a")).equals(big)).toBe(true);
    },
  );

  it("a changed source object is read on the source only, and the next run reads nothing", async () => {
    const { time, source, run } = setup();
    await put(source, "a", big);
    time.pass(2000);
    await run();
    time.pass(2000);
    await run();
    await put(source, "a", flipByte(big, 7 * MiB));
    time.pass(2000);
    // At chunk level: the block exchange would read the old chunk's blocks on the destination.
    const changed = await run("workflow", { blocks: false });
    expect(changed.objects.changed).toBe(1);
    expect(changed.bytes.destinationRead).toBe(0);
    expect(changed.bytes.transferred).toBe(5 * MiB);
    expect(changed.index?.source).toMatchObject({ fromIndex: 0, read: 1 });
    expect(changed.index?.destination).toMatchObject({ fromIndex: 1, read: 0 });
    time.pass(2000);
    const after = await run();
    expect(after.objects.identical).toBe(1);
    expect(after.bytes.sourceRead + after.bytes.destinationRead).toBe(0);
  });

  it("an object assembled from matched blocks gets whole entries on both sides under either engine: the next run reads nothing", async () => {
    for (const engine of ["direct", "workflow"] as const) {
      const { time, source, run } = setup();
      const runs = [big, flipByte(big, 7 * MiB), undefined];
      const reports = [];
      for (const data of runs) {
        if (data) await put(source, "a", data);
        time.pass(2000);
        reports.push(await run(engine));
      }
      const [, changed, after] = reports;
      expect(changed?.objects.changed, engine).toBe(1);
      expect(changed?.bytes.transferred, engine).toBeLessThan(MiB);
      expect(after?.objects.identical, engine).toBe(1);
      expect(after!.bytes.sourceRead + after!.bytes.destinationRead, engine).toBe(0);
    }
  });

  it("with --delete, a key the source holds but did not list keeps its destination object and entry under either engine", async () => {
    for (const engine of ["direct", "workflow"] as const) {
      const { time, source, run } = setup();
      await put(source, "a", seededBytes("a", 1000));
      time.pass(2000);
      await run(engine);
      source.hidden.add("a");
      time.pass(2000);
      const kept = await run(engine, { delete: true });
      expect(
        kept.results.map((r) => [r.destinationKey, r.state, r.action, r.applied]),
        engine,
      ).toEqual([["a", "extra", "keep", false]]);
      expect(kept.index?.destination, engine).toMatchObject({ written: 1 });
      source.hidden.delete("a");
      time.pass(2000);
      const after = await run(engine);
      expect(after.objects.identical, engine).toBe(1);
      expect(after.bytes.destinationRead, engine).toBe(0);
    }
  });

  it("an object cut short inside a chunk is re-composed from its old bytes under either engine, and the next run reads nothing", async () => {
    // The new last chunk is shorter than the old one at its index: the old entry cannot answer
    // for it, so the challenge reads it, and the entry of the version written needs that digest.
    for (const engine of ["direct", "workflow"] as const) {
      const { time, source, destination, run } = setup();
      const reports = [];
      for (const data of [big, big.subarray(0, 7 * MiB), undefined]) {
        if (data) await put(source, "a", data);
        time.pass(2000);
        reports.push(await run(engine));
      }
      const [, cut, after] = reports;
      expect(cut?.objects.changed, engine).toBe(1);
      expect(cut?.bytes.transferred, engine).toBe(0);
      const head = await destination.head("a");
      const read = await destination.read("a", { offset: 0, length: 7 * MiB }, head!.etag);
      expect(Buffer.concat(await read.toArray()).equals(big.subarray(0, 7 * MiB)), engine).toBe(true);
      expect(after?.objects.identical, engine).toBe(1);
      expect(after?.bytes.destinationRead, engine).toBe(0);
    }
  });

  for (const [builder, user] of [
    ["direct", "workflow"],
    ["workflow", "direct"],
  ] as const) {
    it(`an index the ${builder} engine built serves the ${user} engine`, async () => {
      const { time, source, run } = setup();
      await put(source, "a", big);
      await put(source, "b", seededBytes("b2", 3 * MiB));
      time.pass(2000);
      await run(builder);
      time.pass(2000);
      const used = await run(user);
      expect(used.objects.identical).toBe(2);
      expect(used.bytes.sourceRead + used.bytes.destinationRead).toBe(0);
      expect(used.index?.source).toMatchObject({ fromIndex: 2, found: "loaded", written: 2 });
      expect(used.index?.destination).toMatchObject({ fromIndex: 2, found: "loaded", written: 2 });
    });
  }

  for (const [engine, side] of [
    ["direct", "destination"],
    ["workflow", "destination"],
    ["direct", "source"],
    ["workflow", "source"],
  ] as const)
    it(`--engine ${engine}: a ${side} entry whose digest of one chunk is wrong, every check it carries intact, is dropped once a block round finds that chunk alike; the run after reads and finds the object identical`, async () => {
      const { time, source, destination, index, run } = setup();
      const data = seededBytes("forged", 12 * MiB);
      await put(source, "a", data);
      time.pass(2000);
      await run(engine);
      time.pass(2000);
      // The entry's second chunk digest rewritten, the index written again whole: as a store
      // healed below the S3 API after the bytes were indexed, or a digest written wrong.
      const at = index[side];
      const cursor = await IndexCursor.open(at.location, at.scope);
      const writer = new IndexWriter(at.location, at.scope);
      for await (const entry of cursor.entries()) {
        const digests = [...entry.digests];
        digests[1] = Buffer.alloc(digests[1]!.length, 0xee);
        await writer.add({ ...entry, digests });
      }
      await writer.commit(cursor.pieces);
      const forged = await run(engine);
      // Called changed from the forged digest; the block round finds the chunk alike.
      expect(forged.objects.changed).toBe(1);
      expect(forged.index?.[side]?.notes).toContain(DISTRUSTED_NOTE);
      expect(forged.index?.source).toMatchObject({ written: 0 });
      expect(forged.index?.destination).toMatchObject({ written: 0 });
      time.pass(2000);
      // Both sides read it, and it is found identical: no rewrite, and entries of its bytes.
      const healed = await run(engine);
      expect(healed.objects.identical).toBe(1);
      expect(healed.index?.source).toMatchObject({ read: 1, written: 1 });
      expect(healed.index?.destination).toMatchObject({ read: 1, written: 1 });
      time.pass(2000);
      const after = await run(engine);
      expect(after.objects.identical).toBe(1);
      expect(after.bytes.sourceRead + after.bytes.destinationRead).toBe(0);
      expect((await bytesOf(destination, "a")).equals(data)).toBe(true);
    });

  for (const engine of ["direct", "workflow"] as const)
    it(`--engine ${engine}: a source object a scrub found rotted is not sent, before any of its bytes is read, until it is restored; its mark outlives runs that pass it over`, async () => {
      const world = setup();
      const { time, source, destination, index, run } = world;
      const { scrub, marked } = await rottedPair(world, engine, "source");
      expect(scrub.index).toMatchObject({ marked: 1, written: 2 });
      expect(await marked()).toBe(true);
      // The destination changes too: a sync would otherwise send the source's bytes over it.
      const other = seededBytes("rot-destination", 12 * MiB);
      await put(destination, "a", other);
      time.pass(2000);
      // A check (the direct engine's: the workflow has no dry run), then a sync.
      for (const dryRun of [true, false]) {
        const refused = await run(dryRun ? "direct" : engine, { dryRun });
        expect(refused.objects).toMatchObject({ failed: 1, identical: 1 });
        expect(refused.results.find((r) => r.destinationKey === "a")?.error?.code).toBe("SOURCE_ROTTED");
        expect(refused.bytes.sourceRead).toBe(0);
        // The refused object decided nothing on either side: only "b" counts, from both indexes.
        expect(refused.index?.source).toMatchObject({ fromIndex: 1, read: 0 });
        expect(refused.index?.destination).toMatchObject({ fromIndex: 1, read: 0 });
        expect((await bytesOf(destination, "a")).equals(other)).toBe(true);
        expect(await marked()).toBe(true);
      }
      // A run that passes the object over keeps its mark.
      await run(engine, { filters: [{ kind: "exclude", glob: "a" }] });
      expect(await marked()).toBe(true);
      // A sync from the destination back restores the source, whose mark its new version ends.
      time.pass(2000);
      const back = await run(engine, {
        source: destination,
        destination: source,
        index: { source: index.destination, destination: index.source },
      });
      expect(back.objects).toMatchObject({ changed: 1, failed: 0 });
      time.pass(2000);
      const forward = await run(engine);
      expect(forward.objects).toMatchObject({ identical: 2, failed: 0 });
      expect(await marked()).toBeUndefined();
      expect((await bytesOf(source, "a")).equals(other)).toBe(true);
    });

  for (const engine of ["direct", "workflow"] as const)
    it(`--engine ${engine}: a scrub that marks rot while a sync runs keeps its mark when the sync swaps its index in after it; the next sync repairs the object`, async () => {
      const { time, source, destination, index, run, rot } = setup();
      const data = seededBytes("scrub-during-sync", 12 * MiB);
      await put(source, "a", data);
      await put(source, "b", seededBytes("b", 1000));
      time.pass(2000);
      await run(engine);
      time.pass(2000);
      rot("dst", "a", 11 * MiB);
      // The sync has read its index before the scrub swaps in the marked one, and swaps its own in after.
      let scrubbed = false;
      const during = await run(engine, {
        onResult: async () => {
          if (scrubbed) return;
          scrubbed = true;
          const scrub = await runScrub({
            store: destination,
            prefix: "",
            index: index.destination,
            sample: { kind: "full" },
            concurrency: 2,
          });
          expect(scrub.rotted.map((r) => r.key)).toEqual(["a"]);
        },
      });
      expect(scrubbed).toBe(true);
      expect(during.objects).toMatchObject({ identical: 2, failed: 0 });
      const marked = await (await IndexCursor.open(index.destination.location, index.destination.scope)).find(
        "a",
      );
      expect(marked?.rotted).toBe(true);
      time.pass(2000);
      const repaired = await run(engine);
      expect(repaired.objects).toMatchObject({ changed: 1, identical: 1 });
      expect((await bytesOf(destination, "a")).equals(data)).toBe(true);
    });

  for (const engine of ["direct", "workflow"] as const)
    it(`--engine ${engine}: a destination's rot mark outlives a check that reads the rotted object and runs that pass it over: a sync the other way refuses it until a sync repairs it`, async () => {
      const world = setup();
      const { time, source, destination, index, run } = world;
      const { data, marked } = await rottedPair(world, engine, "destination");
      // A check (the direct engine's: the workflow has no dry run) reads the rotted object, no
      // entry to trust, and finds it changed; a run that passes it over keeps the mark too.
      const checked = await run("direct", { dryRun: true });
      expect(checked.results.find((r) => r.destinationKey === "a")?.state).toBe("changed");
      expect(checked.index?.destination).toMatchObject({ read: 1, fromIndex: 1 });
      expect(await marked()).toBe(true);
      await run(engine, { filters: [{ kind: "exclude", glob: "a" }] });
      expect(await marked()).toBe(true);
      // So do a repair that fails, and a run from another source that lacks the key.
      const refused = new AccessDeniedError({ operation: "put", bucket: "dst" });
      for (const operation of ["put", "createUpload", "copyObject"] as const)
        destination.failNext(operation, refused, "always");
      expect((await run(engine)).objects.failed).toBe(1);
      destination.heal();
      expect(await marked()).toBe(true);
      const other = new MemoryObjectStore({ bucket: "other", now: time.now });
      await put(other, "b", seededBytes("b", 1000));
      await run(engine, { source: other, index: { destination: index.destination } });
      expect(await marked()).toBe(true);
      // The way back refuses the rot: the source keeps its good copy.
      const back = { source: destination, destination: source };
      const backIndex = { source: index.destination, destination: index.source };
      const refusedBack = await run(engine, { ...back, index: backIndex });
      expect(refusedBack.results.find((r) => r.destinationKey === "a")?.error?.code).toBe("SOURCE_ROTTED");
      expect((await bytesOf(source, "a")).equals(data)).toBe(true);
      // A sync repairs the destination: a new version, no mark; the way back then finds both alike.
      time.pass(2000);
      const repaired = await run(engine);
      expect(repaired.objects).toMatchObject({ changed: 1, identical: 1 });
      expect(await marked()).toBeUndefined();
      time.pass(2000);
      expect((await run(engine, { ...back, index: backIndex })).objects).toMatchObject({
        identical: 2,
        failed: 0,
      });
      expect((await bytesOf(destination, "a")).equals(data)).toBe(true);
    });

  for (const engine of ["direct", "workflow"] as const)
    it(`--engine ${engine}: objects whose writes all fail keep the entries both sides stood on: the next run reads no byte to compare them`, async () => {
      const { time, source, destination, run } = setup();
      for (const key of ["a", "b"]) await put(source, key, seededBytes(key, 1000));
      time.pass(2000);
      await run(engine);
      time.pass(2000);
      // The destination's copies change, and it then refuses every write.
      for (const key of ["a", "b"]) await put(destination, key, seededBytes(`other-${key}`, 1000));
      time.pass(2000);
      const refused = new AccessDeniedError({ operation: "put", bucket: "dst" });
      for (const operation of ["put", "createUpload", "copyObject"] as const)
        destination.failNext(operation, refused, "always");
      const failed = await run(engine);
      expect(failed.objects.failed).toBe(2);
      expect(failed.index?.source).toMatchObject({ fromIndex: 2, written: 2 });
      destination.heal();
      time.pass(2000);
      // Entries still there: the source answers from its index, and only the bytes sent are read.
      const again = await run(engine);
      expect(again.objects.changed).toBe(2);
      expect(again.index?.source).toMatchObject({ fromIndex: 2, read: 0 });
    });

  for (const engine of ["direct", "workflow"] as const)
    it(`--engine ${engine}: in a bucket that keeps versions, a version the run wrote is settled by the next run's listing of versions, with no HEAD`, async () => {
      const { time, source, destination, run } = setup({ versioned: true });
      await put(source, "big", seededBytes("written big", 12 * MiB));
      await put(source, "small", seededBytes("written small", 1000));
      time.pass(2000);
      await run(engine);
      // Edited on the source: re-composed and rewritten, each a version of its own.
      await put(source, "big", flipByte(seededBytes("written big", 12 * MiB), 6 * MiB));
      await put(source, "small", flipByte(seededBytes("written small", 1000), 10));
      time.pass(2000);
      expect((await run(engine)).objects.changed).toBe(2);
      time.pass(2000);
      const heads = destination.calls("head");
      const next = await run(engine);
      expect(next.objects.identical).toBe(2);
      expect(next.bytes.destinationRead).toBe(0);
      expect(next.index?.destination).toMatchObject({ fromIndex: 2, read: 0 });
      // The write's answers named the versions made; the listing of versions names them too.
      expect(destination.calls("head")).toBe(heads);
    });

  for (const engine of ["direct", "workflow"] as const)
    it(`--engine ${engine}: entries read within their versions' second (a check right after the sync that wrote them) cost the next run one HEAD each on either side, no byte`, async () => {
      const { time, source, destination, index, run } = setup();
      const big = seededBytes("racy", 7 * MiB);
      await put(source, "a", big);
      await put(source, "b", seededBytes("racy b", 1000));
      await run(engine);
      // In the same second: both sides read every object, and their entries cannot stand alone.
      const checked = await run("direct", { dryRun: true, index: unconsulted(index) });
      expect(checked.objects.identical).toBe(2);
      time.pass(2000);
      const heads = { source: source.calls("head"), destination: destination.calls("head") };
      const next = await run(engine);
      expect(next.objects.identical).toBe(2);
      expect(next.bytes).toMatchObject({ sourceRead: 0, destinationRead: 0 });
      expect(next.index?.source).toMatchObject({ fromIndex: 2, read: 0 });
      expect(next.index?.destination).toMatchObject({ fromIndex: 2, read: 0 });
      expect(source.calls("head") - heads.source).toBe(2);
      expect(destination.calls("head") - heads.destination).toBe(2);
      // Confirmed past their second, they stand on the listings alone from then on.
      time.pass(2000);
      const after = await run(engine);
      expect(after.bytes).toMatchObject({ sourceRead: 0, destinationRead: 0 });
      expect(source.calls("head") - heads.source).toBe(2);
      expect(destination.calls("head") - heads.destination).toBe(2);
    });

  for (const engine of ["direct", "workflow"] as const)
    for (const side of ["source", "destination"] as const)
      it(`--engine ${engine}: an entry is no younger than the HEAD its attributes came from: another writer's restatement of the ${side}'s object just after that HEAD, within its second, is found by the next check`, async () => {
        const world = setup();
        const { time, source, staging, run, standing } = world;
        const store = world[side];
        await put(source, "a", Buffer.alloc(0));
        await standing(engine);
        time.pass(2000);
        // Restated: the next run heads it afresh (an empty object: a HEAD, no read)...
        await put(store, "a", Buffer.alloc(0));
        // ...and another writer restates it again just after that HEAD, in the same second, then
        // the second ends before the run keeps its entry.
        staging[side].afterNext("head", "a", async () => {
          await store.put("a", Buffer.alloc(0), 0, { metadata: { m: "0" } }, undefined);
          time.pass(1000);
        });
        expect((await run(engine)).objects.identical).toBe(1);
        const checked = await run("direct", { dryRun: true });
        expect(checked.results.map((r) => [r.destinationKey, r.state])).toEqual([["a", "changed"]]);
      });

  for (const engine of ["direct", "workflow"] as const)
    it(`--engine ${engine}: changed objects a plan read within their versions' second are confirmed by one HEAD: the sync reads only what changed, and the run after sends no request for them`, async () => {
      const { time, source, destination, run, standing } = setup();
      const big = seededBytes("racy big", 12 * MiB);
      const small = seededBytes("racy small", 1000);
      await put(source, "big", big);
      await put(source, "small", small);
      await standing(engine);
      time.pass(2000);
      // Edited, and planned in the same second: the plan's source entries cannot stand alone.
      const editedBig = flipByte(big, 6 * MiB);
      const editedSmall = flipByte(small, 10);
      await put(source, "big", editedBig);
      await put(source, "small", editedSmall);
      expect((await run("direct", { dryRun: true })).objects.changed).toBe(2);
      time.pass(2000);
      const heads = source.calls("head");
      const synced = await run(engine);
      expect(synced.objects.changed).toBe(2);
      expect(synced.index?.source).toMatchObject({ fromIndex: 2, read: 0 });
      // The big object's changed chunk (5 MiB), never the whole object, and the small one to be
      // sent (the workflow's block round and compose step read parts of the chunk again).
      expect(synced.bytes.sourceRead).toBeGreaterThanOrEqual(5 * MiB + small.length);
      expect(synced.bytes.sourceRead).toBeLessThan(6 * MiB);
      // One HEAD an object; the workflow's page heads the big one, and its own flow again.
      expect(source.calls("head") - heads).toBe(engine === "direct" ? 2 : 3);
      expect((await bytesOf(destination, "big")).equals(editedBig)).toBe(true);
      expect((await bytesOf(destination, "small")).equals(editedSmall)).toBe(true);
      time.pass(2000);
      const headsBefore = source.calls("head");
      const after = await run(engine);
      expect(after.objects.identical).toBe(2);
      expect(after.bytes).toMatchObject({ sourceRead: 0, destinationRead: 0 });
      expect(source.calls("head")).toBe(headsBefore);
    });

  for (const engine of ["direct", "workflow"] as const)
    it(`--engine ${engine}: a side asks its bucket's versioning once, and where it cannot be read confirms each entry with a HEAD and says so once`, async () => {
      const { time, source, run } = setup();
      await put(source, "a", seededBytes("va", 1000));
      await put(source, "b", seededBytes("vb", 1000));
      time.pass(2000);
      // No entry yet: nothing to ask.
      await run(engine);
      expect(source.calls("versioning")).toBe(0);
      time.pass(2000);
      // A bucket that never kept versions: one request, and no HEAD for the entries.
      const heads = source.calls("head");
      expect((await run(engine)).index?.source).toMatchObject({ fromIndex: 2, read: 0, notes: [] });
      expect(source.calls("versioning")).toBe(1);
      expect(source.calls("head")).toBe(heads);
      source.failNext("versioning", new AccessDeniedError({ operation: "get versioning", bucket: "src" }));
      const denied = await run(engine);
      expect(denied.objects.identical).toBe(2);
      expect(source.calls("head")).toBe(heads + 2);
      expect(denied.index?.source).toMatchObject({ fromIndex: 2, read: 0 });
      // This store's listing names no version (UnlistedStore): each entry costs a HEAD, and both are said.
      expect(denied.index?.source?.notes).toEqual([
        expect.stringMatching(
          /versioning state could not be read \(.*access denied.*\): it is taken to keep versions/,
        ),
        VERSIONS_UNLISTED_NOTE,
      ]);
    });

  for (const engine of ["direct", "workflow"] as const)
    it(`--engine ${engine}: a streamed put whose answer was lost and whose retry is refused with 412 claims no digest of the retry's bytes, which no server checked`, async () => {
      const { time, source, destination, index, run } = setup();
      const data = seededBytes("lost-streamed", 6 * MiB);
      await put(source, "a", data);
      time.pass(2000);
      // The first put is stored but its answer is lost; the retry's body is received and the
      // write refused with 412, as AWS evaluates If-None-Match once the object is written.
      const store = destination.put.bind(destination);
      let puts = 0;
      destination.put = async (...args: Parameters<typeof store>) => {
        if (++puts === 1) {
          await store(...args);
          throw new StorageUnavailableError({ operation: "put", bucket: "dst" }, "connection reset");
        }
        for await (const _ of args[1] as Readable);
        throw new PreconditionFailedError({ operation: "put", bucket: "dst" }, "412");
      };
      // The retry's read of the source arrives altered, which nothing checks on that path.
      const read = source.read.bind(source);
      let reads = 0;
      source.read = async (...args: Parameters<typeof read>) => {
        const body = await read(...args);
        // The streamed put reads the whole object in one read, into the halves of a chunk's
        // buffer in turn; the retry's is the second read of it.
        if (args[1].offset !== 0 || args[1].length !== data.length || ++reads !== 2) return body;
        return Readable.from([flipByte(Buffer.concat(await body.toArray()), 0)]);
      };
      const written = await run(engine);
      expect(written.results[0]).toMatchObject({ state: "missing", applied: true });
      expect(puts).toBe(2);
      expect(reads).toBe(2);
      source.read = read;
      time.pass(2000);
      // The source is read again, without its index: the destination's entry must not answer
      // for the chunk with the altered bytes' digest.
      const again = await run(engine, { index: { destination: index.destination } });
      expect(again.results[0]).toMatchObject({ state: "identical" });
    });

  it("a damaged manifest is dropped with a note, and the run rebuilds the index", async () => {
    const { time, source, dir, run } = setup();
    await put(source, "a", big);
    time.pass(2000);
    await run();
    time.pass(2000);
    await run();
    const manifest = join(dir, "dst", "manifest.json");
    writeFileSync(manifest, readFileSync(manifest).subarray(0, 40));
    time.pass(2000);
    const dropped = await run();
    expect(dropped.index?.destination?.found).toBe("dropped");
    expect(dropped.index?.destination?.notes.length).toBeGreaterThan(0);
    expect(dropped.bytes.destinationRead).toBe(big.length);
    expect(dropped.bytes.sourceRead).toBe(0);
    time.pass(2000);
    const rebuilt = await run();
    expect(rebuilt.index?.destination).toMatchObject({ found: "loaded", fromIndex: 1 });
    expect(rebuilt.bytes.sourceRead + rebuilt.bytes.destinationRead).toBe(0);
  });

  for (const engine of ["direct", "workflow"] as const) {
    it(`a run stopped part way keeps the index of what it settled: the rerun reads only the rest, and finds every change (${engine})`, async () => {
      const { time, source, destination, index, run } = setup();
      const keys = Array.from({ length: 12 }, (_, i) => `k${String(i).padStart(2, "0")}`);
      for (const key of keys) await put(source, key, seededBytes(`old-${key}`, 1000));
      time.pass(2000);
      await run(engine, { pageSize: 4 } as Partial<SyncOptions>);
      for (const key of keys) await put(source, key, seededBytes(`new-${key}`, 1000));
      time.pass(2000);
      // Stopped once six objects settled, one at a time: the direct engine settles no other; the
      // workflow has finished its first page of four, and rewrites its second's a page at a time.
      const stop = new AbortController();
      let settled = 0;
      const stopped = run(engine, {
        concurrency: 1,
        pageSize: 4,
        signal: stop.signal,
        onResult: () => {
          if (++settled === 6) stop.abort();
        },
      } as Partial<SyncOptions>);
      await expect(stopped).rejects.toThrow();
      expect(settled).toBe(engine === "direct" ? 6 : 8);
      // Each side's index holds every key: the settled ones at their new versions, the rest as stored.
      for (const side of [index.source, index.destination])
        expect(await storedKeys(side), side.location.description).toEqual(keys);
      time.pass(2000);
      const rerun = await run(engine, { pageSize: 4 } as Partial<SyncOptions>);
      const kept = rerun.index?.source?.fromIndex ?? 0;
      expect(kept, "the stopped run's settled objects come from its index").toBe(settled);
      // The objects the stopped run left keep their entries of the old versions: none stands.
      expect(rerun.index?.source).toMatchObject({ read: keys.length - kept });
      expect(rerun.objects.identical + rerun.objects.changed).toBe(keys.length);
      expect(rerun.objects).toMatchObject({ identical: settled, changed: keys.length - settled });
      for (const key of keys)
        expect((await bytesOf(destination, key)).equals(seededBytes(`new-${key}`, 1000)), key).toBe(true);
      time.pass(2000);
      const after = await run(engine, { pageSize: 4 } as Partial<SyncOptions>);
      expect(after.objects.identical).toBe(keys.length);
      expect(after.bytes.sourceRead + after.bytes.destinationRead).toBe(0);
    });
  }

  for (const engine of ["direct", "workflow"] as const) {
    it(`a run stopped as it decides pairs from the indexes (the workflow: a page at a time) keeps every entry; the rerun reads nothing (${engine})`, async () => {
      const { time, source, index, run, standing } = setup();
      const keys = Array.from({ length: 12 }, (_, i) => `k${String(i).padStart(2, "0")}`);
      for (const key of keys) await put(source, key, seededBytes(key, 1000));
      // Copied, then the written entries HEADed once: from then on every pair is decided from the indexes.
      await standing(engine, { pageSize: 4 } as Partial<SyncOptions>);
      time.pass(2000);
      const stop = new AbortController();
      const told: string[] = [];
      const stopped = run(engine, {
        pageSize: 4,
        signal: stop.signal,
        onResult: (r) => {
          told.push(r.destinationKey);
          if (told.length === 6) stop.abort();
        },
      } as Partial<SyncOptions>);
      await expect(stopped).rejects.toThrow();
      // Each result was told once, each of them identical.
      expect(new Set(told).size).toBe(told.length);
      expect(told.length).toBeGreaterThanOrEqual(6);
      for (const side of [index.source, index.destination])
        expect(await storedKeys(side), side.location.description).toEqual(keys);
      time.pass(2000);
      const rerun = await run(engine, { pageSize: 4 } as Partial<SyncOptions>);
      expect(rerun.objects).toMatchObject({ identical: keys.length, failed: 0 });
      expect(rerun.bytes.sourceRead + rerun.bytes.destinationRead).toBe(0);
      expect(rerun.index?.source).toMatchObject({ fromIndex: keys.length, read: 0 });
      expect(rerun.index?.destination).toMatchObject({ fromIndex: keys.length, read: 0 });
    });

    it(`a run stopped while an early key is in progress keeps that key's stored entries as they were, and those of the keys settled after it (${engine})`, async () => {
      const { time, source, index, run } = setup();
      const keys = ["a", "k1", "k2", "k3"];
      // Over a block's minimum: each changed object runs its own flow (smaller ones are rewritten a page at a time).
      const size = MiB + 1000;
      for (const key of keys) await put(source, key, seededBytes(`old-${key}`, size));
      time.pass(2000);
      await run(engine);
      for (const key of keys) await put(source, key, seededBytes(`new-${key}`, size));
      time.pass(2000);
      const stop = new AbortController();
      // The first object taken up waits for the stop: the keys after it settle first.
      const stopped = new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve()));
      source.beforeNext(engine === "direct" ? "readFirst" : "head", () => stopped);
      let settled = 0;
      const first = run(engine, {
        concurrency: 4,
        signal: stop.signal,
        onResult: () => {
          if (++settled === keys.length - 1) stop.abort();
        },
      } as Partial<SyncOptions>);
      await expect(first).rejects.toThrow();
      for (const side of [index.source, index.destination])
        expect(await storedKeys(side), side.location.description).toEqual(keys);
    });
  }

  it("a run stopped after its first object leaves each side a whole index: the next run loads it and reads no byte it had", async () => {
    const { time, source, run } = setup();
    await put(source, "a", big);
    time.pass(2000);
    await run();
    await put(source, "b", seededBytes("b3", 1000));
    time.pass(2000);
    const stop = new AbortController();
    await expect(run("workflow", { signal: stop.signal, onResult: () => stop.abort() })).rejects.toThrow();
    time.pass(2000);
    const next = await run();
    expect(next.objects).toMatchObject({ identical: 1, missing: 1 });
    // The object the first run had is answered from the index on both sides, whichever the stop kept.
    expect(next.index?.source).toMatchObject({ found: "loaded", written: 2, fromIndex: 1, read: 0 });
    expect(next.index?.destination).toMatchObject({ found: "loaded", fromIndex: 1, read: 0 });
  });
});
