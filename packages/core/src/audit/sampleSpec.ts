import { ValidationError } from "../errors.js";

/**
 * How much of a side's bytes an audit or scrub reads: `count` ranges drawn uniformly, each
 * range with probability `fraction` (so about that fraction of the bytes), or every range.
 */
export type SampleSpec =
  | { kind: "count"; count: number }
  | { kind: "fraction"; fraction: number }
  | { kind: "full" };

const COUNT = /^\d+$/;
const PERCENT = /^(\d+(?:\.\d+)?)%$/;
const FRACTION = /^\d*\.\d+$/;

/** What a sample's count counts: an audit's ranges, a scrub's chunks. */
export type SampleUnit = "ranges" | "chunks";

/**
 * Reads a sample size: a whole number of `unit` (`200`), a percentage of the bytes (`1%`,
 * `0.5%`) or a fraction of them (`0.01`). `100%` and `1.0` are refused: that is `--full`.
 *
 * @throws ValidationError naming `field` and the forms it takes
 */
export function parseSampleSpec(text: string, field: string, unit: SampleUnit = "ranges"): SampleSpec {
  const expected = `a number of ${unit} (200), a percentage (1%) or a fraction (0.01) of the bytes, got "${text}"`;
  const trimmed = typeof text === "string" ? text.trim() : "";
  if (COUNT.test(trimmed)) {
    const count = Number(trimmed);
    if (!Number.isSafeInteger(count) || count < 1) throw new ValidationError(field, expected);
    return { kind: "count", count };
  }
  const percent = PERCENT.exec(trimmed);
  const fraction = percent ? Number(percent[1]) / 100 : FRACTION.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (Number.isNaN(fraction)) throw new ValidationError(field, expected);
  if (!(fraction > 0 && fraction < 1)) {
    throw new ValidationError(field, `${expected} (a fraction above 0 and below 1; use --full for all)`);
  }
  return { kind: "fraction", fraction };
}

/** The spec as a user would write it, for reports: a count is of `unit` (an audit's ranges, a scrub's chunks). */
export function formatSampleSpec(spec: SampleSpec, unit: SampleUnit = "ranges"): string {
  if (spec.kind === "full") return "full";
  if (spec.kind === "count") return `${spec.count} ${spec.count === 1 ? unit.slice(0, -1) : unit}`;
  return `${Number((spec.fraction * 100).toPrecision(6))}%`;
}

/**
 * The probability that `k` ranges drawn independently and uniformly all miss corruption that
 * touches a fraction `f` of the ranges: `(1 - f)^k`. Ranges drawn without repeats miss it
 * less often still, so this is an upper bound for the sample an audit draws.
 */
export function unseenProbability(f: number, k: number): number {
  if (!(f >= 0 && f <= 1) || !(k >= 0)) throw new ValidationError("unseenProbability", "0 <= f <= 1, k >= 0");
  return (1 - f) ** k;
}
