import { afterEach, describe, expect, it, vi } from "vitest";
import { executeLocally } from "../../../packages/workflow/src/runLocally.js";

const ARN = "arn:aws:lambda:us-east-1:123456789012:function:step";
const ITEMS = 500;

/** A Map of `ITEMS` iterations, each a Task `First` then a Task `Second` (handled by state name). */
const definition = {
  StartAt: "Each",
  States: {
    Each: {
      Type: "Map",
      ItemsPath: "$.items",
      MaxConcurrency: 8,
      ItemProcessor: {
        ProcessorConfig: { Mode: "INLINE" },
        StartAt: "First",
        States: {
          First: { Type: "Task", Resource: `${ARN}-first`, Next: "Second" },
          Second: { Type: "Task", Resource: `${ARN}-second`, End: true },
        },
      },
      End: true,
    },
  },
};
const input = { items: Array.from({ length: ITEMS }, (_, i) => i) };

afterEach(() => vi.restoreAllMocks());

describe("the in-process interpreter's Map iterations and the run's stop", () => {
  // AbortSignal.any keeps an entry on the run's long-lived signal for every signal combined
  // with it (Node 20: about 58 B each, never pruned), so a run grew with its objects' flows.
  it("combines no signal per iteration, so a run's memory does not grow with its iterations", async () => {
    const any = vi.spyOn(AbortSignal, "any");
    const handlers = {
      First: async (n: unknown) => n,
      Second: async (n: unknown) => n,
    };
    const output = await executeLocally(definition, input, handlers, {}, undefined);
    expect(output).toEqual(input.items);
    expect(any).not.toHaveBeenCalled();
  });

  it("still stops every iteration in flight when the run stops: none goes on to its next state", async () => {
    const stop = new AbortController();
    let firsts = 0;
    let seconds = 0;
    const handlers = {
      First: async (n: unknown) => {
        firsts += 1;
        // The run stops while this iteration's Task, and the others in flight, are running.
        if (firsts === 4) stop.abort();
        await new Promise((resolve) => setTimeout(resolve, 10));
        return n;
      },
      Second: async (n: unknown) => {
        seconds += 1;
        return n;
      },
    };
    await executeLocally(definition, input, handlers, {}, stop.signal);
    // Let any iteration that the stop failed to reach go on to its next state.
    await new Promise((resolve) => setTimeout(resolve, 50));
    // (The interpreter still enters the first state of iterations it starts after the stop:
    // runWorkflowLocally's handlers refuse to run a step then.)
    expect(firsts).toBeGreaterThanOrEqual(4);
    expect(seconds).toBe(0);
  });
});
