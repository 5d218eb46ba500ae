import { readFileSync } from "node:fs";
import { ValidationError } from "@chunksync/core";
import { parseConfig } from "@chunksync/workflow";
import { describe, expect, it } from "vitest";
import { handler as auditList } from "../../../functions/auditList.js";
import { handler as destinationAudit } from "../../../functions/destinationAudit.js";
import { handler as destinationAuditExtras } from "../../../functions/destinationAuditExtras.js";

const minimal = {
  source: { bucket: "src-bucket", region: "eu-west-1" },
  destination: { bucket: "dst-bucket", region: "eu-central-1" },
};

function fieldOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).field;
  }
  throw new Error("accepted");
}

describe("deployment config: the scheduled audit", () => {
  it("is off unless configured, and defaults to a 1% sample of 1 MiB ranges", () => {
    expect(parseConfig(minimal).audit).toBeUndefined();
    const config = parseConfig({ ...minimal, audit: { schedule: { expression: "rate(7 days)" } } });
    expect(config.audit).toEqual({
      schedule: { expression: "rate(7 days)", timezone: "UTC" },
      sample: "1%",
      rangeSize: "1MiB",
    });
  });

  it("is in the example config", () => {
    const example = JSON.parse(
      readFileSync(new URL("../../../chunksync.config.example.json", import.meta.url), "utf8"),
    );
    expect(parseConfig(example).audit?.schedule.expression).toBe("rate(7 days)");
  });

  it.each([
    [{ schedule: { expression: "weekly" } }, "audit.schedule.expression"],
    [{ schedule: { expression: "rate(1 day)" }, sample: "200" }, "audit.sample"],
    [{ schedule: { expression: "rate(1 day)" }, sample: "150%" }, "audit.sample"],
    [{ schedule: { expression: "rate(1 day)" }, rangeSize: "1KiB" }, "audit.rangeSize"],
    [{ sample: "1%" }, "audit.schedule"],
  ])("refuses %j, naming %s", (audit, field) => {
    expect(fieldOf(() => parseConfig({ ...minimal, audit }))).toBe(field);
  });
});

describe("the audit's Lambda handlers refuse malformed events before anything else", () => {
  it.each([
    ["auditList", { runId: "r1", page: -1 }, "page", auditList],
    ["destinationAudit", { runId: "r1" }, "key", destinationAudit],
    ["destinationAuditExtras", { runId: "r1" }, "page", destinationAuditExtras],
  ])("%s: %j names %s", async (_name, event, field, h) => {
    const call = h as unknown as (e: unknown, c: never, cb: never) => Promise<unknown>;
    await expect(call(event, {} as never, (() => {}) as never)).rejects.toMatchObject({
      name: "ValidationError",
      field,
    });
  });
});
