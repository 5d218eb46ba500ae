import { seededRandom } from "@chunksync/core";
import { MemoryObjectStore } from "@chunksync/storage";
import { type AuditOptions, runAudit, type ScrubReport } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { auditText, scrubText } from "../../../packages/cli/src/auditRun.js";
import { seededBytes } from "../../support/data.js";

const MiB = 1024 * 1024;
const secret = Buffer.from(Array.from({ length: 32 }, (_, i) => 11 + i));

async function sides() {
  const source = new MemoryObjectStore({ bucket: "src" });
  const destination = new MemoryObjectStore({ bucket: "dst" });
  for (const store of [source, destination])
    for (const key of ["a", "b"]) {
      const data = seededBytes(key, 2 * MiB + 7);
      await store.put(key, data, data.length, { metadata: {} }, undefined);
    }
  return (sample: AuditOptions["sample"]) =>
    runAudit({
      source,
      sourcePrefix: "",
      destination,
      destinationPrefix: "",
      secret,
      sample,
      rangeSize: MiB,
      concurrency: 2,
      filters: [],
      random: seededRandom("text"),
    });
}

/** The line of a report's text that states the chance of corruption having gone unseen. */
const unseenLine = (text: string) => text.split("\n").find((line) => line.includes("unseen")) ?? "";

describe("audit's text report", () => {
  it("after a full audit, says every range was read and states no chance of having missed one", async () => {
    const audit = await sides();
    const line = unseenLine(auditText(await audit({ kind: "full" }), "s3://src/", false));
    expect(line).toBe("chance that corruption would have gone unseen: 0 (every range was read)");
  });

  it("after a sample, states (1 - f)^k for the ranges sampled", async () => {
    const audit = await sides();
    const report = await audit({ kind: "count", count: 2 });
    expect(auditText(report, "s3://src/", false)).toContain("2 ranges of up to 1.0 MiB sampled (2 ranges)");
    expect(unseenLine(auditText(report, "s3://src/", false))).toBe(
      "chance that corruption would have gone unseen (1 - f)^k: 0.1% of ranges: 0.998, 1% of ranges: 0.980, 10% of ranges: 0.810",
    );
  });
});

describe("audit's text report, counted", () => {
  it("says one range and one object in the singular", async () => {
    const source = new MemoryObjectStore({ bucket: "src" });
    const destination = new MemoryObjectStore({ bucket: "dst" });
    await source.put("a", Buffer.from("one"), 3, { metadata: {} }, undefined);
    const report = await runAudit({
      source,
      sourcePrefix: "",
      destination,
      destinationPrefix: "",
      secret: Buffer.alloc(32, 1),
      sample: { kind: "full" },
      rangeSize: MiB,
      concurrency: 1,
      filters: [],
    });
    const text = auditText(report, "s3://src/", false);
    expect(text).toContain("0 ranges of up to 1.0 MiB sampled (full), 0 B of 3 B in 0 of 1 object\n");
    expect(text).toContain("1 object missing on destination");
    // Stopped, its totals are of what it had listed by then.
    expect(auditText({ ...report, interrupted: true }, "s3://src/", false)).toContain(
      "0 B of 3 B in 0 of 1 object listed before the stop\n",
    );
  });
});

describe("scrub's text report", () => {
  const report = (everyChunkRead: boolean, sampled: number): ScrubReport => ({
    interrupted: false,
    startedAt: new Date(0).toISOString(),
    durationMs: 5,
    sample: everyChunkRead ? "full" : "1%",
    index: { location: "/tmp/index", found: "loaded", notes: [], marked: 0, cleared: 0, unread: [] },
    objects: { listed: 3, indexed: 3, sampled: 3, rotted: 0, failed: 0 },
    chunks: { sampled, equal: sampled, differs: 0 },
    bytes: { listed: 3000, sampled: 3000, read: 3000 },
    rotted: [],
    failures: [],
    everyChunkRead,
    unseen: [0.001, 0.01, 0.1].map((fraction) => ({
      fraction,
      probability: everyChunkRead ? 0 : (1 - fraction) ** sampled,
    })),
  });

  it("after a full scrub, says every chunk was read", () => {
    expect(unseenLine(scrubText(report(true, 3), "s3://dst/", false))).toBe(
      "chance that corruption would have gone unseen: 0 (every chunk was read)",
    );
  });

  it("after a full scrub of a side some of whose objects have no entry, says which chunks were read", () => {
    const partly = {
      ...report(true, 3),
      objects: { listed: 9, indexed: 3, sampled: 3, rotted: 0, failed: 0 },
    };
    expect(unseenLine(scrubText(partly, "s3://dst/", false))).toBe(
      "chance that corruption would have gone unseen: 0 in the indexed objects (every chunk of them was read); 6 listed objects with no entry standing for their versions were not scrubbed",
    );
  });

  it("after a sample, states (1 - f)^k for the chunks sampled", () => {
    expect(unseenLine(scrubText(report(false, 1), "s3://dst/", false))).toBe(
      "chance that corruption would have gone unseen (1 - f)^k: 0.1% of chunks: 0.999, 1% of chunks: 0.990, 10% of chunks: 0.900",
    );
  });
});
