import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LAMBDA_RUNTIME } from "../../../packages/workflow/src/deploy.js";

const sstConfig = readFileSync(join(import.meta.dirname, "../../../sst.config.ts"), "utf8");

describe("Lambda runtime", () => {
  it("is Node.js 22 or newer (Node.js 20 reached end of life; Lambda deprecated nodejs20.x)", () => {
    const match = /^nodejs(\d+)\.x$/.exec(LAMBDA_RUNTIME);
    expect(match, LAMBDA_RUNTIME).not.toBeNull();
    expect(Number(match![1])).toBeGreaterThanOrEqual(22);
  });

  it("is named once: sst.config.ts deploys the exported constant and spells no runtime itself", () => {
    expect(sstConfig).toContain("runtime: wf.LAMBDA_RUNTIME");
    expect(sstConfig.match(/nodejs\d+/g) ?? []).toEqual([]);
  });
});
