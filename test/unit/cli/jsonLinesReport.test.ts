import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { JsonLinesReport } from "../../../packages/cli/src/jsonLinesReport.js";

describe("the --report file", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("replaces a previous report in a regular file", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "chunksync-report-")), "report.jsonl");
    writeFileSync(path, '{"type":"summary","old":true}\n');
    const file = await open(path, "a");
    const report = await JsonLinesReport.begin(file, path);
    report.add('{"type":"object"}\n');
    await report.flush();
    await file.close();
    expect(readFileSync(path, "utf8")).toBe('{"type":"object"}\n');
  });

  it("writes a line within a second of its object settling, however few follow it (a run of large objects, killed or followed with tail -f)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const path = join(mkdtempSync(join(tmpdir(), "chunksync-report-")), "report.jsonl");
    const file = await open(path, "a");
    try {
      const report = await JsonLinesReport.begin(file, path);
      expect(report.add('{"type":"object","sourceKey":"a"}\n')).toBeUndefined();
      expect(readFileSync(path, "utf8"), "gathered for a block at first").toBe("");
      vi.advanceTimersByTime(1000);
      await vi.waitFor(() => expect(readFileSync(path, "utf8")).toBe('{"type":"object","sourceKey":"a"}\n'));
    } finally {
      await file.close();
    }
  });

  it("writes to a device, which cannot be truncated (--report /dev/null, /dev/stdout)", async () => {
    const file = await open("/dev/null", "a");
    try {
      const report = await JsonLinesReport.begin(file, "/dev/null");
      report.add('{"type":"object"}\n');
      await expect(report.flush()).resolves.toBeUndefined();
    } finally {
      await file.close();
    }
  });
});
