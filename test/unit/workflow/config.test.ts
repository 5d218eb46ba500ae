import { readFileSync } from "node:fs";
import { DIGEST_ALGORITHMS, VARIANTS, ValidationError } from "@chunksync/core";
import { keyFilter, keyGlob } from "@chunksync/sync";
import {
  CONFIG_ALGORITHMS,
  CONFIG_VARIANTS,
  cachedPairingSecret,
  executionNameForWindow,
  indexLocationOf,
  MemoryWorkArea,
  parseConfig,
  startScheduledRun,
  validateScheduleExpression,
} from "@chunksync/workflow";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

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

describe("deployment config", () => {
  it("offers exactly the core's algorithms and variants", () => {
    expect([...CONFIG_ALGORITHMS]).toEqual([...DIGEST_ALGORITHMS]);
    expect([...CONFIG_VARIANTS]).toEqual([...VARIANTS]);
  });

  it("fills defaults and has no schedule unless configured", () => {
    const config = parseConfig(minimal);
    expect(config).toMatchObject({
      chunkSize: "8MiB",
      algorithm: "sha256",
      variant: "encode",
      maxConcurrency: 40,
    });
    expect(config.schedule).toBeUndefined();
    expect(config.source.prefix).toBe("");
    expect(config).toMatchObject({ filters: [], delete: false });
  });

  it.each([
    [{ ...minimal, destination: { bucket: "dst-bucket", region: "Frankfurt" } }, "destination.region"],
    [{ ...minimal, source: { bucket: "UPPER", region: "eu-west-1" } }, "source.bucket"],
    [{ ...minimal, chunkSize: "4MiB" }, "chunkSize"],
    [{ ...minimal, chunkSize: "8MB" }, "chunkSize"],
    [{ ...minimal, maxConcurrency: 0 }, "maxConcurrency"],
    [{ ...minimal, schedule: { expression: "every hour" } }, "schedule.expression"],
    [{ ...minimal, bogus: true }, "config"],
    [{ ...minimal, include: "*.jpg" }, "include"],
    [{ ...minimal, exclude: [""] }, "exclude.0"],
    [{ ...minimal, include: ["*.jpg"], filters: [] }, "include"],
    [{ ...minimal, filters: [{ kind: "only", glob: "*.jpg" }] }, "filters.0.kind"],
    [{ ...minimal, filters: [{ kind: "include", glob: "" }] }, "filters.0.glob"],
    [{ ...minimal, filters: ["*.jpg"] }, "filters.0"],
    [{ ...minimal, delete: "yes" }, "delete"],
  ])("refuses %j naming %s", (input, field) => {
    expect(fieldOf(() => parseConfig(input))).toBe(field);
  });

  it("reads the include/exclude of older configs as filters that select the same keys", () => {
    const segment = fc.constantFrom("a", "b", "a.jpg", "b.txt", ".hidden");
    const key = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join("/"));
    const glob = fc.constantFrom("*", "**", "*.jpg", "**/*.jpg", "a/**", "b.txt", "*/b.txt");
    const globs = fc.array(glob, { maxLength: 3 });
    fc.assert(
      fc.property(globs, globs, fc.array(key, { maxLength: 8 }), (include, exclude, keys) => {
        const config = parseConfig({ ...minimal, include, exclude });
        // Older configs: a key was selected when it matched an include (if any) and no exclude.
        const any = (globs: string[], k: string) => globs.some((g) => keyGlob("include", g)(k));
        const before = (k: string) => (include.length === 0 || any(include, k)) && !any(exclude, k);
        expect(keys.filter(keyFilter(config.filters))).toEqual(keys.filter(before));
      }),
    );
  });

  it("parses its own output to the same config (the functions re-parse what the deployment passes)", () => {
    const config = parseConfig({ ...minimal, include: ["*.jpg"], exclude: ["tmp/**"] });
    expect(parseConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
  });

  it("accepts the example config, filters included", () => {
    const example = JSON.parse(
      readFileSync(new URL("../../../chunksync.config.example.json", import.meta.url), "utf8"),
    );
    expect(parseConfig(example).filters).toEqual([
      { kind: "exclude", glob: "**" },
      { kind: "include", glob: "**/*.jpg" },
      { kind: "exclude", glob: "tmp/**" },
    ]);
  });

  it("keeps each side's digest index in its own part of the work area unless told otherwise", () => {
    const config = parseConfig(minimal);
    expect(indexLocationOf(config, "source", "cs-work")).toEqual({
      bucket: "cs-work",
      prefix: "source/index/",
    });
    expect(indexLocationOf(config, "destination", "cs-work")).toEqual({
      bucket: "cs-work",
      prefix: "destination/index/",
    });
    // In the work bucket, an index outside the side's own part would be within the other side's reach.
    const shared = { ...minimal, source: { ...minimal.source, index: { prefix: "shared/index/" } } };
    expect(fieldOf(() => parseConfig(shared))).toBe("source.index.prefix");
    const crossed = { ...minimal, destination: { ...minimal.destination, index: { prefix: "source/x/" } } };
    expect(fieldOf(() => parseConfig(crossed))).toBe("destination.index.prefix");
    // Nor in the other side's synced location.
    const inOther = {
      ...minimal,
      source: { ...minimal.source, index: { bucket: "dst-bucket", prefix: "idx/" } },
    };
    expect(fieldOf(() => parseConfig(inOther))).toBe("source.index.prefix");
    // Nor one whose files' keys would pass S3's 1,024 bytes (512 characters of three bytes each).
    const long = (prefix: string) => ({
      ...minimal,
      destination: { ...minimal.destination, index: { bucket: "idx-bucket", prefix } },
    });
    expect(fieldOf(() => parseConfig(long(`${"日".repeat(320)}/`)))).toBe("destination.index.prefix");
    expect(parseConfig(long(`${"日".repeat(319)}/`)).destination.index?.prefix).toHaveLength(320);
  });

  it("takes an index kept inside its own side's synced prefix, not the prefix itself", () => {
    const config = parseConfig({
      ...minimal,
      destination: {
        ...minimal.destination,
        prefix: "backup",
        index: { bucket: "dst-bucket", prefix: "backup/.index/" },
      },
    });
    expect(indexLocationOf(config, "destination", "cs-work")).toEqual({
      bucket: "dst-bucket",
      prefix: "backup/.index/",
    });
    // The synced prefix itself: nothing would set the index apart from the synced objects.
    const itself = {
      ...minimal,
      destination: {
        ...minimal.destination,
        prefix: "backup",
        index: { bucket: "dst-bucket", prefix: "backup/" },
      },
    };
    expect(fieldOf(() => parseConfig(itself))).toBe("destination.index.prefix");
  });

  it("accepts EventBridge rate and cron expressions, with EventBridge's singular/plural rule", () => {
    for (const e of ["rate(1 hour)", "rate(15 minutes)", "rate(2 days)", "cron(0 3 * * ? *)"]) {
      expect(validateScheduleExpression(e)).toBe(e);
    }
    for (const e of [
      "rate(1 hours)",
      "rate(2 hour)",
      "rate(0 minutes)",
      "cron(0 3 * * ?)",
      "at(2026-01-01T00:00:00)",
    ]) {
      expect(() => validateScheduleExpression(e), e).toThrow(ValidationError);
    }
  });
});

describe("scheduled runs", () => {
  it("names the execution after the schedule window, in characters an execution name may hold", () => {
    expect(executionNameForWindow("2026-11-25T12:00:00Z")).toBe("scheduled-20261125T120000Z");
    expect(executionNameForWindow("2026-11-25T12:00:00.000Z")).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
  });

  it("starts nothing new on a duplicate trigger for the same window", async () => {
    const started = new Set<string>();
    const starter = {
      async start(name: string) {
        if (started.has(name)) return "exists" as const;
        started.add(name);
        return "started" as const;
      },
      async running() {
        return undefined;
      },
    };
    const first = await startScheduledRun(starter, "2026-11-25T12:00:00Z");
    const duplicate = await startScheduledRun(starter, "2026-11-25T12:00:00Z");
    const next = await startScheduledRun(starter, "2026-11-25T13:00:00Z");
    expect([first.started, duplicate.started, next.started]).toEqual([true, false, true]);
    expect(started.size).toBe(2);
  });

  it("starts nothing while an earlier window's run still goes; the first window after it ends starts", async () => {
    const started: string[] = [];
    let going: string | undefined = "scheduled-20261125T120000Z";
    const starter = {
      async start(name: string) {
        started.push(name);
        return "started" as const;
      },
      async running() {
        return going;
      },
    };
    const during = await startScheduledRun(starter, "2026-11-25T13:00:00Z");
    expect(during).toEqual({
      executionName: "scheduled-20261125T130000Z",
      started: false,
      skipped: "the run scheduled-20261125T120000Z is still going",
    });
    expect(started).toEqual([]);
    // A retried trigger of the running window itself is the same run: it asks, and is told it exists.
    await startScheduledRun(starter, "2026-11-25T12:00:00Z");
    expect(started).toEqual(["scheduled-20261125T120000Z"]);
    going = undefined;
    expect((await startScheduledRun(starter, "2026-11-25T14:00:00Z")).started).toBe(true);
    expect(started).toEqual(["scheduled-20261125T120000Z", "scheduled-20261125T140000Z"]);
  });
});

describe("pairing secret loader", () => {
  it("fetches once within the TTL, again after it, and never caches a failure", async () => {
    let now = 0;
    let calls = 0;
    let fail = true;
    const load = cachedPairingSecret(
      async () => {
        calls++;
        if (fail) throw new Error("unavailable");
        return "ab".repeat(16) + "cd".repeat(16);
      },
      1000,
      () => now,
    );
    await expect(load()).rejects.toThrow("unavailable");
    fail = false;
    const a = await load();
    const b = await load();
    expect(a.length).toBe(32);
    expect(b).toBe(a);
    now = 5000;
    await load();
    expect(calls).toBe(3);
  });
});

describe("memory work area", () => {
  it("hands out copies and lists keys in order", async () => {
    const work = new MemoryWorkArea();
    const value = { a: [1] };
    await work.put("shared/b", value);
    await work.put("shared/a", 1);
    value.a.push(2);
    expect(await work.get("shared/b")).toEqual({ a: [1] });
    const keys: string[] = [];
    for await (const k of work.list("shared/")) keys.push(k);
    expect(keys).toEqual(["shared/a", "shared/b"]);
    expect(await work.get("missing")).toBeUndefined();
  });
});
