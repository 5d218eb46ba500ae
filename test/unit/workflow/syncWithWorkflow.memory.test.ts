import { MemoryObjectStore, S3_CAPABILITIES } from "@chunksync/storage";
import { type ObjectResult, RunStats } from "@chunksync/sync";
import { MemoryWorkArea, StateDataLimitError } from "@chunksync/workflow";
import { describe, expect, it } from "vitest";
import { executeLocally, STATE_DATA_LIMIT } from "../../../packages/workflow/src/runLocally.js";
import { flipByte, seededBytes } from "../../support/data.js";
import { syncWith, UnlistedStore, workflowWith } from "../../support/stores.js";

const MiB = 1024 * 1024;

async function put(store: MemoryObjectStore, key: string, data: Buffer): Promise<void> {
  await store.put(key, data, data.length, { metadata: {} }, { ifNoneMatch: "*" });
}

function run(source: MemoryObjectStore, destination: MemoryObjectStore, del = false) {
  return workflowWith(source, destination, { delete: del });
}

function byKey(results: ObjectResult[]): Record<string, ObjectResult> {
  return Object.fromEntries(results.map((r) => [r.destinationKey, r]));
}

describe("the workflow engine's steps on in-memory stores", () => {
  const big = seededBytes("wf-big", 12 * MiB);
  const edited = flipByte(big, 6 * MiB);

  for (const [name, conditionalWrites] of [
    ["enforcing every condition", undefined],
    ["ignoring If-Match on complete (as Ceph RGW 16 does)", S3_CAPABILITIES.conditionalWrites],
  ] as const) {
    it(`re-composes a changed object, copies a missing one and deletes an extra one, on a destination ${name}`, async () => {
      const source = new MemoryObjectStore({ bucket: "src" });
      const destination = new MemoryObjectStore({
        bucket: "dst",
        ...(conditionalWrites ? { conditionalWrites } : {}),
      });
      await put(source, "same", big);
      await put(source, "changed", edited);
      await put(source, "missing", Buffer.from("new"));
      await put(destination, "same", big);
      await put(destination, "changed", big);
      await put(destination, "extra", Buffer.from("old"));

      const r = byKey((await run(source, destination, true)).results);
      expect(r.same).toMatchObject({ state: "identical" });
      expect(r.changed).toMatchObject({ state: "changed", applied: true });
      expect(r.changed?.chunks?.changed).toEqual([1]);
      expect(r.missing).toMatchObject({ state: "missing", applied: true });
      expect(r.extra).toMatchObject({ state: "extra", action: "delete" });
      expect(await destination.head("extra")).toBeUndefined();
      const again = byKey((await run(source, destination)).results);
      for (const key of ["same", "changed", "missing"]) expect(again[key]?.state).toBe("identical");
    });
  }
});

/** A `--delete` run of `sync` that `arm` sets to stop (it is handed the stop), and the results it reported. */
function stoppedRun(
  sync: typeof syncWith | typeof workflowWith,
  source: MemoryObjectStore,
  destination: MemoryObjectStore,
  arm: (stop: () => void) => void,
): { run: Promise<unknown>; results: ObjectResult[] } {
  const stop = new AbortController();
  arm(() => stop.abort());
  const results: ObjectResult[] = [];
  const run = sync(source, destination, {
    delete: true,
    signal: stop.signal,
    onResult: (r) => {
      results.push(r);
    },
  });
  return { run, results };
}

describe("a run stopped after it deleted destination-only objects", () => {
  for (const [engine, sync] of [
    ["direct", syncWith],
    ["workflow", workflowWith],
  ] as const) {
    it(`hands over each deletion it made before the stop (${engine})`, async () => {
      const source = new MemoryObjectStore({ bucket: "src" });
      const destination = new MemoryObjectStore({ bucket: "dst" });
      await put(source, "kept", Buffer.from("kept"));
      await put(destination, "kept", Buffer.from("kept"));
      await put(destination, "extra", Buffer.from("old"));
      // Stopped as the delete is sent: it is made, and nothing after it runs.
      const { run, results } = stoppedRun(sync, source, destination, (stop) =>
        destination.beforeNext("delete", stop),
      );
      await expect(run).rejects.toThrow();
      expect(await destination.head("extra")).toBeUndefined();
      expect(results.filter((r) => r.state === "extra")).toEqual([
        expect.objectContaining({ destinationKey: "extra", action: "delete", applied: true }),
      ]);
    });

    it(`stops deleting at the stop, and counts what it deleted (${engine})`, async () => {
      const source = new MemoryObjectStore({ bucket: "src" });
      const destination = new MemoryObjectStore({ bucket: "dst" });
      await put(source, "kept", Buffer.from("kept"));
      const extras = Array.from({ length: 200 }, (_, i) => `x${String(i).padStart(3, "0")}`);
      for (const key of extras) await put(destination, key, Buffer.from("old"));
      const stats = new RunStats();
      const stop = new AbortController();
      let deletes = 0;
      const deleteOne = destination.delete.bind(destination);
      destination.delete = async (key) => {
        if (++deletes === 3) stop.abort();
        await deleteOne(key);
      };
      await expect(sync(source, destination, { delete: true, signal: stop.signal, stats })).rejects.toThrow();
      const left = (await Promise.all(extras.map((key) => destination.head(key)))).filter(Boolean).length;
      const deleted = extras.length - left;
      // The delete in flight at the stop may finish; none starts after it.
      expect(deleted).toBeGreaterThanOrEqual(3);
      expect(deleted).toBeLessThanOrEqual(3 + 8);
      expect(stats.objects.deleted).toBe(deleted);
    });

    it(`reports no failure for a destination-only object it was checking when stopped (${engine})`, async () => {
      const source = new MemoryObjectStore({ bucket: "src" });
      const destination = new MemoryObjectStore({ bucket: "dst" });
      await put(destination, "extra", Buffer.from("old"));
      // The direct engine asks the source for the key before a delete; the stop comes then.
      const { run, results } = stoppedRun(sync, source, destination, (stop) => {
        source.beforeNext("head", stop);
        destination.beforeNext("delete", stop);
      });
      await expect(run).rejects.toThrow(/interrupted|aborted/);
      expect(results.filter((r) => r.error !== undefined)).toEqual([]);
    });
  }
});

describe("a --delete run over thousands of destination-only keys, two of which the source holds unlisted", () => {
  const keys = Array.from({ length: 2500 }, (_, i) => `k${String(i).padStart(4, "0")}`);
  const hidden = new Set(["k1500", "k2499"]);

  for (const engine of ["direct", "workflow"] as const) {
    it(`keeps the destination's objects of the two and deletes the rest (${engine})`, async () => {
      const source = new UnlistedStore({ bucket: "src" });
      for (const key of hidden) source.hidden.add(key);
      const destination = new MemoryObjectStore({ bucket: "dst" });
      await put(source, "listed", Buffer.from("listed"));
      for (const key of hidden) await put(source, key, Buffer.from("written since"));
      for (const key of keys) await put(destination, key, Buffer.from("old"));
      const work = new MemoryWorkArea();
      const { results } = await (engine === "direct"
        ? syncWith(source, destination, { delete: true })
        : workflowWith(source, destination, { delete: true, work }));
      const kept = results.filter((r) => r.state === "extra" && !r.applied);
      expect(kept.map((r) => [r.destinationKey, r.action, r.error]).sort()).toEqual([
        ["k1500", "keep", undefined],
        ["k2499", "keep", undefined],
      ]);
      expect(results.filter((r) => r.action === "delete" && r.applied)).toHaveLength(keys.length - 2);
      expect(await destination.head("k1500")).toBeDefined();
      if (engine !== "workflow") return;
      // The keys the source was asked for crossed sides in records of at most 1,000.
      const sizes: number[] = [];
      for await (const key of work.list("shared/runs/"))
        if (key.endsWith("-keys.json"))
          sizes.push((await work.get<{ keys: string[] }>(key))?.keys.length ?? 0);
      expect(sizes).toEqual([1000, 1000, 500]);
    });
  }
});

describe("destination-only objects under the workflow engine", () => {
  // Pages of 4 keys: "a…" on the first, with the destination's extras "a1x", "a2x" in its range.
  const keys = ["a0", "a1", "a2", "a3", "b0", "b1", "b2", "b3", "c0", "c1", "c2", "c3"];

  it("are told as their page settles, before the later pages' objects; a run stopped after it counts each once", async () => {
    const source = new MemoryObjectStore({ bucket: "src" });
    const destination = new MemoryObjectStore({ bucket: "dst" });
    for (const key of keys) await put(source, key, Buffer.from(key));
    for (const key of ["a1x", "a2x"]) await put(destination, key, Buffer.from("old"));
    const told: ObjectResult[] = [];
    const stop = new AbortController();
    const stats = new RunStats();
    const stopped = workflowWith(source, destination, {
      delete: true,
      pageSize: 4,
      concurrency: 1,
      stats,
      signal: stop.signal,
      onResult: (r) => {
        told.push(r);
        // Stopped as the second page's objects settle (new small ones: a page at a time).
        if (r.destinationKey === "b0") stop.abort();
      },
    });
    await expect(stopped).rejects.toThrow();
    const order = told.map((r) => r.destinationKey);
    // The first page's deletes are told with it, before the next page's objects.
    expect(order.indexOf("a2x")).toBeLessThan(order.indexOf("b0"));
    expect(
      told.filter((r) => r.state === "extra").map((r) => [r.destinationKey, r.action, r.applied]),
    ).toEqual([
      ["a1x", "delete", true],
      ["a2x", "delete", true],
    ]);
    expect(new Set(order).size).toBe(order.length);
    // What a stopped run says it did: each destination-only object once.
    expect(stats.objects.extra).toBe(2);
    expect(stats.objects.deleted).toBe(2);
    expect(stats.destinationOnly).toBe(2);
  });
});

describe("a workflow run stopped once every object settled", () => {
  const keys = ["a0", "a1", "a2", "b0", "b1", "b2"];

  for (const extra of [false, true])
    it(
      extra
        ? "with a destination-only object of the last page still to delete: it is stopped, the object kept"
        : "finishes: its index and report are written, and the stop stops nothing",
      async () => {
        const source = new MemoryObjectStore({ bucket: "src" });
        const destination = new MemoryObjectStore({ bucket: "dst" });
        for (const key of keys) await put(source, key, Buffer.from(key));
        if (extra) await put(destination, "b9", Buffer.from("old"));
        const stop = new AbortController();
        const run = workflowWith(source, destination, {
          delete: true,
          pageSize: 3,
          concurrency: 1,
          signal: stop.signal,
          // Stopped as the last page's last object settles.
          onResult: (r) => {
            if (r.destinationKey === "b2") stop.abort();
          },
        });
        if (extra) {
          await expect(run).rejects.toThrow();
          expect(await destination.head("b9")).toBeDefined();
          return;
        }
        const report = await run;
        expect(stop.signal.aborted).toBe(true);
        expect(report.objects).toMatchObject({ scanned: 6, missing: 6, failed: 0 });
        expect(report.results).toHaveLength(6);
      },
    );
});

/** A work area that cannot store the run's report: the run fails at its last step. */
class ReportRefused extends MemoryWorkArea {
  override async putLines(key: string, lines: AsyncIterable<string>): Promise<void> {
    if (key.endsWith("/report.jsonl")) throw new Error("the work area refused the report");
    return super.putLines(key, lines);
  }
}

describe("a workflow run that fails after it deleted destination-only objects", () => {
  it("hands over each deletion it made, as the direct engine hands each over as it is made", async () => {
    const source = new MemoryObjectStore({ bucket: "src" });
    const destination = new MemoryObjectStore({ bucket: "dst" });
    await put(source, "kept", Buffer.from("kept"));
    await put(destination, "kept", Buffer.from("kept"));
    await put(destination, "extra", Buffer.from("old"));
    const results: ObjectResult[] = [];
    const run = workflowWith(source, destination, {
      delete: true,
      work: new ReportRefused(),
      onResult: (r) => {
        results.push(r);
      },
    });
    await expect(run).rejects.toThrow("the work area refused the report");
    expect(await destination.head("extra")).toBeUndefined();
    // The report (--report) of the failed run is incomplete, but names the object it deleted.
    expect(results.filter((r) => r.state === "extra")).toEqual([
      expect.objectContaining({ destinationKey: "extra", action: "delete", applied: true }),
    ]);
  });
});

describe("what passes from state to state stays within Step Functions' 256 KiB", () => {
  it("for a listing page of 1,024-byte keys of control characters (6 KiB each as JSON)", async () => {
    const source = new MemoryObjectStore({ bucket: "src" });
    const destination = new MemoryObjectStore({ bucket: "dst" });
    // By their length 60 such keys fit one 96 KiB page; as JSON they are 360 KiB.
    const keys = Array.from(
      { length: 60 },
      (_, i) => `${String(i).padStart(4, "0")}${"\u0001".repeat(1020)}`,
    );
    for (const key of keys) await put(source, key, Buffer.from(key.slice(0, 4)));
    const { results } = await workflowWith(source, destination);
    expect(results.filter((r) => r.state === "missing" && r.applied)).toHaveLength(keys.length);
    expect((await destination.head(keys[59]!))?.size).toBe(4);
  });

  it("and a run whose state goes over it fails, as in AWS (States.DataLimitExceeded)", async () => {
    const definition = {
      StartAt: "Big",
      States: { Big: { Type: "Pass", Result: "x".repeat(STATE_DATA_LIMIT), End: true } },
    };
    await expect(executeLocally(definition, {}, {}, {}, undefined)).rejects.toThrow(StateDataLimitError);
    const fits = {
      StartAt: "Small",
      States: { Small: { Type: "Pass", Result: "x".repeat(1000), End: true } },
    };
    expect(await executeLocally(fits, {}, {}, {}, undefined)).toBe("x".repeat(1000));
  });
});
