import type { BenchContext } from "../lib/BenchContext.js";
import { CLI, pairArgs, parseSummary } from "../lib/BenchContext.js";
import { pool, putLargeObject, putObject, seededBytes } from "../lib/data.js";
import { runCommand, tail } from "../lib/exec.js";
import { GiB, MiB, markdownTable, mib, rate, ratio, secs } from "../lib/table.js";
import { DELTA } from "./deltaScenario.js";

const MB = 1_000_000;
const SMALL = 4096;

/** One workload of full copies into an empty bucket: what the source holds. */
interface Workload {
  name: string;
  objects: number;
  bytes: number;
  /** Fills `bucket`; returns the sha256 of each large object, to check the copies by. */
  fill(ctx: BenchContext, bucket: string): Promise<Map<string, string>>;
}

interface ToolRun {
  seconds: number;
  peakRss: number;
  /** True when every checked object's sha256 equals the source's (large objects only). */
  equal: boolean | undefined;
}

/** Runs one command under /usr/bin/time -v: its wall time, CPU (user + sys) and peak RSS. */
export async function timed(command: string, args: string[], env: Record<string, string>) {
  const r = await runCommand("/usr/bin/time", ["-v", command, ...args], { env, allowFailure: true });
  const field = (label: string) => new RegExp(`${label}: ([\\d.]+)`).exec(r.stderr)?.[1];
  const kb = field("Maximum resident set size \\(kbytes\\)");
  if (r.code !== 0 || !kb)
    throw new Error(`${command} ${args[0] ?? ""} failed (${r.code}):\n${tail(r.stderr)}`);
  const cpu = Number(field("User time \\(seconds\\)")) + Number(field("System time \\(seconds\\)"));
  return { seconds: r.seconds, cpu, peakRss: Number(kb) * 1024, stdout: r.stdout };
}

/** `chunksync sync` of `src` into `dst` as this section runs it: 8 in flight, 8 MiB chunks. */
export function chunksyncCopyArgs(cli: string, src: string, dst: string): string[] {
  return [cli, ...pairArgs("sync", src, dst), "--chunk-size", "8MiB", "--concurrency", "8", "--json"];
}

/** `rclone sync` of `src` into `dst` as this section runs it: 8 transfers, 8 parts of 8 MiB each in flight. */
export function rcloneCopyArgs(src: string, dst: string): string[] {
  return [
    "sync",
    "--transfers",
    "8",
    "--checkers",
    "8",
    "--s3-chunk-size",
    "8M",
    "--s3-upload-concurrency",
    "8",
    `src:${src}`,
    `dst:${dst}`,
  ];
}

async function equalAfter(ctx: BenchContext, bucket: string, expected: Map<string, string>) {
  if (expected.size === 0) return undefined;
  for (const [key, sha] of expected)
    if ((await ctx.sha256OfObject("destination", bucket, key)) !== sha) return false;
  return true;
}

function workloads(quick: boolean): Workload[] {
  const large = (name: string, objects: number, size: number): Workload => ({
    name,
    objects,
    bytes: objects * size,
    async fill(ctx, bucket) {
      const sums = new Map<string, string>();
      for (let i = 0; i < objects; i++) {
        const key = `large/${i}.bin`;
        sums.set(key, await putLargeObject(ctx.clients.source, bucket, key, `${name}-${i}`, size));
      }
      return sums;
    },
  });
  const count = quick ? 1_000 : 10_000;
  const delta = quick ? { objects: 4, size: 16 * MiB } : { objects: DELTA.objects, size: DELTA.size };
  const single = quick ? 256 * MiB : 2 * GiB;
  return [
    large(`${delta.objects} x ${mib(delta.size)}`, delta.objects, delta.size),
    {
      name: `${count} x ${SMALL / 1024} KiB`,
      objects: count,
      bytes: count * SMALL,
      async fill(ctx, bucket) {
        const keys = Array.from({ length: count }, (_, i) => `small/${String(i).padStart(6, "0")}.bin`);
        await pool(keys, 32, (k) => putObject(ctx.clients.source, bucket, k, seededBytes(k, SMALL)));
        return new Map();
      },
    },
    large(`1 x ${mib(single)}`, 1, single),
  ];
}

/**
 * Section 6: full copies into an empty bucket, chunksync against rclone between two remotes
 * (one user each) in the same run: the delta scenario's data, many small objects and one
 * large object. Each tool at 8 in flight and, for large objects, 8 MiB parts.
 */
export async function fullCopiesSection(ctx: BenchContext): Promise<string> {
  const rows: string[][] = [];
  for (const [i, w] of workloads(ctx.quick).entries()) {
    const src = await ctx.createBucket("source", ctx.bucketName(`full${i}-src`));
    ctx.log(`  ${w.name}: uploading`);
    const expected = await w.fill(ctx, src);

    const dstC = await ctx.createBucket("destination", ctx.bucketName(`full${i}-dc`));
    ctx.log(`  ${w.name}: chunksync sync`);
    const c = await timed(process.execPath, chunksyncCopyArgs(CLI, src, dstC), ctx.chunksyncEnv());
    const summary = parseSummary(c.stdout);
    if (summary && summary.objects.failed !== 0)
      throw new Error(`chunksync failed ${summary.objects.failed} objects`);
    const chunksync: ToolRun = { ...c, equal: await equalAfter(ctx, dstC, expected) };
    await ctx.dropBuckets([dstC]);

    const dstR = await ctx.createBucket("destination", ctx.bucketName(`full${i}-dr`));
    ctx.log(`  ${w.name}: rclone sync`);
    const r = await timed("rclone", rcloneCopyArgs(src, dstR), ctx.rcloneEnv());
    const rclone: ToolRun = { ...r, equal: await equalAfter(ctx, dstR, expected) };
    await ctx.dropBuckets([dstR, src]);

    const throughput = (run: ToolRun) =>
      w.objects >= 100
        ? rate(w.objects / run.seconds, "objects/s")
        : rate(w.bytes / MiB / run.seconds, "MiB/s");
    const eq = (run: ToolRun) => (run.equal === undefined ? "" : run.equal ? "yes" : "NO");
    rows.push([
      w.name,
      `${secs(chunksync.seconds)} / ${secs(rclone.seconds)}`,
      `${throughput(chunksync)} / ${throughput(rclone)}`,
      ratio(rclone.seconds, chunksync.seconds),
      `${(chunksync.peakRss / MB).toFixed(0)} MB / ${(rclone.peakRss / MB).toFixed(0)} MB`,
      `${eq(chunksync)} / ${eq(rclone)}`.replace(/^ \/ $/, ""),
    ]);
  }
  return [
    "## 6. Full copies against rclone",
    "",
    "Each workload synced into an empty bucket once per tool, in the same run: `chunksync sync " +
      "--concurrency 8 --chunk-size 8MiB` and `rclone sync --transfers 8 --checkers 8 --s3-chunk-size 8M " +
      "--s3-upload-concurrency 8` between two remotes (one user each, so neither can copy server-side). " +
      "Times are whole processes (startup included); peak RSS from /usr/bin/time -v. Ratio = chunksync's " +
      "speed / rclone's (target >= 1). *Equal* = sha256 of a full GET of every large destination object " +
      "equals the source's.",
    "",
    markdownTable(
      ["workload", "time (chunksync / rclone)", "throughput", "speed ratio", "peak RSS", "equal after"],
      rows,
    ),
    "",
  ].join("\n");
}
