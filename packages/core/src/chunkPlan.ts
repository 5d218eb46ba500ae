import { constants } from "node:buffer";
import { z } from "zod";
import { describeIssue } from "./describeIssue.js";
import { ChunkPlanError, ValidationError } from "./errors.js";
import { lazySchema } from "./lazySchema.js";

/** 1 KiB = 1024 bytes. */
export const KiB = 1024;
/** 1 MiB = 1024 KiB. */
export const MiB = 1024 * KiB;
/** 1 GiB = 1024 MiB. */
export const GiB = 1024 * MiB;
/** 1 TiB = 1024 GiB. */
export const TiB = 1024 * GiB;

/**
 * Smallest chunk size. Chunks become multipart-upload parts, and S3 rejects any
 * part but the last that is smaller than 5 MiB.
 */
export const MIN_CHUNK_SIZE = 5 * MiB;
/** Largest chunk size: S3's maximum part size (UploadPart and UploadPartCopy). */
export const MAX_CHUNK_SIZE = 5 * GiB;
/**
 * Largest chunk size a run may ask for: S3's, or less where a Buffer cannot hold a whole chunk
 * (4 GiB on Node.js 20), as a part read into memory must.
 */
export const MAX_REQUESTED_CHUNK_SIZE = Math.min(MAX_CHUNK_SIZE, constants.MAX_LENGTH);
/** S3 allows at most 10,000 parts in one multipart upload, so a plan never has more chunks. */
export const MAX_PARTS = 10_000;
/**
 * Largest object a plan can cover: 10,000 parts of 5 GiB. (S3 itself caps
 * objects at 5 TiB; other S3-compatible stores may not, so the plan only
 * enforces what the part rules force.)
 */
export const MAX_OBJECT_SIZE = MAX_PARTS * MAX_CHUNK_SIZE;
/**
 * Default chunk size. Small enough that a one-byte edit re-sends little, big
 * enough that an object of up to 78 GiB needs no larger chunks.
 */
export const DEFAULT_CHUNK_SIZE = 8 * MiB;

/**
 * How an object of `size` bytes is cut into chunks: chunk `i` covers bytes
 * `[i * chunkSize, min((i + 1) * chunkSize, size))`. Plain data, so it
 * survives a JSON round trip and can travel between the two sides.
 */
export interface ChunkPlan {
  readonly size: number;
  readonly chunkSize: number;
  readonly count: number;
}

/** The byte range of one chunk of a plan. */
export interface ChunkRange {
  readonly index: number;
  readonly offset: number;
  readonly length: number;
}

/** Exact `ceil(a / b)` for non-negative safe integers (no floating-point rounding at the edges). */
function ceilDiv(a: number, b: number): number {
  const remainder = a % b;
  return (a - remainder) / b + (remainder > 0 ? 1 : 0);
}

/**
 * Formats a byte count with the largest binary unit that fits and one decimal,
 * such as `8.0 MiB`; counts below 1 KiB print as `512 B`, whole (a rate is a fraction).
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return `${n} B`;
  if (Math.abs(n) < KiB) return `${Math.round(n)} B`;
  const units: [string, number][] = [
    ["TiB", TiB],
    ["GiB", GiB],
    ["MiB", MiB],
    ["KiB", KiB],
  ];
  // The largest unit the value is one of once rounded as shown: 1,048,575 B is 1.0 MiB, not 1024.0 KiB.
  for (const [unit, scale] of units) {
    if (Math.abs(n) >= scale * (1 - 0.05 / 1024)) return `${(n / scale).toFixed(1)} ${unit}`;
  }
  return `${n} B`;
}

function describeSize(n: number): string {
  // The rounded unit alone hides off-by-one mistakes ("5.0 MiB" for 5 MiB - 1), so show both.
  const exact = `${n} ${n === 1 ? "byte" : "bytes"}`;
  return Number.isSafeInteger(n) && Math.abs(n) >= KiB ? `${formatBytes(n)} (${exact})` : exact;
}

/**
 * Plans the chunks of an object of `size` bytes.
 *
 * The chunk size is the requested one unless the object would then need more
 * than 10,000 parts; then it grows to `ceil(size / 10,000)` rounded up to a
 * whole MiB, so `count <= MAX_PARTS` always holds. A size of 0 gives no chunks.
 *
 * @param size - object size in bytes: a non-negative safe integer up to {@link MAX_OBJECT_SIZE}
 * @param requestedChunkSize - an integer in [{@link MIN_CHUNK_SIZE}, {@link MAX_REQUESTED_CHUNK_SIZE}]
 * @throws ChunkPlanError `CHUNK_SIZE_OUT_OF_RANGE`, `INVALID_SIZE` or `OBJECT_TOO_LARGE`
 */
export function planChunks(size: number, requestedChunkSize: number = DEFAULT_CHUNK_SIZE): ChunkPlan {
  const max = MAX_REQUESTED_CHUNK_SIZE;
  if (
    !Number.isInteger(requestedChunkSize) ||
    requestedChunkSize < MIN_CHUNK_SIZE ||
    requestedChunkSize > max
  ) {
    const why =
      max < MAX_CHUNK_SIZE
        ? `S3's smallest part; the largest buffer this Node.js holds, below S3's largest part of ${formatBytes(MAX_CHUNK_SIZE)}`
        : "the S3 part size limits";
    throw new ChunkPlanError(
      "CHUNK_SIZE_OUT_OF_RANGE",
      `chunk size ${describeSize(requestedChunkSize)} is not allowed: it must be a whole number of bytes from ` +
        `${describeSize(MIN_CHUNK_SIZE)} to ${describeSize(max)} (${why})`,
      { details: { requestedChunkSize, min: MIN_CHUNK_SIZE, max } },
    );
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new ChunkPlanError(
      "INVALID_SIZE",
      `object size ${String(size)} is not a non-negative whole number of bytes`,
      { details: { size } },
    );
  }
  if (size > MAX_OBJECT_SIZE) {
    throw new ChunkPlanError(
      "OBJECT_TOO_LARGE",
      `object size ${describeSize(size)} exceeds ${formatBytes(MAX_OBJECT_SIZE)}, ` +
        `the most ${MAX_PARTS.toLocaleString("en-US")} parts of ${formatBytes(MAX_CHUNK_SIZE)} can hold`,
      { details: { size, max: MAX_OBJECT_SIZE } },
    );
  }
  // Whole MiB keep part boundaries tidy and make the grown size easy to reason about;
  // 5 GiB is a whole MiB, so rounding never pushes past MAX_CHUNK_SIZE.
  const smallestFitting = ceilDiv(ceilDiv(size, MAX_PARTS), MiB) * MiB;
  const chunkSize = Math.max(requestedChunkSize, smallestFitting);
  return Object.freeze({ size, chunkSize, count: ceilDiv(size, chunkSize) });
}

/**
 * The byte range of chunk `index` of `plan`.
 *
 * @throws ChunkPlanError `CHUNK_INDEX_OUT_OF_RANGE` unless `0 <= index < plan.count`
 */
export function chunkRange(plan: ChunkPlan, index: number): ChunkRange {
  if (!Number.isInteger(index) || index < 0 || index >= plan.count) {
    throw new ChunkPlanError(
      "CHUNK_INDEX_OUT_OF_RANGE",
      `chunk index ${String(index)} is outside the plan (${plan.count} chunks)`,
      { details: { index, count: plan.count } },
    );
  }
  const offset = index * plan.chunkSize;
  return Object.freeze({ index, offset, length: Math.min(plan.chunkSize, plan.size - offset) });
}

/** Every chunk index of `plan`, ascending. */
export function allChunks(plan: ChunkPlan): number[] {
  return Array.from({ length: plan.count }, (_, i) => i);
}

/** Every chunk range of `plan`, in order; together they tile `[0, plan.size)`. */
export function chunkRanges(plan: ChunkPlan): ChunkRange[] {
  const ranges: ChunkRange[] = [];
  for (let index = 0; index < plan.count; index++) ranges.push(chunkRange(plan, index));
  return ranges;
}

/**
 * Zod schema of a {@link ChunkPlan} as it travels in messages: every field
 * within S3's limits and `count` consistent with `size` and `chunkSize`.
 */
export const chunkPlanSchema = lazySchema(() =>
  z
    .strictObject({
      size: z
        .number({ error: "a number of bytes" })
        .int({ error: "a whole number of bytes" })
        .min(0, { error: "a non-negative size" })
        .max(MAX_OBJECT_SIZE, {
          error: `at most ${formatBytes(MAX_OBJECT_SIZE)} (${MAX_OBJECT_SIZE} bytes)`,
        }),
      chunkSize: z
        .number({ error: "a number of bytes" })
        .int({ error: "a whole number of bytes" })
        .min(MIN_CHUNK_SIZE, { error: `at least ${formatBytes(MIN_CHUNK_SIZE)} (the S3 minimum part size)` })
        .max(MAX_CHUNK_SIZE, { error: `at most ${formatBytes(MAX_CHUNK_SIZE)} (the S3 maximum part size)` }),
      count: z
        .number({ error: "a number of chunks" })
        .int({ error: "a whole number of chunks" })
        .min(0, { error: "a non-negative number of chunks" })
        .max(MAX_PARTS, { error: `at most ${MAX_PARTS} chunks (the S3 part limit)` }),
    })
    .superRefine((plan, ctx) => {
      if (plan.count !== ceilDiv(plan.size, plan.chunkSize)) {
        ctx.addIssue({ code: "custom", path: ["count"], message: "ceil(size / chunkSize) chunks" });
      }
    }),
);

/**
 * A frozen copy of `plan` when {@link chunkPlanSchema} would accept it (exactly its three fields,
 * each within its limits, `count` consistent), else undefined: the schema then names what is wrong.
 * A plan is checked per object; this spares the schema's cost where nothing is wrong.
 */
function fittingPlan(plan: unknown): ChunkPlan | undefined {
  if (typeof plan !== "object" || plan === null || Array.isArray(plan)) return undefined;
  // Counted without Object.keys: this runs for every object of a run.
  let fields = 0;
  for (const f in plan) {
    if (f !== "size" && f !== "chunkSize" && f !== "count") return undefined;
    fields++;
  }
  if (fields !== 3) return undefined;
  const { size, chunkSize, count } = plan as Record<string, unknown>;
  if (!Number.isSafeInteger(size) || !Number.isSafeInteger(chunkSize) || !Number.isSafeInteger(count))
    return undefined;
  const s = size as number;
  const c = chunkSize as number;
  const n = count as number;
  if (s < 0 || s > MAX_OBJECT_SIZE || c < MIN_CHUNK_SIZE || c > MAX_CHUNK_SIZE) return undefined;
  if (n < 0 || n > MAX_PARTS || n !== ceilDiv(s, c)) return undefined;
  return Object.freeze({ size: s, chunkSize: c, count: n });
}

/**
 * Checks a plan received from the other side and returns a clean copy.
 *
 * @param field - how the caller names the plan in errors (fields become `plan.count` and so on)
 * @throws ValidationError naming the offending field
 */
export function validatePlan(plan: unknown, field = "plan"): ChunkPlan {
  const fitting = fittingPlan(plan);
  if (fitting) return fitting;
  const result = chunkPlanSchema().safeParse(plan);
  if (!result.success) {
    const issue = result.error.issues[0];
    if (issue === undefined) throw new ValidationError(field, "a chunk plan");
    const described = describeIssue(issue, "");
    throw new ValidationError(
      described.field === "" ? field : `${field}.${described.field}`,
      described.expected,
    );
  }
  return Object.freeze({ ...result.data });
}

// Binary units only. "MB" is ambiguous (10^6 to a disk vendor, 2^20 to most tools), and
// S3 part limits are binary, so a decimal unit is refused rather than guessed.
const BINARY_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  k: KiB,
  kib: KiB,
  m: MiB,
  mib: MiB,
  g: GiB,
  gib: GiB,
  t: TiB,
  tib: TiB,
};
const DECIMAL_UNITS = new Set(["kb", "mb", "gb", "tb"]);
const BYTE_SIZE = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/;

/**
 * Parses a human byte size: plain bytes (`8388608`, `8388608B`) or a binary
 * unit (`512KiB`, `8 MiB`, `1GiB`, `2TiB`; `K`, `M`, `G`, `T` mean the same,
 * case-insensitive). Decimal units (`MB`, `GB`, ...) are refused with a hint
 * to write `MiB`/`GiB`, since guessing which one was meant could silently pick
 * a chunk size 5% off. Fractions are fine when they give whole bytes (`1.5GiB`).
 *
 * @param field - the name of the flag or setting, used in errors
 * @throws ValidationError naming `field`
 */
export function parseByteSize(text: string, field: string): number {
  const expected = "a size such as 8MiB, 512KiB, 1GiB or a plain number of bytes";
  if (typeof text !== "string") throw new ValidationError(field, expected);
  const match = BYTE_SIZE.exec(text.trim());
  if (match === null) throw new ValidationError(field, expected);
  const [, amount = "", rawUnit = ""] = match;
  const unit = rawUnit.toLowerCase();
  if (DECIMAL_UNITS.has(unit)) {
    throw new ValidationError(
      field,
      `a binary unit: write ${rawUnit[0]?.toUpperCase() ?? ""}iB instead of ${rawUnit} (units are powers of 1024)`,
    );
  }
  const scale = BINARY_UNITS[unit];
  if (scale === undefined) throw new ValidationError(field, `${expected} (unknown unit)`);
  const bytes = Number(amount) * scale;
  if (Number.isInteger(bytes) && !Number.isSafeInteger(bytes))
    throw new ValidationError(field, `${expected}, of at most ${describeSize(Number.MAX_SAFE_INTEGER)}`);
  if (!Number.isSafeInteger(bytes)) throw new ValidationError(field, `${expected} (a whole number of bytes)`);
  return bytes;
}
