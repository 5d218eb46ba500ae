import { decideObject, MiB, planChunks, ValidationError } from "@chunksync/core";
import { describe, expect, it } from "vitest";
import { type Decision, DecisionSchema } from "../../../packages/workflow/src/context.js";
import { workKeys } from "../../../packages/workflow/src/layout.js";
import { needDecision } from "../../../packages/workflow/src/sourceSteps.js";
import { MemoryWorkArea } from "../../../packages/workflow/src/WorkArea.js";

/** A compose decision as the Decide step stores it: the core's decision and the batch size. */
function composeDecision(): Decision {
  const plan = planChunks(40 * MiB, 8 * MiB);
  const decided = decideObject({
    source: { size: plan.size, etag: '"s"', archived: false, attributes: { metadata: {} } },
    destination: { size: plan.size, etag: '"d"', attributes: { metadata: {} } },
    plan,
    changed: [1, 3],
    options: {
      serverSideCopy: false,
      verify: "changed",
      copyTags: false,
      destinationChecksContentMd5: false,
      copySources: { old: true, source: true },
    },
  });
  return { ...decided, batchSize: 2 };
}

describe("the stored decision", () => {
  it("reads back exactly what the core decided", async () => {
    const work = new MemoryWorkArea();
    const decision = composeDecision();
    expect(decision.action).toBe("compose");
    await work.put(workKeys.decision("r1", "k"), decision);
    expect(await needDecision(work, "r1", "k")).toEqual(decision);
    expect(DecisionSchema.parse(decision)).toEqual(decision);
  });

  it.each([
    [
      "a part of an unknown kind",
      (d: Decision) => Object.assign(d.parts[0]!, { kind: "fromSomewhere" }),
      "parts.0.kind",
    ],
    [
      "a part numbered 0",
      (d: Decision) => Object.assign(d.parts[1]!, { partNumber: 0 }),
      "parts.1.partNumber",
    ],
    ["a negative offset", (d: Decision) => Object.assign(d.parts[2]!, { offset: -1 }), "parts.2.offset"],
    [
      "a condition of both kinds",
      (d: Decision) => Object.assign(d.condition, { ifNoneMatch: "*" }),
      "condition",
    ],
    ["a missing verify list", (d: Decision) => Reflect.deleteProperty(d, "verify"), "verify"],
  ])("refuses %s, naming the field", async (_, spoil, field) => {
    const work = new MemoryWorkArea();
    const decision = composeDecision();
    spoil(decision);
    await work.put(workKeys.decision("r1", "k"), decision);
    const error = await needDecision(work, "r1", "k").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
  });
});
