import { rmSync } from "node:fs";
import type { ObjectAttributes } from "@chunksync/core";
import { AccessDeniedError, MemoryObjectStore, ThrottledError } from "@chunksync/storage";
import type { ObjectResult, RunReport } from "@chunksync/sync";
import { MemoryWorkArea, objectId } from "@chunksync/workflow";
import { afterEach, describe, expect, it } from "vitest";
import { seededBytes } from "../../support/data.js";
import { byKey, expectAsDirect, SAME_BYTES } from "../../support/engineParity.js";
import { memoryIndexes, movableClock } from "../../support/indexes.js";
import { bytesOf, syncWith, workflowWith } from "../../support/stores.js";
import { FlowsWorkArea, objectRecordKinds } from "../../support/workflowRecords.js";

const MiB = 1024 * 1024;
const secret = Buffer.alloc(32, 5);

type Engine = "direct" | "workflow";
type Report = RunReport & { results: ObjectResult[] };

/** New objects of every kind a page copies, and one it leaves to its own flow (over one 5 MiB chunk). */
const objects = {
  a: seededBytes("copy-a", 1000),
  b: seededBytes("copy-b", MiB),
  big: seededBytes("copy-big", 6 * MiB),
  empty: Buffer.alloc(0),
  typed: Buffer.from("{}"),
};

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Fresh stores holding {@link objects} on the source, and each side's index in a directory of its own. */
async function world(
  options: { index?: boolean; concurrency?: number; destination?: typeof MemoryObjectStore } = {},
) {
  const time = movableClock();
  const source = new MemoryObjectStore({ bucket: "src", now: time.now });
  const destination = new (options.destination ?? MemoryObjectStore)({ bucket: "dst", now: time.now });
  for (const [key, data] of Object.entries(objects)) {
    const attributes: ObjectAttributes =
      key === "typed"
        ? { contentType: "application/json", cacheControl: "no-cache", metadata: { origin: "test" } }
        : { metadata: {} };
    await source.put(key, data, data.length, attributes, undefined);
  }
  const indexes = memoryIndexes(secret);
  dirs.push(indexes.dir);
  const overrides = {
    secret,
    concurrency: options.concurrency ?? 4,
    ...(options.index === false
      ? {}
      : { index: { source: indexes.source, destination: indexes.destination } }),
  };
  // Each run a few seconds after the last: a version written in a run's second is confirmed by a HEAD.
  const run = (engine: Engine, more: object = {}, work = new MemoryWorkArea()): Promise<Report> => {
    time.pass(3000);
    return engine === "direct"
      ? syncWith(source, destination, { ...overrides, ...more })
      : workflowWith(source, destination, { ...overrides, ...more, work });
  };
  return { destination, run };
}

/** A destination where another writer puts other bytes under "a" just before the run's first put of it. */
class WriterBeforeA extends MemoryObjectStore {
  static readonly theirs = Buffer.from("another writer's");
  #wrote = false;
  override async put(...args: Parameters<MemoryObjectStore["put"]>): ReturnType<MemoryObjectStore["put"]> {
    if (args[0] === "a" && !this.#wrote) {
      this.#wrote = true;
      const { theirs } = WriterBeforeA;
      await super.put("a", theirs, theirs.length, { metadata: {} }, undefined);
    }
    return super.put(...args);
  }
}

/** A work area that refuses, once, the record of a page's copies that says which were written: the step is retried. */
class RefusesCopiedOnce extends MemoryWorkArea {
  #refused = false;
  override async put(key: string, value: unknown): Promise<void> {
    if (key.endsWith("/copied.json") && !this.#refused) {
      this.#refused = true;
      throw new ThrottledError({ operation: "put", bucket: "work", key });
    }
    return super.put(key, value);
  }
}

async function expectCopied(destination: MemoryObjectStore): Promise<void> {
  for (const [key, data] of Object.entries(objects))
    expect((await bytesOf(destination, key)).equals(data), key).toBe(true);
}

describe("new small objects under the workflow engine, a page at a time", () => {
  it("are copied with no object flow of their own (one over a chunk runs its own), with the direct engine's results, counts, attributes and index entries; the next run reads nothing", async () => {
    const reports = {} as Record<Engine, Report>;
    for (const engine of ["direct", "workflow"] as const) {
      const { destination, run } = await world();
      const work = new FlowsWorkArea();
      const report = await run(engine, {}, work);
      expect(report.objects).toMatchObject({ missing: 5, failed: 0 });
      await expectCopied(destination);
      const typed = await destination.head("typed");
      expect(typed).toMatchObject({
        contentType: "application/json",
        cacheControl: "no-cache",
        metadata: { origin: "test" },
      });
      if (engine === "workflow") {
        expect(work.flows()).toEqual(["big"]);
        // A copy keeps no record of its own, a page's steps one for all (see pageCopyRecords.ts).
        expect(work.recorded()).toEqual([objectId("big")]);
        // In-process no object's records outlive its page: its result is folded into the page's.
        expect(await objectRecordKinds(work)).toEqual([]);
      }
      // The entries the copies left decide the next run with no read on either side.
      const again = await run(engine);
      expect(again.objects).toMatchObject({ identical: 5 });
      expect(again.bytes.sourceRead + again.bytes.destinationRead).toBe(0);
      reports[engine] = report;
    }
    expectAsDirect(reports, { bytes: SAME_BYTES, index: true });
  });

  it("with no index, the source is headed, not read: its bytes are read once, by the copy, as the direct engine reads them", async () => {
    const bytes = {} as Record<Engine, RunReport["bytes"]>;
    for (const engine of ["direct", "workflow"] as const) {
      const { destination, run } = await world({ index: false });
      bytes[engine] = (await run(engine)).bytes;
      await expectCopied(destination);
    }
    expect(bytes.workflow).toEqual(bytes.direct);
    expect(bytes.workflow.sourceRead).toBe(Object.values(objects).reduce((n, d) => n + d.length, 0));
  });

  it("a key another writer creates between the lookup and the copy keeps that writer's object, reported as the direct engine reports it", async () => {
    const reports = {} as Record<Engine, Report>;
    const { theirs } = WriterBeforeA;
    for (const engine of ["direct", "workflow"] as const) {
      const { destination, run } = await world({ destination: WriterBeforeA });
      reports[engine] = await run(engine);
      expect((await bytesOf(destination, "a")).equals(theirs)).toBe(true);
    }
    expect(byKey(reports.workflow).a).toMatchObject({
      state: "failed",
      error: { code: "DESTINATION_CHANGED" },
    });
    expectAsDirect(reports);
    // The workflow reads each source byte twice (its source side for its index, its destination
    // side through the link) where the direct engine reads it once: the failed page copy's reads
    // of "a" count too, as the direct engine counts its failed attempt's.
    expect(reports.workflow.bytes.sourceRead).toBe(2 * reports.direct.bytes.sourceRead);
    expect(reports.workflow.bytes.transferred).toBe(reports.direct.bytes.transferred);
  });

  it("a destination that refuses every write fails each object once, as the direct engine does, and holds none of them", async () => {
    const reports = {} as Record<Engine, Report>;
    for (const engine of ["direct", "workflow"] as const) {
      const { destination, run } = await world();
      for (const operation of ["put", "createUpload"] as const)
        destination.failNext(operation, new AccessDeniedError({ operation, bucket: "dst" }), "always");
      reports[engine] = await run(engine);
      for (const key of Object.keys(objects)) expect(await destination.head(key)).toBeUndefined();
    }
    expect(reports.workflow.results).toHaveLength(5);
    expect(reports.workflow.objects).toMatchObject({ failed: 5 });
    expectAsDirect(reports);
  });

  it("a page's copy step retried after it wrote (its record refused once) writes no object twice: the results, counts and index entries are the direct engine's", async () => {
    const reports = {} as Record<Engine, Report>;
    const puts = {} as Record<Engine, number>;
    for (const engine of ["direct", "workflow"] as const) {
      const { destination, run } = await world();
      reports[engine] = await run(engine, {}, new RefusesCopiedOnce());
      puts[engine] = destination.calls("put");
      await expectCopied(destination);
      expect((await run(engine)).objects).toMatchObject({ identical: 5 });
    }
    expect(puts.workflow).toBe(puts.direct);
    expectAsDirect(reports, { index: true });
  });

  it("a run stopped as it copies reports each object it wrote, once, and leaves no other; the rerun copies the rest and finds the written ones identical", async () => {
    for (const engine of ["direct", "workflow"] as const) {
      const { destination, run } = await world({ concurrency: 1 });
      const stop = new AbortController();
      // Stopped as the second write is sent, once one is written.
      destination.beforeNext("put", () => destination.beforeNext("put", () => stop.abort()));
      const told: ObjectResult[] = [];
      const onResult = (r: ObjectResult) => {
        told.push(r);
      };
      await expect(run(engine, { signal: stop.signal, onResult })).rejects.toThrow(/aborted/);
      const written: string[] = [];
      for (const [key, data] of Object.entries(objects)) {
        if ((await destination.head(key)) === undefined) continue;
        expect((await bytesOf(destination, key)).equals(data), key).toBe(true);
        written.push(key);
      }
      expect(written.length, engine).toBeGreaterThan(0);
      expect(told.map((r) => [r.destinationKey, r.state, r.applied]).sort(), engine).toEqual(
        written.map((key) => [key, "missing", true]),
      );
      const rerun = byKey(await run(engine));
      for (const key of Object.keys(objects))
        expect(rerun[key]?.state, `${engine}: ${key}`).toBe(written.includes(key) ? "identical" : "missing");
      await expectCopied(destination);
    }
  });
});
