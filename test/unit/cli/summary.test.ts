import type { ObjectResult, RunReport } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { FailureList, jsonSummary, LISTED_FAILURES, textSummary } from "../../../packages/cli/src/summary.js";
import { warnNoObjects } from "../../../packages/cli/src/warnings.js";

function report(dryRun: boolean): RunReport {
  return {
    startedAt: "2026-12-02T00:00:00.000Z",
    durationMs: 1500,
    dryRun,
    objects: {
      scanned: 2,
      identical: 1,
      changed: 0,
      missing: 1,
      extra: 3,
      deleted: dryRun ? 0 : 3,
      failed: 0,
      unreadable: 0,
    },
    bytes: {
      sourceRead: 10,
      destinationRead: 10,
      uploaded: 0,
      transferred: dryRun ? 0 : 64,
      copiedServerSide: 0,
    },
    planned: { transfer: 64, serverSide: 0, delete: 3 },
  };
}

/** The value column of one table row. */
function row(text: string, name: string): string | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}  `));
  return line
    ?.trim()
    .split(/\s{2,}/)
    .at(-1);
}

describe("summary", () => {
  it("a dry run's table says what would be deleted, not that nothing was", () => {
    const text = textSummary("plan", report(true));
    expect(row(text, "would delete")).toBe("3");
    expect(row(text, "deleted")).toBeUndefined();
    expect(row(text, "would transfer")).toBe("64 B");
    // A changed object's planned bytes are its changed chunks, which the block round may cut.
    const changed = report(true);
    changed.objects.changed = 1;
    expect(row(textSummary("plan", changed), "would transfer at most")).toBe("64 B");
  });

  it("an interrupted run's table says how many objects it listed and never settled: its rows add up to those scanned", () => {
    const stopped = report(false);
    stopped.objects.scanned = 20;
    stopped.objects.missing = 10;
    stopped.objects.identical = 1;
    const text = textSummary("sync", stopped, new FailureList());
    expect(text).toMatch(/^sync interrupted after /);
    expect(row(text, "not settled (stopped)")).toBe("9");
    expect(row(textSummary("sync", stopped), "not settled (stopped)")).toBeUndefined();
    // A failed delete is among the failed objects, not among those scanned.
    const failures = new FailureList();
    failures.add({
      destinationKey: "old.bin",
      size: 10,
      state: "extra",
      action: "delete",
      planned: { transfer: 0, serverSide: 0 },
      applied: false,
      attempts: 1,
      error: { code: "ACCESS_DENIED", message: "delete refused" },
    });
    stopped.objects.failed = 1;
    expect(row(textSummary("sync", stopped, failures), "not settled (stopped)")).toBe("9");
  });

  it("a sync's table says what was deleted", () => {
    const text = textSummary("sync", report(false));
    expect(row(text, "deleted")).toBe("3");
    expect(row(text, "would delete")).toBeUndefined();
  });

  it("an index note, which may quote a server's message, is escaped", () => {
    const side = { location: "/cache/idx", found: "loaded", fromIndex: 0, read: 1, written: 1 } as const;
    const text = textSummary("sync", {
      ...report(false),
      index: {
        source: { ...side, notes: ["not written (denied\x1b[2J\nforged)"] },
        destination: { ...side, notes: [] },
      },
    });
    expect(text).toContain("source index at /cache/idx: not written (denied\\x1b[2J\\nforged)\n");
    expect(text).not.toContain("\x1b");
  });

  it("an index's location, whose prefix may hold any character, is escaped", () => {
    const side = {
      location: "s3://b/idx\x1b[2J\n/s-1/",
      found: "absent",
      fromIndex: 0,
      read: 0,
      written: 1,
    } as const;
    const text = textSummary("sync", {
      ...report(false),
      index: { source: { ...side, notes: ["dropped"] }, destination: { ...side, notes: [] } },
    });
    expect(text).toContain("source index: none yet at s3://b/idx\\x1b[2J\\n/s-1/; built by this run\n");
    expect(text).toContain("source index at s3://b/idx\\x1b[2J\\n/s-1/: dropped\n");
    expect(text).not.toContain("\x1b");
  });

  it("the warning that no object was selected shows the prefixes escaped", () => {
    const writes: string[] = [];
    const out = { write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WritableStream;
    warnNoObjects(
      { source: 0, destinationOnly: 0 },
      { bucket: "src", prefix: "a\x1b[31m\nb" },
      { bucket: "dst", prefix: "" },
      [],
      out,
    );
    expect(writes.join("")).toContain(
      "no object under s3://src/a\\x1b[31m\\nb/ (source) or s3://dst/ (destination)",
    );
    expect(writes.join("")).not.toContain("\x1b");
  });

  it("a scrub's warning names its one side", () => {
    const writes: string[] = [];
    const out = { write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WritableStream;
    const filters = [{ kind: "include" as const, glob: "*.jpg" }];
    warnNoObjects(
      { source: 0, destinationOnly: 0 },
      { bucket: "dst", prefix: "photos/" },
      undefined,
      filters,
      out,
    );
    expect(writes).toEqual(["chunksync: warning: no object under s3://dst/photos/ matches the filters\n"]);
  });

  it("--json keeps its fields and adds planned.delete", () => {
    const json = jsonSummary("plan", report(true), 0, new FailureList());
    expect(json.planned).toEqual({ transfer: 64, serverSide: 0, delete: 3 });
    expect(json.objects.deleted).toBe(0);
    expect(Object.keys(json)).toEqual([
      "command",
      "exitCode",
      "dryRun",
      "durationMs",
      "objects",
      "bytes",
      "planned",
      "failures",
      "failuresTotal",
    ]);
  });

  it("--json lists the first failures only, and counts them all", () => {
    const failures = new FailureList();
    const failed = (i: number): ObjectResult => ({
      sourceKey: `k${i}`,
      destinationKey: `k${i}`,
      size: 1,
      state: "failed",
      action: "none",
      planned: { transfer: 0, serverSide: 0 },
      applied: false,
      attempts: 1,
      error: { code: "ACCESS_DENIED", message: `denied ${i}` },
    });
    failures.add({ ...failed(-1), state: "identical", error: undefined } as ObjectResult);
    for (let i = 0; i < LISTED_FAILURES + 5; i++) failures.add(failed(i));
    const json = jsonSummary("sync", report(false), 2, failures);
    expect(json.failuresTotal).toBe(LISTED_FAILURES + 5);
    expect(json.failures).toHaveLength(LISTED_FAILURES);
    expect(json.failures[0]).toEqual({ key: "k0", code: "ACCESS_DENIED", message: "denied 0" });
    expect(json.failures.at(-1)?.key).toBe(`k${LISTED_FAILURES - 1}`);
  });
});
