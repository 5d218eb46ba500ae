import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { JsonLinesReport } from "../../../packages/cli/src/jsonLinesReport.js";

describe("the --report file", () => {
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
