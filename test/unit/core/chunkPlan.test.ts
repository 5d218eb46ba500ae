import { constants } from "node:buffer";
import {
  ChunkPlanError,
  chunkPlanSchema,
  chunkRange,
  chunkRanges,
  DEFAULT_CHUNK_SIZE,
  formatBytes,
  GiB,
  KiB,
  MAX_CHUNK_SIZE,
  MAX_OBJECT_SIZE,
  MAX_PARTS,
  MAX_REQUESTED_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  MiB,
  parseByteSize,
  planChunks,
  TiB,
  ValidationError,
  validatePlan,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

const size = fc.oneof(
  fc.integer({ min: 0, max: MAX_OBJECT_SIZE }),
  fc.integer({ min: 0, max: 64 * MiB }),
  // Near the edges where the chunk size has to grow or the part limit bites.
  fc
    .integer({ min: 0, max: 1_000_000 })
    .map((d) => Math.max(0, MAX_PARTS * DEFAULT_CHUNK_SIZE - 500_000 + d)),
  fc.integer({ min: 0, max: 1_000_000 }).map((d) => MAX_OBJECT_SIZE - d),
);
const chunkSize = fc.oneof(
  fc.integer({ min: MIN_CHUNK_SIZE, max: MAX_REQUESTED_CHUNK_SIZE }),
  fc.integer({ min: 5, max: 64 }).map((n) => n * MiB),
  fc.constantFrom(MIN_CHUNK_SIZE, MAX_REQUESTED_CHUNK_SIZE, DEFAULT_CHUNK_SIZE),
);

describe("planChunks", () => {
  test("constants follow S3's multipart limits", () => {
    expect([KiB, MiB, GiB, TiB]).toEqual([1024, 1024 ** 2, 1024 ** 3, 1024 ** 4]);
    expect(MIN_CHUNK_SIZE).toBe(5 * MiB);
    expect(MAX_CHUNK_SIZE).toBe(5 * GiB);
    expect(MAX_PARTS).toBe(10_000);
    expect(MAX_OBJECT_SIZE).toBe(10_000 * 5 * GiB);
    expect(Number.isSafeInteger(MAX_OBJECT_SIZE)).toBe(true);
    expect(DEFAULT_CHUNK_SIZE).toBe(8 * MiB);
  });

  test("ranges tile [0, size) exactly; all but the last chunk are full; count and size within limits", () => {
    fc.assert(
      fc.property(size, chunkSize, (n, c) => {
        const plan = planChunks(n, c);
        expect(plan.size).toBe(n);
        expect(plan.count).toBeLessThanOrEqual(MAX_PARTS);
        expect(plan.chunkSize).toBeGreaterThanOrEqual(Math.max(c, MIN_CHUNK_SIZE));
        expect(plan.chunkSize).toBeLessThanOrEqual(MAX_CHUNK_SIZE);
        if (plan.chunkSize !== c) {
          // Grown only as far as needed, to a whole MiB.
          expect(plan.chunkSize % MiB).toBe(0);
          expect(Math.ceil(n / (plan.chunkSize - MiB))).toBeGreaterThan(MAX_PARTS);
        }
        const ranges = chunkRanges(plan);
        expect(ranges.length).toBe(plan.count);
        // Plain comparisons in the loop: up to 10,000 chunks per run, and expect() per chunk is slow.
        let next = 0;
        let bad: string | undefined;
        for (const [i, range] of ranges.entries()) {
          const last = i === ranges.length - 1;
          if (range.index !== i || range.offset !== next || range.length <= 0) bad = `chunk ${i} misplaced`;
          if (!last && range.length !== plan.chunkSize) bad = `chunk ${i} is not full`;
          if (range.length > plan.chunkSize) bad = `chunk ${i} is too long`;
          next += range.length;
        }
        expect(bad).toBeUndefined();
        expect(next).toBe(n);
      }),
      { numRuns: 300 },
    );
  });

  test("a plan survives a JSON round trip and passes validatePlan", () => {
    fc.assert(
      fc.property(size, chunkSize, (n, c) => {
        const plan = planChunks(n, c);
        const copy: unknown = JSON.parse(JSON.stringify(plan));
        expect(copy).toEqual({ ...plan });
        expect(validatePlan(copy)).toEqual({ ...plan });
      }),
    );
  });

  test("examples", () => {
    expect(planChunks(0)).toEqual({ size: 0, chunkSize: DEFAULT_CHUNK_SIZE, count: 0 });
    expect(planChunks(1)).toEqual({ size: 1, chunkSize: DEFAULT_CHUNK_SIZE, count: 1 });
    expect(planChunks(16 * MiB).count).toBe(2);
    expect(planChunks(16 * MiB + 1).count).toBe(3);
    expect(chunkRange(planChunks(16 * MiB + 1), 2)).toEqual({ index: 2, offset: 16 * MiB, length: 1 });
    // 100 GiB at 8 MiB would be 12,800 parts; the chunk grows to 11 MiB (ceil(10.24 MiB)).
    expect(planChunks(100 * GiB)).toEqual({ size: 100 * GiB, chunkSize: 11 * MiB, count: 9310 });
    expect(planChunks(MAX_OBJECT_SIZE)).toEqual({
      size: MAX_OBJECT_SIZE,
      chunkSize: MAX_CHUNK_SIZE,
      count: MAX_PARTS,
    });
  });

  test("rejects chunk sizes outside S3's part limits, naming the value and the range", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: -10, max: MIN_CHUNK_SIZE - 1 }),
          fc.integer({ min: MAX_REQUESTED_CHUNK_SIZE + 1, max: Number.MAX_SAFE_INTEGER }),
          fc.double().filter((x) => !Number.isInteger(x)),
        ),
        (c) => {
          const error = captureError(() => planChunks(MiB, c));
          expect(error).toBeInstanceOf(ChunkPlanError);
          expect((error as ChunkPlanError).code).toBe("CHUNK_SIZE_OUT_OF_RANGE");
        },
      ),
    );
    const error = captureError(() => planChunks(MiB, 4 * MiB)) as ChunkPlanError;
    expect(error.message).toContain("4.0 MiB");
    expect(error.message).toContain("4194304");
    // The limits in bytes too: 5 MiB - 1 is refused "from 5.0 MiB (5242880 bytes)".
    expect(error.message).toContain("from 5.0 MiB (5242880 bytes) to ");
    expect(error.message).toContain("5.0 GiB");
  });

  test("asks for no chunk a Buffer cannot hold: above 4 GiB on Node.js 20, the reason named", () => {
    expect(MAX_REQUESTED_CHUNK_SIZE).toBe(Math.min(MAX_CHUNK_SIZE, constants.MAX_LENGTH));
    if (MAX_REQUESTED_CHUNK_SIZE === MAX_CHUNK_SIZE) return;
    const error = captureError(() => planChunks(0, MAX_CHUNK_SIZE)) as ChunkPlanError;
    expect(error.code).toBe("CHUNK_SIZE_OUT_OF_RANGE");
    expect(error.message).toContain(`to ${formatBytes(MAX_REQUESTED_CHUNK_SIZE)}`);
    expect(error.message).toContain("the largest buffer this Node.js holds");
    expect(planChunks(0, MAX_REQUESTED_CHUNK_SIZE).chunkSize).toBe(MAX_REQUESTED_CHUNK_SIZE);
  });

  test("rejects sizes that are not non-negative safe integers, and objects over 10,000 x 5 GiB", () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect((captureError(() => planChunks(bad)) as ChunkPlanError).code).toBe("INVALID_SIZE");
    }
    const error = captureError(() => planChunks(MAX_OBJECT_SIZE + 1)) as ChunkPlanError;
    expect(error.code).toBe("OBJECT_TOO_LARGE");
    expect(error.name).toBe("ChunkPlanError");
  });

  test("chunkRange rejects indices outside the plan", () => {
    const plan = planChunks(20 * MiB);
    for (const bad of [-1, plan.count, 0.5, Number.NaN]) {
      expect((captureError(() => chunkRange(plan, bad)) as ChunkPlanError).code).toBe(
        "CHUNK_INDEX_OUT_OF_RANGE",
      );
    }
  });
});

describe("validatePlan", () => {
  test.each([
    [{ size: 10, chunkSize: MIN_CHUNK_SIZE, count: 2 }, "plan.count"],
    [{ size: 10, chunkSize: MIN_CHUNK_SIZE - 1, count: 1 }, "plan.chunkSize"],
    [{ size: 10, chunkSize: MAX_CHUNK_SIZE + 1, count: 1 }, "plan.chunkSize"],
    [{ size: -1, chunkSize: MIN_CHUNK_SIZE, count: 0 }, "plan.size"],
    [{ size: MAX_OBJECT_SIZE + 1, chunkSize: MAX_CHUNK_SIZE, count: MAX_PARTS + 1 }, "plan.size"],
    [{ size: 200 * GiB, chunkSize: MIN_CHUNK_SIZE, count: 40960 }, "plan.count"],
    [{ size: "10", chunkSize: MIN_CHUNK_SIZE, count: 1 }, "plan.size"],
    [{ chunkSize: MIN_CHUNK_SIZE, count: 1 }, "plan.size"],
    [{ size: 10, chunkSize: MIN_CHUNK_SIZE, count: 1, extra: 1 }, "plan.extra"],
    [null, "plan"],
    ["plan", "plan"],
  ])("%j is refused naming %s", (plan, field) => {
    const error = captureError(() => validatePlan(plan));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
  });

  test("accepts exactly what the message schema accepts, as the same plan", () => {
    const near = (n: number) => fc.constantFrom(n - 1, n, n + 1);
    const field = fc.oneof(
      fc.integer({ min: 0, max: 30 * MiB }),
      near(MIN_CHUNK_SIZE),
      near(MAX_CHUNK_SIZE),
      near(MAX_PARTS),
      near(MAX_OBJECT_SIZE),
      near(Number.MAX_SAFE_INTEGER),
      fc.constantFrom(-0, 0.5, Number.NaN, Number.POSITIVE_INFINITY, "1", null),
    );
    const consistent = fc
      .record({
        size: fc.oneof(fc.integer({ min: 0, max: 60 * GiB }), near(MAX_OBJECT_SIZE)),
        chunkSize: fc.oneof(near(MIN_CHUNK_SIZE), near(MAX_CHUNK_SIZE)),
      })
      .map(({ size, chunkSize }) => ({ size, chunkSize, count: Math.ceil(size / chunkSize) }));
    const plans = fc.oneof(
      consistent,
      fc.record({ size: field, chunkSize: field, count: field }, { requiredKeys: [] }),
      // One field off, or one field too many.
      fc
        .tuple(consistent, fc.constantFrom("size", "chunkSize", "count"), field)
        .map(([p, k, v]) => ({ ...p, [k]: v })),
      fc.tuple(consistent, fc.anything()).map(([p, extra]) => ({ ...p, extra })),
    );
    fc.assert(
      fc.property(plans, (plan) => {
        const schema = chunkPlanSchema().safeParse(plan);
        if (schema.success) expect(validatePlan(plan)).toEqual(schema.data);
        else expect(captureError(() => validatePlan(plan))).toBeInstanceOf(ValidationError);
      }),
      { numRuns: 2000 },
    );
  });

  test("never throws anything but ValidationError", () => {
    fc.assert(
      fc.property(fc.anything(), (input) => {
        try {
          validatePlan(input);
        } catch (error) {
          expect(error).toBeInstanceOf(ValidationError);
        }
      }),
    );
  });
});

describe("parseByteSize and formatBytes", () => {
  test.each([
    ["8MiB", 8 * MiB],
    ["8 MiB", 8 * MiB],
    [" 8 mib ", 8 * MiB],
    ["8M", 8 * MiB],
    ["512KiB", 512 * KiB],
    ["512K", 512 * KiB],
    ["1GiB", GiB],
    ["1G", GiB],
    ["2TiB", 2 * TiB],
    ["1.5GiB", 1.5 * GiB],
    ["0.5 MiB", 512 * KiB],
    ["8388608", 8 * MiB],
    ["8388608B", 8 * MiB],
    ["0", 0],
  ])("%s = %d bytes", (text, bytes) => {
    expect(parseByteSize(text, "--chunk-size")).toBe(bytes);
  });

  test.each([["8MB"], ["8 mb"], ["1GB"], ["512KB"], ["512kB"], ["2TB"]])(
    "refuses decimal unit %s",
    (text) => {
      const error = captureError(() => parseByteSize(text, "--chunk-size")) as ValidationError;
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.field).toBe("--chunk-size");
      expect(error.message).toMatch(/[KMGT]iB/);
    },
  );

  test.each([
    [""],
    ["MiB"],
    ["-8MiB"],
    ["8 PiB"],
    ["8MiBs"],
    ["0.1KiB"],
    ["1e3"],
    ["8,0MiB"],
    ["99999999TiB"],
  ])("refuses %j naming the field", (text) => {
    const error = captureError(() => parseByteSize(text, "chunkSize")) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.field).toBe("chunkSize");
  });

  test("says a whole number too large to hold is too large, not that it is no whole number", () => {
    for (const text of ["99999999999999999999", "100000000000GiB"]) {
      const error = captureError(() => parseByteSize(text, "--chunk-size")) as ValidationError;
      expect(error.message).toContain("of at most 8192.0 TiB (9007199254740991 bytes)");
    }
    expect((captureError(() => parseByteSize("0.1KiB", "x")) as ValidationError).message).toContain(
      "a whole number of bytes",
    );
  });

  test("formatBytes", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(512)).toBe("512 B");
    // A rate below 1 KiB/s is a fraction: shown whole, not as 333.79120879120876 B.
    expect(formatBytes(333.79120879120876)).toBe("334 B");
    expect(formatBytes(8 * MiB)).toBe("8.0 MiB");
    expect(formatBytes(1.5 * GiB)).toBe("1.5 GiB");
    expect(formatBytes(5 * GiB)).toBe("5.0 GiB");
    expect(formatBytes(3 * TiB)).toBe("3.0 TiB");
    // Never 1024.0 of a unit: the next one up, as the value is rounded.
    expect(formatBytes(MiB - 1)).toBe("1.0 MiB");
    expect(formatBytes(GiB - 100)).toBe("1.0 GiB");
    expect(formatBytes(1023 * KiB)).toBe("1023.0 KiB");
  });

  test("formatBytes output of whole units parses back", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1023 }), fc.constantFrom(KiB, MiB, GiB, TiB), (n, unit) => {
        const text = formatBytes(n * unit);
        expect(parseByteSize(text.replace(".0", ""), "x")).toBe(n * unit);
      }),
    );
  });
});

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}
