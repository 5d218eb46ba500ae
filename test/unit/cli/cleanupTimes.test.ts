import { describe, expect, it } from "vitest";
import { parseAge, parseTime } from "../../../packages/cli/src/cleanup.js";

describe("cleanup's --started-before and --older-than", () => {
  it("takes ISO 8601 times with their zone, seconds and fractions optional", () => {
    expect(parseTime("2026-12-05T12:26:03Z", "--started-before")).toBe(Date.UTC(2026, 11, 5, 12, 26, 3));
    expect(parseTime("2026-12-05T12:26Z", "--started-before")).toBe(Date.UTC(2026, 11, 5, 12, 26));
    expect(parseTime("2026-12-05T13:26:03.5+01:00", "--started-before")).toBe(
      Date.UTC(2026, 11, 5, 12, 26, 3, 500),
    );
    expect(parseTime("2024-02-29T00:00:00Z", "--started-before")).toBe(Date.UTC(2024, 1, 29));
  });

  it.each([
    "2026-02-30T00:00:00Z",
    "2025-02-29T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-12-05T24:00:00Z",
    "2026-12-05T12:60:00Z",
    "2026-12-05T12:26:03",
    "12:26",
    "2026-12-05",
  ])("refuses %s, a time that does not exist or names no zone, naming the flag", (text) => {
    expect(() => parseTime(text, "--started-before")).toThrow(
      `--started-before: expected an ISO 8601 time with its zone such as 2026-12-05T12:26:03Z, got "${text}"`,
    );
  });

  it("takes ages with a unit, or a bare 0", () => {
    expect(parseAge("90s", "--older-than")).toBe(90_000);
    expect(parseAge("0", "--older-than")).toBe(0);
    expect(() => parseAge("90", "--older-than")).toThrow(/--older-than/);
  });
});
