import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchContext } from "../lib/BenchContext.js";
import { CLI, pairArgs, parseSummary } from "../lib/BenchContext.js";
import { pool, putObject, seededBytes } from "../lib/data.js";
import { runCommand, tail } from "../lib/exec.js";
import { markdownTable, rate, ratio, secs } from "../lib/table.js";

const SIZE = 4096;

interface HyperfineJson {
  results: { command: string; mean: number; stddev: number | null; min: number; exit_codes: number[] }[];
}

/**
 * Section 4: many small objects. `sync` into an empty bucket is timed once per tool;
 * `check` (read-only, repeatable) is timed with hyperfine.
 */
export async function smallObjectsSection(ctx: BenchContext): Promise<string> {
  const count = ctx.quick ? 2_000 : 10_000;
  const runs = 10;
  const src = await ctx.createBucket("source", ctx.bucketName("small-src"));
  const dstC = await ctx.createBucket("destination", ctx.bucketName("small-dc"));
  const dstR = await ctx.createBucket("destination", ctx.bucketName("small-dr"));
  ctx.log(`  uploading ${count} x ${SIZE / 1024} KiB`);
  const keys = Array.from({ length: count }, (_, i) => `small/${String(i).padStart(6, "0")}.bin`);
  await pool(keys, 32, (k) => putObject(ctx.clients.source, src, k, seededBytes(k, SIZE)));

  ctx.log("  chunksync sync");
  const cs = await ctx.chunksync([...pairArgs("sync", src, dstC), "--json"], { allowFailure: true });
  if (cs.code !== 0) throw new Error(`chunksync sync failed (${cs.code}):\n${tail(cs.stderr)}`);
  const csSummary = parseSummary(cs.stdout);
  ctx.log("  rclone sync");
  const rs = await ctx.rclone([
    "sync",
    "--checksum",
    "--transfers",
    "8",
    "--checkers",
    "8",
    `src:${src}`,
    `dst:${dstR}`,
  ]);

  // Both destinations now equal the source; check each against it. Same parallelism: 8.
  const chunksyncCheck = `${process.execPath} ${CLI} check s3://${src} s3://${dstC} --src-profile src --dst-profile dst --quiet`;
  const rcloneCheck = `rclone check --checkers 8 src:${src} dst:${dstR}`;
  const json = join(tmpdir(), `chunksync-bench-hyperfine-${ctx.runId}.json`);
  ctx.log("  check (hyperfine)");
  await runCommand(
    "hyperfine",
    [
      "-N",
      "--min-runs",
      "2",
      "--max-runs",
      String(runs),
      "--export-json",
      json,
      "--style",
      "none",
      chunksyncCheck,
      rcloneCheck,
    ],
    { env: { ...ctx.chunksyncEnv(), ...ctx.rcloneEnv() } },
  );
  const hf = JSON.parse(readFileSync(json, "utf8")) as HyperfineJson;
  rmSync(json, { force: true });
  const [cc, rc] = hf.results;
  if (!cc || !rc) throw new Error("hyperfine returned no results");
  await ctx.dropBuckets([src, dstC, dstR]);

  const perSec = (s: number) => rate(count / s, "objects/s");
  const sd = (r: { stddev: number | null }) => (r.stddev === null ? "" : ` ± ${r.stddev.toFixed(2)}`);
  return [
    "## 4. Many small objects",
    "",
    `${count} objects of ${SIZE / 1024} KiB. \`sync\` into an empty bucket once per tool; \`check\` of the synced ` +
      `bucket against the source with hyperfine (mean of 2 to ${runs} runs: as many as fit in about 3 s). Both tools at 8 in flight ` +
      "(chunksync's default `--concurrency 8`; rclone `--transfers 8 --checkers 8`). Times are whole processes " +
      "(startup included). Target: chunksync `check` objects/s >= rclone's.",
    "",
    markdownTable(
      ["command", "time", "objects/s", "chunksync / rclone (objects/s)"],
      [
        ["chunksync sync", secs(cs.seconds), perSec(cs.seconds), ratio(1 / cs.seconds, 1 / rs.seconds)],
        ["rclone sync --checksum", secs(rs.seconds), perSec(rs.seconds), ""],
        [
          "chunksync check",
          `${secs(cc.mean)}${sd(cc)}`,
          perSec(cc.mean),
          `${ratio(1 / cc.mean, 1 / rc.mean)} (target >= 1: ${rc.mean >= cc.mean ? "met" : "MISSED"})`,
        ],
        ["rclone check", `${secs(rc.mean)}${sd(rc)}`, perSec(rc.mean), ""],
      ],
    ),
    "",
    csSummary ? `chunksync sync summary: ${JSON.stringify(csSummary.objects)}` : "",
    "",
  ].join("\n");
}
