import type { BenchContext } from "../lib/BenchContext.js";
import { CLI, parseSummary } from "../lib/BenchContext.js";
import { putLargeObject } from "../lib/data.js";
import { runCommand, tail } from "../lib/exec.js";
import { GiB, MiB, markdownTable, mib, rate, secs } from "../lib/table.js";

const CHUNK = 8 * MiB;
const MB = 1_000_000;

interface MemoryRun {
  size: number;
  concurrency: number;
  peakRss: number;
  seconds: number;
  equal: boolean;
}

/**
 * Section 3: peak RSS of `chunksync sync` copying one large object into an empty bucket,
 * from /usr/bin/time -v ("Maximum resident set size" of the CLI process).
 */
export async function memorySection(ctx: BenchContext): Promise<string> {
  const big = ctx.quick ? 512 * MiB : 2 * GiB;
  const small = ctx.quick ? 128 * MiB : 512 * MiB;
  const plan: { size: number; concurrency: number }[] = [
    ...[1, 4, 8].map((concurrency) => ({ size: big, concurrency })),
    { size: small, concurrency: 8 },
  ];
  const src = await ctx.createBucket("source", ctx.bucketName("mem-src"));
  const expected = new Map<number, string>();
  for (const size of [big, small]) {
    ctx.log(`  uploading a ${mib(size)} object`);
    expected.set(
      size,
      await putLargeObject(ctx.clients.source, src, `object-${size}.bin`, `mem-${size}`, size),
    );
  }
  const runs: MemoryRun[] = [];
  for (const [i, { size, concurrency }] of plan.entries()) {
    const dst = await ctx.createBucket("destination", ctx.bucketName(`mem-d${i}`));
    ctx.log(`  sync ${mib(size)} at concurrency ${concurrency}`);
    const r = await runCommand(
      "/usr/bin/time",
      [
        "-v",
        process.execPath,
        CLI,
        "sync",
        `s3://${src}`,
        `s3://${dst}`,
        "--exclude",
        "**",
        "--include",
        `object-${size}.bin`,
        "--src-profile",
        "src",
        "--dst-profile",
        "dst",
        "--chunk-size",
        `${CHUNK / MiB}MiB`,
        "--concurrency",
        String(concurrency),
        "--json",
        "--quiet",
      ],
      { env: ctx.chunksyncEnv(), allowFailure: true },
    );
    const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
    if (r.code !== 0 || !kb)
      throw new Error(`chunksync sync failed under /usr/bin/time (${r.code}):\n${tail(r.stderr)}`);
    const summary = parseSummary(r.stdout);
    const got = await ctx.sha256OfObject("destination", dst, `object-${size}.bin`);
    runs.push({
      size,
      concurrency,
      peakRss: Number(kb[1]) * 1024,
      seconds: summary ? summary.durationMs / 1000 : r.seconds,
      equal: got === expected.get(size),
    });
    await ctx.dropBuckets([dst]);
  }
  await ctx.dropBuckets([src]);

  const rows = runs.map((r) => {
    const bound = r.concurrency * CHUNK + 150 * MB;
    return [
      mib(r.size),
      String(r.concurrency),
      `${(r.peakRss / MB).toFixed(0)} MB`,
      `${(bound / MB).toFixed(0)} MB`,
      r.peakRss <= bound ? "met" : "MISSED",
      secs(r.seconds),
      rate(r.size / MiB / r.seconds, "MiB/s"),
      r.equal ? "yes" : "NO",
    ];
  });
  return [
    "## 3. Memory",
    "",
    `Peak RSS (/usr/bin/time -v, whole CLI process) of \`chunksync sync\` copying one object into an empty ` +
      `bucket, ${CHUNK / MiB} MiB chunks${ctx.quick ? ` (quick mode: ${mib(big)} instead of 2 GiB)` : ""}; the ` +
      `${mib(small)} row checks that the peak does not grow with object size. Target: peak RSS <= concurrency x ` +
      "chunk size + 150 MB (1 MB = 10^6 bytes).",
    "",
    markdownTable(
      ["object", "concurrency", "peak RSS", "target", "", "time", "throughput", "equal after"],
      rows,
    ),
    "",
  ].join("\n");
}
