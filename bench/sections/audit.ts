import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchContext } from "../lib/BenchContext.js";
import { putObject, seededBytes } from "../lib/data.js";
import { tail } from "../lib/exec.js";
import { MiB, markdownTable, mib, secs } from "../lib/table.js";
import { usageDelta } from "../lib/usage.js";
import { DELTA } from "./deltaScenario.js";

interface AuditJson {
  exitCode: number;
  durationMs: number;
  ranges: { sampled: number; equal: number };
  chunks?: { sampled: number };
  bytes: { sampled: number; sourceRead?: number; destinationRead?: number; read?: number };
  unseen: { fraction: number; probability: number }[];
}

/**
 * Section 8: what an audit costs on the delta bench's data (the same objects on both sides,
 * each side's own bucket and user): bytes each side read and the requests it took, for a 1%
 * sample, a 1% sample of smaller ranges, and everything; and a scrub of one side against its index.
 */
export async function auditSection(ctx: BenchContext): Promise<string> {
  const src = await ctx.createBucket("source", ctx.bucketName("audit-src"));
  const dst = await ctx.createBucket("destination", ctx.bucketName("audit-dst"));
  ctx.log(`  seeding ${DELTA.objects} x ${DELTA.size / MiB} MiB into both sides`);
  for (let i = 0; i < DELTA.objects; i++) {
    const body = seededBytes(`delta-${i}`, DELTA.size);
    const key = `obj-${String(i).padStart(2, "0")}.bin`;
    await putObject(ctx.clients.source, src, key, body);
    await putObject(ctx.clients.destination, dst, key, body);
  }
  const secret = join(mkdtempSync(join(tmpdir(), "bench-secret-")), "secret");
  writeFileSync(secret, seededBytes("bench-audit-secret", 32).toString("hex"));
  const sides = ["--src-profile", "src", "--dst-profile", "dst", "--secret-file", secret, "--json"];

  const measure = async (label: string, args: string[]) => {
    const before = await ctx.usage?.settled();
    ctx.log(`  ${label}`);
    const r = await ctx.chunksync(args, { allowFailure: true });
    const after = await ctx.usage?.settled();
    if (r.code !== 0) throw new Error(`${label} exited ${r.code}:\n${tail(r.stderr || r.stdout)}`);
    const report = JSON.parse(r.stdout) as AuditJson;
    const s = before && after ? usageDelta(before, after, src) : undefined;
    const d = before && after ? usageDelta(before, after, dst) : undefined;
    return { report, seconds: r.seconds, s, d };
  };
  const rows: string[][] = [];
  const total = DELTA.objects * DELTA.size;
  for (const [label, extra] of [
    ["audit --sample 1%", ["--sample", "1%"]],
    ["audit --sample 1% --range-size 64KiB", ["--sample", "1%", "--range-size", "64KiB"]],
    ["audit --full", ["--full"]],
  ] as const) {
    const m = await measure(label, ["audit", `s3://${src}`, `s3://${dst}`, ...sides, ...extra]);
    const p = m.report.unseen.find((u) => u.fraction === 0.01)?.probability;
    rows.push([
      label,
      String(m.report.ranges.sampled),
      mib(m.report.bytes.sampled),
      mib(m.report.bytes.sourceRead),
      mib(m.report.bytes.destinationRead),
      mib(m.s?.getSent),
      mib(m.d?.getSent),
      m.s && m.d ? `${m.s.ops} / ${m.d.ops}` : "n/a",
      secs(m.report.durationMs / 1000),
      secs(m.seconds),
      p === undefined ? "n/a" : p.toPrecision(3),
    ]);
  }

  // A scrub needs the side's index: one sync (identical sides: it reads both) builds it.
  await new Promise((r) => setTimeout(r, 1100));
  const index = mkdtempSync(join(tmpdir(), "bench-index-"));
  const synced = await ctx.chunksync(
    ["sync", `s3://${src}`, `s3://${dst}`, ...sides, "--quiet", "--dst-index", index],
    { allowFailure: true },
  );
  if (synced.code !== 0)
    throw new Error(`sync exited ${synced.code}:\n${tail(synced.stderr || synced.stdout)}`);
  // 64 chunks of 8 MiB: 1% of them is less than one chunk, so the scrub rows draw a count.
  for (const [label, extra] of [
    ["scrub DST --sample 4 (8 MiB chunks)", ["--sample", "4"]],
    ["scrub DST --full", ["--full"]],
  ] as const) {
    const scrub = await measure(label, [
      "scrub",
      `s3://${dst}`,
      "--profile",
      "dst",
      "--secret-file",
      secret,
      "--index",
      index,
      "--json",
      ...extra,
    ]);
    const p = scrub.report.unseen.find((u) => u.fraction === 0.01)?.probability;
    rows.push([
      label,
      String(scrub.report.chunks?.sampled ?? 0),
      mib(scrub.report.bytes.sampled),
      "-",
      mib(scrub.report.bytes.read),
      "-",
      mib(scrub.d?.getSent),
      scrub.d ? `- / ${scrub.d.ops}` : "n/a",
      secs(scrub.report.durationMs / 1000),
      secs(scrub.seconds),
      p === undefined ? "n/a" : p.toPrecision(3),
    ]);
  }
  await ctx.dropBuckets([src, dst]);

  return [
    "## 8. Audit and scrub",
    "",
    `The delta bench's data on both sides: ${DELTA.objects} objects x ${DELTA.size / MiB} MiB = ${mib(total)} ` +
      "(seeded random, identical). *Sampled* = bytes in the drawn ranges; *read* = chunksync's own counters; " +
      "*GET* = GET response bytes out of each bucket and *requests* = all requests on each bucket (listing " +
      "included), from the RADOS Gateway usage log; *audit time* = the audit's own duration (listing, reads, " +
      "keyed hashing); *process* = the whole CLI run. *Unseen at 1%* = (1 - 0.01)^k, the chance that " +
      "corruption of 1% of the ranges (or chunks) would have gone unseen.",
    "",
    markdownTable(
      [
        "run",
        "ranges",
        "sampled",
        "src read",
        "dst read",
        "src GET",
        "dst GET",
        "requests src / dst",
        "audit time",
        "process",
        "unseen at 1%",
      ],
      rows,
    ),
    "",
  ].join("\n");
}
