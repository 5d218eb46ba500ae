// Deep imports of pure modules only: sst.config.ts bundles this file with esbuild, which
// cannot bundle the native digest addon the core's index pulls in.
import {
  DEFAULT_CHUNK_SIZE,
  GiB,
  MAX_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  parseByteSize,
} from "@chunksync/core/chunkPlan";
import { ValidationError } from "@chunksync/core/errors";
import { INDEX_NAME_MAX_BYTES, MAX_KEY_BYTES } from "@chunksync/core/objectKey";
import { directoryPrefix, SidesOverlapError, sidesOverlap, storageOf } from "@chunksync/core/overlap";
import { parseSampleSpec } from "@chunksync/core/sampleSpec";
import { z } from "zod";
import { parseEvent } from "./events.js";

/** The core's DIGEST_ALGORITHMS and VARIANTS (a unit test keeps these lists equal). */
export const CONFIG_ALGORITHMS = ["sha256", "sha1", "md5", "crc32c"] as const;
export const CONFIG_VARIANTS = ["encode", "decode"] as const;

const bucket = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name (3-63 of a-z, 0-9, '.', '-')");
const region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "an AWS region such as eu-west-1");
const prefix = z.string().max(1024, "a prefix of at most 1024 characters").default("");
const glob = z.string().min(1, "a glob such as **/*.jpg").max(1024, "a glob of at most 1024 characters");
/** One --include/--exclude of the CLI; the last rule matching a key decides (see keyFilter). */
const filterRule = z.strictObject({
  kind: z.enum(["include", "exclude"], { error: "include or exclude" }),
  glob,
});
const kmsKeyArn = z
  .string()
  .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, "a KMS key ARN");

/** `rate(N unit)` or `cron(6 fields)`, as EventBridge Scheduler takes them (`at()` is a one-off, not a schedule). */
const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\((\S+ ){5}\S+\)$/;

/**
 * Checks a schedule expression.
 *
 * @throws ValidationError naming `field`
 */
export function validateScheduleExpression(expression: string, field = "schedule.expression"): string {
  const rate = RATE.exec(expression);
  if (rate) {
    const n = Number(rate[1]);
    const unit = rate[2] ?? "";
    if (n < 1) throw new ValidationError(field, "a rate of at least 1");
    // EventBridge wants "1 hour" but "2 hours"; it rejects the other spelling.
    if ((n === 1) !== !unit.endsWith("s")) {
      throw new ValidationError(
        field,
        `"${n} ${n === 1 ? unit.replace(/s$/, "") : `${unit.replace(/s$/, "")}s`}"`,
      );
    }
    return expression;
  }
  if (CRON.test(expression)) return expression;
  throw new ValidationError(
    field,
    "rate(N minutes|hours|days) or cron(min hour day-of-month month day-of-week year)",
  );
}

/**
 * Where one side keeps its digest index: by default under its own part of the work area
 * (`source/index/`, `destination/index/`); or a prefix of another bucket, which only that
 * side's functions are granted. Raw digests are in it, so it is never under `shared/`.
 */
const indexLocation = z.strictObject({
  /** Absent: the work bucket. */
  bucket: bucket.optional(),
  prefix: z
    .string()
    .min(1, "a non-empty prefix")
    .max(512, "a prefix of at most 512 characters")
    .regex(/\/$/, "a prefix ending in '/'")
    .refine(
      (prefix) => Buffer.byteLength(prefix, "utf8") <= MAX_KEY_BYTES - INDEX_NAME_MAX_BYTES,
      `a prefix of at most ${MAX_KEY_BYTES - INDEX_NAME_MAX_BYTES} bytes of UTF-8 (the index's file names, of up to ${INDEX_NAME_MAX_BYTES} bytes, follow it in keys of at most ${MAX_KEY_BYTES})`,
    ),
});

/** When a run starts: an EventBridge Scheduler expression and its time zone. */
const schedule = z.strictObject({
  expression: z.string().superRefine((e, ctx) => {
    try {
      validateScheduleExpression(e);
    } catch (error) {
      ctx.addIssue({
        code: "custom",
        message: (error as ValidationError).message.replace(/^[^:]*: expected /, ""),
      });
    }
  }),
  timezone: z.string().default("UTC"),
});

/** The deployment's configuration: one typed file (`chunksync.config.json`), validated once. */
export const ConfigSchema = z.strictObject({
  source: z.strictObject({
    bucket,
    prefix,
    region,
    kmsKeyArn: kmsKeyArn.optional(),
    index: indexLocation.optional(),
  }),
  destination: z.strictObject({
    bucket,
    prefix,
    region,
    kmsKeyArn: kmsKeyArn.optional(),
    storageClass: z.string().optional(),
    index: indexLocation.optional(),
  }),
  /** None: runs start only by hand. */
  schedule: schedule.optional(),
  /**
   * A scheduled audit of a sample of the source's bytes against the destination's, on its own
   * state machine and schedule; its report lands in the work area (shared/audits/<run>/report.json).
   */
  audit: z
    .strictObject({
      schedule,
      sample: z
        .string()
        .default("1%")
        .superRefine((text, ctx) => {
          try {
            if (parseSampleSpec(text, "sample").kind === "count")
              ctx.addIssue({
                code: "custom",
                message: "a percentage or fraction (a count needs the whole listing)",
              });
          } catch {
            ctx.addIssue({ code: "custom", message: "a percentage (1%) or a fraction (0.01) of the bytes" });
          }
        }),
      rangeSize: z
        .string()
        .default("1MiB")
        .superRefine((text, ctx) => {
          let n = 0;
          try {
            n = parseByteSize(text, "rangeSize");
          } catch {}
          if (n < 4096 || n > MAX_CHUNK_SIZE)
            ctx.addIssue({ code: "custom", message: "a size from 4KiB to 5GiB" });
        }),
    })
    .optional(),
  chunkSize: z
    .string()
    .default("8MiB")
    .superRefine((text, ctx) => {
      let n: number;
      try {
        n = parseByteSize(text, "chunkSize");
      } catch {
        ctx.addIssue({ code: "custom", message: "a size such as 8MiB" });
        return;
      }
      if (n < MIN_CHUNK_SIZE || n > MAX_CHUNK_SIZE)
        ctx.addIssue({ code: "custom", message: "from 5MiB to 5GiB" });
    }),
  algorithm: z.enum(CONFIG_ALGORITHMS, { error: `one of ${CONFIG_ALGORITHMS.join(", ")}` }).default("sha256"),
  variant: z.enum(CONFIG_VARIANTS, { error: `one of ${CONFIG_VARIANTS.join(", ")}` }).default("encode"),
  verify: z.enum(["none", "changed", "full"], { error: "none, changed or full" }).default("changed"),
  /**
   * Include/exclude globs over keys relative to the prefixes, in order, as `aws s3 sync` applies
   * its filters: every key is selected by default and the last matching rule decides.
   */
  filters: z.array(filterRule).max(200).default([]),
  /** Delete destination-only objects (of the selected keys); grants the destination side s3:DeleteObject. */
  delete: z.boolean().default(false),
  /** Match changed chunks block by block against the old object, so that only what changed crosses (the CLI's --no-blocks: false). */
  blocks: z.boolean().default(true),
  /** Objects per listing page, i.e. per Map run. */
  pageSize: z.number().int().min(1).max(2000).default(500),
  maxConcurrency: z.number().int().min(1).max(10_000).default(40),
  batchConcurrency: z.number().int().min(1).max(40).default(4),
  toleratedFailurePercentage: z.number().min(0).max(100).default(5),
  batchChunks: z.number().int().min(1).max(1000).default(64),
  /** At ~100 MiB/s per function, 8 GiB is about 80 s, far inside Lambda's 15 minutes. */
  batchBytes: z
    .number()
    .int()
    .min(MIN_CHUNK_SIZE)
    .max(64 * GiB)
    .default(8 * GiB),
  concurrency: z.number().int().min(1).max(64).default(8),
  linkExpirySeconds: z.number().int().min(60).max(3600).default(900),
  workRetentionDays: z.number().int().min(1).max(365).default(14),
});

export type ChunksyncConfig = z.infer<typeof ConfigSchema>;

/** The filters of configs written before `filters`: a key had to match an include (if any) and no exclude. */
const LegacyFilters = z.object({
  include: z.array(glob).max(100).default([]),
  exclude: z.array(glob).max(100).default([]),
});

/**
 * Rewrites `include`/`exclude` as the ordered rules that select the same keys, so an existing
 * config keeps its meaning: exclude everything, include the includes, then exclude the excludes
 * (`**` matches every key, `.` and `..` segments included: see keyFilter).
 */
function withLegacyFilters(input: unknown): unknown {
  if (typeof input !== "object" || input === null) return input;
  if (!("include" in input) && !("exclude" in input)) return input;
  const { include, exclude, ...rest } = input as Record<string, unknown>;
  const field = include === undefined ? "exclude" : "include";
  if ("filters" in rest)
    throw new ValidationError(field, "no include/exclude next to filters (filters replaces both)");
  const legacy = parseEvent(LegacyFilters, { include, exclude }, "config");
  const rule = (kind: "include" | "exclude") => (g: string) => ({ kind, glob: g });
  return {
    ...rest,
    filters: [
      ...(legacy.include.length > 0 ? [rule("exclude")("**"), ...legacy.include.map(rule("include"))] : []),
      ...legacy.exclude.map(rule("exclude")),
    ],
  };
}

/**
 * Parses the deployment's configuration (`include`/`exclude` of older configs are read as
 * the equivalent `filters`).
 *
 * @throws ValidationError naming the first offending field (such as `destination.region`), or
 *   `destination.prefix` when the destination overlaps the source (same bucket, nested prefixes)
 */
export function parseConfig(input: unknown): ChunksyncConfig {
  const config = parseEvent(ConfigSchema, withLegacyFilters(input), "config");
  // Both sides are on AWS, where a bucket name is one bucket whatever the region or account.
  const side = (s: { bucket: string; prefix: string; region: string }) => ({
    storage: storageOf(undefined, s.region),
    bucket: s.bucket,
    prefix: s.prefix,
  });
  const url = (s: { bucket: string; prefix: string }) => `s3://${s.bucket}${s.prefix ? `/${s.prefix}` : ""}`;
  if (sidesOverlap(side(config.source), side(config.destination))) {
    throw new SidesOverlapError("destination.prefix", url(config.source), url(config.destination));
  }
  for (const [own, other] of [
    ["source", "destination"],
    ["destination", "source"],
  ] as const) {
    const index = config[own].index;
    if (index === undefined) continue;
    if (index.bucket === undefined) {
      // In the work bucket, only the side's own part is out of the other side's reach.
      if (!index.prefix.startsWith(`${own}/`))
        throw new ValidationError(`${own}.index.prefix`, `a prefix under ${own}/ in the work bucket`);
      continue;
    }
    const at = { ...side(config[own]), bucket: index.bucket, prefix: index.prefix };
    // An index that is its own side's synced prefix would lie among the synced keys, set apart by nothing.
    if (index.bucket === config[own].bucket && index.prefix === directoryPrefix(config[own].prefix)) {
      throw new ValidationError(`${own}.index.prefix`, `a prefix apart from the ${own}'s synced objects`);
    }
    if (sidesOverlap(at, side(config[other]))) {
      throw new ValidationError(
        `${own}.index.prefix`,
        `a location apart from the ${other}'s ${url(config[other])} (its digests stay on its own side)`,
      );
    }
  }
  return config;
}

/** Where `side` keeps its digest index: its configured location, or its own part of the work area. */
export function indexLocationOf(
  config: ChunksyncConfig,
  side: "source" | "destination",
  workBucket: string,
): { bucket: string; prefix: string } {
  const index = config[side].index;
  return { bucket: index?.bucket ?? workBucket, prefix: index?.prefix ?? `${side}/index/` };
}

/** The chunk size in bytes. */
export function chunkSizeOf(config: ChunksyncConfig): number {
  return config.chunkSize === undefined ? DEFAULT_CHUNK_SIZE : parseByteSize(config.chunkSize, "chunkSize");
}

/**
 * The execution name of a scheduled run: one per schedule window. Standard workflows
 * refuse a second execution of the same name (for 90 days), so a duplicate trigger
 * for the same window starts nothing new.
 */
export function executionNameForWindow(scheduledTime: string | Date): string {
  const time = typeof scheduledTime === "string" ? new Date(scheduledTime) : scheduledTime;
  if (Number.isNaN(time.getTime())) throw new ValidationError("scheduledTime", "an ISO 8601 time");
  // Execution names may not hold ':' or '.'.
  return `scheduled-${time
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z")
    .replace(/[-:]/g, "")}`;
}
