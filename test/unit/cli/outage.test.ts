import type { ObjectResult } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { OutageWatch, outageLimit } from "../../../packages/cli/src/outage.js";

const result = (state: ObjectResult["state"], code?: string): ObjectResult => ({
  destinationKey: "k",
  size: 1,
  state,
  action: "none",
  planned: { transfer: 0, serverSide: 0 },
  applied: state !== "failed",
  attempts: 1,
  ...(code ? { error: { code, message: `${code} message` } } : {}),
});

describe("a run's storage that stopped answering", () => {
  it("is named once as many objects in a row as the limit failed for want of an answer", () => {
    const watch = new OutageWatch(3);
    expect(watch.add(result("failed", "STORAGE_UNAVAILABLE"))).toBe(false);
    expect(watch.add(result("failed", "SLOW_DOWN"))).toBe(false);
    expect(watch.add(result("failed", "STORAGE_UNAVAILABLE"))).toBe(true);
    expect(watch.last).toEqual({ code: "STORAGE_UNAVAILABLE", message: "STORAGE_UNAVAILABLE message" });
  });

  it("an object settled between them starts the count again; other failures neither count nor reset it", () => {
    const watch = new OutageWatch(2);
    watch.add(result("failed", "STORAGE_UNAVAILABLE"));
    expect(watch.add(result("identical"))).toBe(false);
    expect(watch.add(result("failed", "STORAGE_UNAVAILABLE"))).toBe(false);
    expect(watch.add(result("failed", "ACCESS_DENIED"))).toBe(false);
    expect(watch.inRow).toBe(1);
    expect(watch.add(result("failed", "STORAGE_UNAVAILABLE"))).toBe(true);
  });

  it("stops a run after two rounds of its concurrency, sixteen objects at least", () => {
    expect(outageLimit(1)).toBe(16);
    expect(outageLimit(8)).toBe(16);
    expect(outageLimit(32)).toBe(64);
  });
});
