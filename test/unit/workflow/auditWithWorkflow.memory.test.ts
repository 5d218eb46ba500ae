import { INDEX_KEY_MARKER } from "@chunksync/core";
import { AccessDeniedError, MemoryBuckets, MemoryObjectStore } from "@chunksync/storage";
import { type AuditOptions, runAudit } from "@chunksync/sync";
import {
  AUDIT_SOURCE_STEPS,
  type AuditSourceFunction,
  auditKeys,
  auditWithWorkflow,
  buildAuditDefinition,
  buildDefinition,
  MemoryWorkArea,
  runAuditLocally,
  SOURCE_STEPS,
  type StateMachineFunction,
} from "@chunksync/workflow";
import aslValidator from "asl-validator";
import { describe, expect, it, vi } from "vitest";
import { seededBytes } from "../../support/data.js";
import { ReorderedStore, utf16Order } from "../../support/stores.js";

const MiB = 1024 * 1024;
const secret = Buffer.from(Array.from({ length: 32 }, (_, i) => 40 + i));

async function put(store: MemoryObjectStore, key: string, data: Buffer) {
  await store.put(key, data, data.length, { metadata: {} }, undefined);
}

/** A full audit of `p/` on both stores, in ranges of 1 MiB, with `filters`. */
function auditOptions(
  source: MemoryObjectStore,
  destination: MemoryObjectStore,
  filters: AuditOptions["filters"],
): AuditOptions {
  return {
    source,
    sourcePrefix: "p",
    destination,
    destinationPrefix: "p",
    secret,
    sample: { kind: "full" },
    rangeSize: MiB,
    concurrency: 2,
    filters,
  };
}

describe("audit through the workflow definition, in-process", () => {
  it("stopped part way, reports what it judged until then, as the direct engine does", async () => {
    const reports: Record<string, unknown> = {};
    for (const engine of ["direct", "workflow"] as const) {
      const buckets = new MemoryBuckets();
      const source = new MemoryObjectStore({ bucket: "src", buckets });
      const destination = new MemoryObjectStore({ bucket: "dst", buckets });
      for (const store of [source, destination]) {
        await put(store, "p/a", seededBytes("a", 100));
        await put(store, "p/b", seededBytes("b", 100));
      }
      buckets.get("dst")!.objects.get("p/a")!.data[50]! ^= 0xff;
      const stop = new AbortController();
      // The destination's second read comes after the stop: the first object was judged.
      destination.beforeNext("read", () => {});
      destination.beforeNext("read", () => stop.abort());
      const options = { ...auditOptions(source, destination, []), concurrency: 1, signal: stop.signal };
      const report = await (engine === "direct" ? runAudit(options) : auditWithWorkflow(options));
      expect(report, engine).toMatchObject({
        interrupted: true,
        everyRangeRead: false,
        differences: [{ key: "a", offset: 0, length: 100, status: "differs" }],
        ranges: { differs: 1 },
      });
      // What was judged is alike; what was listed and read by the stop is not (the direct engine
      // counts what it listed and read ahead, the workflow what its recorded results hold).
      const { startedAt: _s, durationMs: _d, bytes: _b, objects: _o, unseen: _u, ...figures } = report;
      reports[engine] = figures;
    }
    expect(reports.workflow).toEqual(reports.direct);
  });

  it("finds what the direct engine finds, and leaves its report in the work area", async () => {
    const buckets = new MemoryBuckets();
    const source = new MemoryObjectStore({ bucket: "src", buckets });
    const destination = new MemoryObjectStore({ bucket: "dst", buckets });
    const big = seededBytes("big", 3 * MiB + 5);
    for (const store of [source, destination]) {
      await put(store, "p/a", big);
      await put(store, "p/b", seededBytes("b", 100));
    }
    await put(source, "p/c", seededBytes("c", 10));
    await put(destination, "p/d", seededBytes("d", 10));
    // Sizes that differ where no range can: bytes past the source's end, and a source of 0 bytes.
    await put(source, "p/e", Buffer.alloc(0));
    await put(destination, "p/e", seededBytes("e", 1));
    await put(source, "p/f", seededBytes("f", 100));
    await put(destination, "p/f", Buffer.concat([seededBytes("f", 100), seededBytes("f+", 5)]));
    // A digest index's own keys on one side only are passed over, as a sync passes them over.
    await put(source, `p/idx/${INDEX_KEY_MARKER}manifest.json`, seededBytes("m", 10));
    await put(destination, `p/${INDEX_KEY_MARKER}p-mimz0k3q-0a1b2c3d-0.jsonl`, seededBytes("i", 10));
    buckets.get("dst")!.objects.get("p/a")!.data[2 * MiB + 1]! ^= 0xff;
    const options = auditOptions(source, destination, []);
    const direct = await runAudit(options);
    const work = new MemoryWorkArea();
    const workflow = await auditWithWorkflow({ ...options, work });
    expect(direct.differences).toEqual([
      { key: "a", offset: 2 * MiB, length: MiB, status: "differs" },
      { key: "c", status: "missing" },
      { key: "e", destinationSize: 1, status: "size" },
      { key: "f", destinationSize: 105, status: "size" },
    ]);
    expect(direct.ranges).toMatchObject({ differs: 1, missing: 0 });
    expect(direct.objects).toEqual({ listed: 5, sampled: 3, missing: 1, resized: 2, extra: 1, failed: 0 });
    const { startedAt: _a, durationMs: _b, ...directFigures } = direct;
    const { startedAt: _c, durationMs: _d, ...workflowFigures } = workflow;
    expect(workflowFigures).toEqual(directFigures);
    const reports: string[] = [];
    for await (const key of work.list("shared/audits/")) if (key.endsWith("/report.json")) reports.push(key);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toBe(auditKeys.report(reports[0]!.split("/")[2]!));
  });

  it("counts each destination-only key once, in the key range of the page it falls in", async () => {
    const source = new MemoryObjectStore({ bucket: "src" });
    const destination = new MemoryObjectStore({ bucket: "dst" });
    // Pages of 2: [b, d], [f, h], [j]; the last page's range runs to the end of the listing.
    for (const key of ["b", "d", "f", "h", "j"]) await put(source, `p/${key}`, seededBytes(key, 10));
    for (const key of ["a", "b", "c", "e", "h", "i", "k", "skip.tmp"])
      await put(destination, `p/${key}`, seededBytes(key === "b" || key === "h" ? key : `${key}!`, 10));
    const options = auditOptions(source, destination, [{ kind: "exclude", glob: "*.tmp" }]);
    const direct = await runAudit(options);
    const work = new MemoryWorkArea();
    const side = { prefix: "p/", work, secret, concurrency: 2, filters: options.filters };
    const workflow = await runAuditLocally({
      runId: "paged",
      source: { ...side, store: source, pageSize: 2, sample: options.sample, rangeSize: MiB },
      destination: { ...side, store: destination },
    });
    expect(direct.objects).toEqual({ listed: 5, sampled: 2, missing: 3, resized: 0, extra: 5, failed: 0 });
    expect(workflow.objects).toEqual(direct.objects);
    const perPage: number[] = [];
    for await (const name of work.list(auditKeys.extras("paged")))
      perPage.push((await work.get<{ extra: number }>(name))!.extra);
    expect(perPage).toEqual([2, 1, 2]);
  });

  it("samples its pages as one stream: at 1% a bucket of fewer ranges than a stratum still reads one range, whichever page holds it", async () => {
    const source = new MemoryObjectStore({ bucket: "src" });
    const destination = new MemoryObjectStore({ bucket: "dst" });
    // 12 objects of one range each, in pages of 4: the range read may be on any of 3 pages.
    const keys = Array.from({ length: 12 }, (_, i) => `k${String(i).padStart(2, "0")}`);
    for (const key of keys) {
      await put(source, `p/${key}`, seededBytes(key, 10));
      await put(destination, `p/${key}`, seededBytes(key, 10));
    }
    const sample = { kind: "fraction", fraction: 0.01 } as const;
    const pages = new Set<number>();
    for (let run = 0; run < 12; run++) {
      const work = new MemoryWorkArea();
      const side = { prefix: "p/", work, secret, concurrency: 2 };
      const report = await runAuditLocally({
        runId: `one-${run}`,
        source: { ...side, store: source, pageSize: 4, sample, rangeSize: MiB },
        destination: { ...side, store: destination },
      });
      expect(report.ranges).toEqual({ sampled: 1, equal: 1, differs: 0, missing: 0 });
      expect(report.objects).toMatchObject({ listed: 12, sampled: 1 });
      expect(report.unseen[1]).toEqual({ fraction: 0.01, probability: 0.99 });
      const read: string[] = [];
      for (const key of keys) if (await work.get(auditKeys.sample(`one-${run}`, key))) read.push(key);
      expect(read).toHaveLength(1);
      pages.add(Math.floor(keys.indexOf(read[0]!) / 4));
    }
    // The range is drawn uniformly over the whole listing: 12 runs draw it from one page alone
    // by a chance of 3 * (1/3)^12, about 6 in a million.
    expect(pages.size).toBeGreaterThan(1);
  });

  it("stops with LISTING_ORDER on a source listed out of order, as the direct engine does, whatever its pages", async () => {
    // Pages of 2: "😀" ends the first, and "\uFFFD", which S3's order puts before it, would start the second.
    const source = new ReorderedStore("src", utf16Order);
    const destination = new MemoryObjectStore({ bucket: "dst" });
    for (const store of [source, destination])
      for (const key of ["a", "😀", "\uFFFD"]) await put(store, `p/${key}`, seededBytes(key, 10));
    const options = auditOptions(source, destination, []);
    const work = new MemoryWorkArea();
    const side = { prefix: "p/", work, secret, concurrency: 2, filters: [] };
    const message =
      'the source listing is not in UTF-8 byte order of keys, as S3 lists: "p/\uFFFD" came after "p/😀"';
    await expect(runAudit(options)).rejects.toThrow(message);
    await expect(
      runAuditLocally({
        runId: "misordered",
        source: { ...side, store: source, pageSize: 2, sample: options.sample, rangeSize: MiB },
        destination: { ...side, store: destination },
      }),
    ).rejects.toThrow(message);
  });

  it("reports the run's start and duration in both engines, not the report step's", async () => {
    const source = new MemoryObjectStore({ bucket: "src" });
    const destination = new MemoryObjectStore({ bucket: "dst" });
    for (const store of [source, destination]) await put(store, "p/a", seededBytes("a", 10));
    const options = auditOptions(source, destination, []);
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      for (const engine of [runAudit, auditWithWorkflow]) {
        const start = Date.UTC(2026, 0, 1);
        vi.setSystemTime(start);
        // The destination's read takes a minute.
        destination.beforeNext("read", () => {
          vi.setSystemTime(start + 60_000);
        });
        const report = await engine(options);
        expect(report.startedAt).toBe(new Date(start).toISOString());
        expect(report.durationMs).toBe(60_000);
      }
    } finally {
      vi.useRealTimers();
    }
  });

  it("counts an object whose audit failed as failed, not as sampled, in both engines", async () => {
    const source = new MemoryObjectStore({ bucket: "src" });
    const destination = new MemoryObjectStore({ bucket: "dst" });
    for (const store of [source, destination]) await put(store, "p/a", seededBytes("a", 10));
    destination.failNext("read", new AccessDeniedError({ operation: "read", bucket: "dst" }), "always");
    const options = auditOptions(source, destination, []);
    for (const report of [await runAudit(options), await auditWithWorkflow(options)]) {
      expect(report.objects).toMatchObject({ listed: 1, sampled: 0, failed: 1 });
      expect(report.ranges.sampled).toBe(0);
      expect(report.bytes.sampled).toBe(0);
      expect(report.unseen[2]!.probability).toBe(1);
    }
  });

  it("an object of another size on the destination whose audit failed is counted and named as resized in both engines", async () => {
    const source = new MemoryObjectStore({ bucket: "src" });
    const destination = new MemoryObjectStore({ bucket: "dst" });
    await put(source, "p/a", seededBytes("a", 10));
    await put(destination, "p/a", seededBytes("a", 20));
    source.failNext("read", new AccessDeniedError({ operation: "read", bucket: "src" }), "always");
    const options = auditOptions(source, destination, []);
    for (const report of [await runAudit(options), await auditWithWorkflow(options)]) {
      expect(report.objects).toMatchObject({ listed: 1, resized: 1, failed: 1 });
      expect(report.differences).toEqual([{ key: "a", destinationSize: 20, status: "size" }]);
    }
  });

  it("fails alone, in both engines, a source object that maps to no key S3 can hold (EMPTY_KEY, KEY_TOO_LONG), as sync does", async () => {
    const long = `x/sub/${"k".repeat(1000)}`;
    // The prefix's own folder marker into a bucket's root maps to the empty key; a long key
    // under a longer destination prefix passes S3's 1,024 bytes.
    for (const [destinationPrefix, refused, code] of [
      ["", "", "EMPTY_KEY"],
      ["d".repeat(40), long.slice("x/sub/".length), "KEY_TOO_LONG"],
    ] as const) {
      const source = new MemoryObjectStore({ bucket: "src" });
      const destination = new MemoryObjectStore({ bucket: "dst" });
      for (const key of ["x/sub/", "x/sub/c.txt", long]) await put(source, key, seededBytes(key, 10));
      await put(
        destination,
        `${destinationPrefix}${destinationPrefix ? "/" : ""}c.txt`,
        seededBytes("x/sub/c.txt", 10),
      );
      const options = { ...auditOptions(source, destination, []), sourcePrefix: "x/sub", destinationPrefix };
      for (const report of [await runAudit(options), await auditWithWorkflow(options)]) {
        expect(report.failures.map((f) => [f.key, f.code])).toContainEqual([refused, code]);
        expect(report.differences.map((d) => d.key)).not.toContain(refused);
        expect(report.ranges.equal).toBe(1);
      }
    }
  });

  it("refuses a count sample: one page cannot draw from the whole listing", async () => {
    const source = new MemoryObjectStore({ bucket: "src" });
    const destination = new MemoryObjectStore({ bucket: "dst" });
    await put(source, "a", seededBytes("a", 10));
    await expect(
      auditWithWorkflow({
        source,
        sourcePrefix: "",
        destination,
        destinationPrefix: "",
        secret,
        sample: { kind: "count", count: 3 },
        rangeSize: MiB,
        concurrency: 2,
        filters: [],
      }),
    ).rejects.toThrow(/a fraction or full with the workflow engine/);
  });
});

describe("the audit's state machine definition", () => {
  const functions = Object.fromEntries(
    [...Object.keys(AUDIT_SOURCE_STEPS), "relay"].map((n) => [
      n,
      `arn:aws:lambda:eu-west-1:123456789012:function:cs-${n}`,
    ]),
  ) as Record<AuditSourceFunction | "relay", string>;
  const definition = buildAuditDefinition({ functions, maxConcurrency: 10 });
  const sync = buildDefinition({
    functions: Object.fromEntries(
      [...Object.keys(SOURCE_STEPS), "relay"].map((n) => [n, functions.relay]),
    ) as Record<StateMachineFunction, string>,
    maxConcurrency: 4,
    toleratedFailurePercentage: 0,
    batchConcurrency: 2,
  }) as { States: Record<string, { Retry?: unknown }> };
  const syncRetry = sync.States.ListSourcePage?.Retry;

  it("is valid ASL, JSONPath only", () => {
    const result = aslValidator(definition);
    expect(result.errorsText("\n")).toBe("");
    expect(result.isValid).toBe(true);
    expect(JSON.stringify(definition)).not.toContain("JSONata");
  });

  it("lets every Task run as long as a Lambda may (15 minutes), in-process too, where the interpreter's own default is 60 s, and retries it as the sync's Tasks, each wait bounded", () => {
    const tasks: Record<string, unknown>[] = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (typeof value === "object" && value !== null) {
        if ((value as { Type?: unknown }).Type === "Task") tasks.push(value as Record<string, unknown>);
        Object.values(value).forEach(walk);
      }
    };
    walk(definition);
    expect(tasks.length).toBeGreaterThan(3);
    for (const task of tasks) {
      expect(task.TimeoutSeconds).toBeGreaterThanOrEqual(15 * 60);
      // What a timer of Node's holds: a longer one fires at once.
      expect((task.TimeoutSeconds as number) * 1000).toBeLessThan(2 ** 31);
      expect(task.Retry).toEqual(syncRetry);
      for (const retry of task.Retry as { MaxDelaySeconds?: number }[])
        expect(retry.MaxDelaySeconds).toBeLessThanOrEqual(60);
    }
  });

  it("sends the destination's steps through the relay, never to a destination function directly", () => {
    const text = JSON.stringify(definition);
    for (const target of ["destinationAuditHead", "destinationAudit", "destinationAuditExtras"])
      expect(text).toContain(`"target":"${target}"`);
    expect(text).not.toContain("function:cs-destination");
  });
});
