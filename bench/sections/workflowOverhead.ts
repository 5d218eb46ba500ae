import type { BenchContext } from "../lib/BenchContext.js";
import { chunksyncTool, runDeltaScenario } from "./deltaScenario.js";
import { deltaTables } from "./deltaSync.js";

/** Whether this chunksync has `sync --engine` (the in-process workflow engine). */
export async function hasWorkflowEngine(ctx: BenchContext): Promise<boolean> {
  const r = await ctx.chunksync(["sync", "--help"], { allowFailure: true });
  return /--engine\b/.test(r.stdout + r.stderr);
}

/** Section 5: the delta scenario through the workflow engine against the direct engine. */
export async function workflowOverheadSection(ctx: BenchContext): Promise<string> {
  if (!(await hasWorkflowEngine(ctx))) {
    return [
      "## 5. Workflow overhead",
      "",
      "not available: `chunksync sync --help` lists no `--engine` option in this build.",
      "",
    ].join("\n");
  }
  const results = await runDeltaScenario(ctx, "wf", [
    chunksyncTool("chunksync (direct engine)"),
    chunksyncTool("chunksync --engine workflow", ["--engine", "workflow"]),
  ]);
  return deltaTables(results, {
    title: "5. Workflow overhead (same delta scenario)",
    baseline: "chunksync --engine workflow",
  });
}
