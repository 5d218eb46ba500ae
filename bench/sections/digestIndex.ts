import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type BenchContext,
  type ChunksyncSummary,
  CLI,
  letEntriesStand,
  pairArgs,
  parseSummary,
} from "../lib/BenchContext.js";
import { pool, putObject, seededBytes, sha256 } from "../lib/data.js";
import { type CommandResult, runCommand, tail } from "../lib/exec.js";
import { bytesCell, MiB, markdownTable, mib, rate, ratio, secs } from "../lib/table.js";
import { type BucketUsage, usageDelta } from "../lib/usage.js";
import { DELTA } from "./deltaScenario.js";

const SMALL = 4096;

/** What one side's index did, as `--json` states it. */
interface SideIndexJson {
  found: string;
  fromIndex: number;
  read: number;
  written?: number;
}

type IndexedSummary = ChunksyncSummary & { index?: { source?: SideIndexJson; destination?: SideIndexJson } };

/** One row of the table: a command's time, the server's byte counts and chunksync's own. */
interface Row {
  part: string;
  command: string;
  seconds: number;
  /** Standard deviation of the timed runs, when there were several. */
  stddev?: number;
  /** Objects compared, for objects/s. */
  objects?: number;
  /** The rclone run this one is compared with (same data, same invocation). */
  peerSeconds?: number;
  source?: BucketUsage;
  destination?: BucketUsage;
  summary?: IndexedSummary;
}

interface HyperfineJson {
  results: { command: string; mean: number; stddev: number | null }[];
}

/**
 * Section 7: the digest index against rclone on the same data in one run. (a) A run over
 * unchanged objects after a sync, (b) an incremental sync after a 1 MiB edit in two objects,
 * (c) `check` of many small unchanged objects; each also with `--no-index` (the figures before
 * the index). Bytes are the server's (RGW usage log), chunksync's own counters beside them.
 */
export async function digestIndexSection(ctx: BenchContext): Promise<string> {
  const indexRoot = mkdtempSync(join(tmpdir(), "chunksync-bench-index-"));
  const withIndex = ["--src-index", join(indexRoot, "src"), "--dst-index", join(indexRoot, "dst")];
  try {
    const large = await largeObjects(ctx, withIndex);
    const small = await smallObjects(ctx, withIndex);
    return render(ctx, [...large.rows, ...small.rows], [...large.notes, ...small.notes]);
  } finally {
    rmSync(indexRoot, { recursive: true, force: true });
  }
}

/** The delta bench's data (smaller with --quick). */
function largeData(quick: boolean) {
  return quick
    ? { objects: 8, size: 16 * MiB, edited: DELTA.edited, editOffset: 9 * MiB, editLength: 1 * MiB }
    : {
        objects: DELTA.objects,
        size: DELTA.size,
        edited: DELTA.edited,
        editOffset: DELTA.editOffset,
        editLength: DELTA.editLength,
      };
}

async function chunksync(ctx: BenchContext, args: string[]): Promise<CommandResult> {
  const r = await ctx.chunksync([...args, "--json"], { allowFailure: true });
  if (r.code !== 0)
    throw new Error(`chunksync ${args[0]} failed (${r.code}):\n${tail(r.stderr || r.stdout)}`);
  return r;
}

export const rcloneSync = (src: string, dst: string) => [
  "sync",
  "--checksum",
  "--transfers",
  "8",
  "--checkers",
  "8",
  `src:${src}`,
  `dst:${dst}`,
];
export const rcloneCheck = (src: string, dst: string) => [
  "check",
  "--checkers",
  "8",
  `src:${src}`,
  `dst:${dst}`,
];

/** One run of `run` between two settled readings of the usage log: what it did to each bucket. */
async function underUsage(
  ctx: BenchContext,
  src: string,
  dst: string,
  run: () => Promise<CommandResult>,
): Promise<{ result: CommandResult; source?: BucketUsage; destination?: BucketUsage }> {
  const before = await ctx.usage?.settled();
  const result = await run();
  const after = await ctx.usage?.settled();
  if (!before || !after) return { result };
  return { result, source: usageDelta(before, after, src), destination: usageDelta(before, after, dst) };
}

/** Mean and standard deviation of repeatable (read-only) commands, timed by hyperfine. */
async function hyperfine(
  ctx: BenchContext,
  commands: string[][],
): Promise<{ mean: number; stddev: number }[]> {
  const json = join(tmpdir(), `chunksync-bench-index-hyperfine-${ctx.runId}.json`);
  await runCommand(
    "hyperfine",
    [
      "-N",
      "--min-runs",
      "3",
      "--max-runs",
      "10",
      "--export-json",
      json,
      "--style",
      "none",
      ...commands.map((c) => c.join(" ")),
    ],
    { env: { ...ctx.chunksyncEnv(), ...ctx.rcloneEnv() } },
  );
  const hf = JSON.parse(readFileSync(json, "utf8")) as HyperfineJson;
  rmSync(json, { force: true });
  if (hf.results.length !== commands.length) throw new Error("hyperfine returned no results");
  return hf.results.map((r) => ({ mean: r.mean, stddev: r.stddev ?? 0 }));
}

const cli = (args: string[]) => [process.execPath, CLI, ...args];

/** A repeatable command: chunksync's or rclone's; without `dst` it touches no bucket (startup only). */
interface ReadOnlyCommand {
  command: string;
  args: string[];
  dst?: string;
  rclone?: boolean;
}

/**
 * Read-only commands on unchanged data: one run of each between readings of the usage log
 * (bytes, requests, chunksync's summary), then all of them timed by hyperfine.
 */
async function readOnly(
  ctx: BenchContext,
  part: string,
  src: string,
  commands: ReadOnlyCommand[],
  objects?: number,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of commands) {
    if (c.dst === undefined) {
      rows.push({ part, command: c.command, seconds: 0 });
      continue;
    }
    ctx.log(`  ${part}: ${c.command}`);
    const u = await underUsage(ctx, src, c.dst, () =>
      c.rclone ? ctx.rclone(c.args) : chunksync(ctx, c.args),
    );
    const summary = c.rclone ? undefined : (parseSummary(u.result.stdout) as IndexedSummary | undefined);
    rows.push({
      part,
      command: c.command,
      seconds: u.result.seconds,
      ...(objects ? { objects } : {}),
      ...(u.source ? { source: u.source } : {}),
      ...(u.destination ? { destination: u.destination } : {}),
      ...(summary ? { summary } : {}),
    });
  }
  ctx.log(`  ${part}: timing with hyperfine`);
  const times = await hyperfine(
    ctx,
    commands.map((c) => (c.rclone ? ["rclone", ...c.args] : cli(c.args))),
  );
  return rows.map((row, i) => ({ ...row, seconds: times[i]!.mean, stddev: times[i]!.stddev }));
}

/** Compares every row whose command starts with `prefix` with the row of `peer`. */
function peers(rows: Row[], prefix: string, peer: string): void {
  const seconds = rows.find((r) => r.command === peer)?.seconds;
  for (const row of rows)
    if (row.command.startsWith(prefix) && seconds !== undefined) row.peerSeconds = seconds;
}

/** Parts (a) and (b): unchanged large objects, then a 1 MiB edit in two of them. */
async function largeObjects(ctx: BenchContext, withIndex: string[]) {
  const d = largeData(ctx.quick);
  const src = await ctx.createBucket("source", ctx.bucketName("index-src"));
  const dstI = await ctx.createBucket("destination", ctx.bucketName("index-di"));
  const dstN = await ctx.createBucket("destination", ctx.bucketName("index-dn"));
  const dstR = await ctx.createBucket("destination", ctx.bucketName("index-dr"));
  const key = (i: number) => `obj-${String(i).padStart(2, "0")}.bin`;
  const expected = new Map<string, string>();
  ctx.log(`  seeding ${d.objects} x ${d.size / MiB} MiB`);
  for (let i = 0; i < d.objects; i++) {
    const body = seededBytes(`index-${i}`, d.size);
    expected.set(key(i), sha256(body));
    await putObject(ctx.clients.source, src, key(i), body);
  }
  await letEntriesStand();
  ctx.log("  initial syncs");
  await chunksync(ctx, [...pairArgs("sync", src, dstI), ...withIndex]);
  await chunksync(ctx, [...pairArgs("sync", src, dstN), "--no-index"]);
  await ctx.rclone(rcloneSync(src, dstR));
  await letEntriesStand();

  // (a) No change: one run of each under the usage log, then all of them timed by hyperfine.
  const rows = await readOnly(ctx, "(a) no change", src, [
    { command: "chunksync sync (index)", args: [...pairArgs("sync", src, dstI), ...withIndex], dst: dstI },
    { command: "chunksync sync --no-index", args: [...pairArgs("sync", src, dstN), "--no-index"], dst: dstN },
    { command: "rclone sync --checksum", args: rcloneSync(src, dstR), dst: dstR, rclone: true },
    { command: "chunksync check (index)", args: [...pairArgs("check", src, dstI), ...withIndex], dst: dstI },
    {
      command: "chunksync check --no-index",
      args: [...pairArgs("check", src, dstN), "--no-index"],
      dst: dstN,
    },
    { command: "rclone check", args: rcloneCheck(src, dstR), dst: dstR, rclone: true },
    // What every chunksync run above pays before its first request: Node and the CLI bundle loading.
    { command: "chunksync --version (process start only)", args: ["--version"] },
  ]);
  peers(rows, "chunksync sync", "rclone sync --checksum");
  peers(rows, "chunksync check", "rclone check");

  // (b) Incremental: the same edit in the same objects, each tool's destination synced once.
  const b = "(b) 1 MiB edited in 2 objects";
  ctx.log(`  ${b}: editing`);
  for (const i of d.edited) {
    const body = seededBytes(`index-${i}`, d.size);
    seededBytes(`index-edit-${i}`, d.editLength).copy(body, d.editOffset);
    expected.set(key(i), sha256(body));
    await putObject(ctx.clients.source, src, key(i), body);
  }
  await letEntriesStand();
  const incremental: { command: string; dst: string; run: () => Promise<CommandResult> }[] = [
    {
      command: "chunksync sync (index)",
      dst: dstI,
      run: () => chunksync(ctx, [...pairArgs("sync", src, dstI), ...withIndex]),
    },
    {
      command: "chunksync sync --no-index",
      dst: dstN,
      run: () => chunksync(ctx, [...pairArgs("sync", src, dstN), "--no-index"]),
    },
    { command: "rclone sync --checksum", dst: dstR, run: () => ctx.rclone(rcloneSync(src, dstR)) },
  ];
  const incRows: Row[] = [];
  const notes: string[] = [];
  for (const c of incremental) {
    ctx.log(`  ${b}: ${c.command}`);
    const u = await underUsage(ctx, src, c.dst, c.run);
    const summary = parseSummary(u.result.stdout) as IndexedSummary | undefined;
    incRows.push({
      part: b,
      command: c.command,
      seconds: u.result.seconds,
      ...(u.source ? { source: u.source } : {}),
      ...(u.destination ? { destination: u.destination } : {}),
      ...(summary ? { summary } : {}),
    });
    const mismatched: string[] = [];
    for (const [k, sum] of expected)
      if ((await ctx.sha256OfObject("destination", c.dst, k)) !== sum) mismatched.push(k);
    if (mismatched.length > 0)
      notes.push(`${c.command}: destination NOT equal after (b): ${mismatched.join(", ")}`);
  }
  peers(incRows, "chunksync sync", "rclone sync --checksum");
  notes.push(...expectations(rows[0]!, incRows[0]!, d));
  await ctx.dropBuckets([src, dstI, dstN, dstR]);
  notes.unshift(
    `(a), (b): ${d.objects} objects x ${d.size / MiB} MiB (seeded random); (b) overwrites ${d.editLength / MiB} MiB at ` +
      `offset ${d.editOffset / MiB} MiB in ${d.edited.length} objects (same size): the changed objects hold ` +
      `${mib(d.edited.length * d.size)}, the unchanged ones ${mib((d.objects - d.edited.length) * d.size)}.`,
  );
  return { rows: [...rows, ...incRows], notes };
}

/** What the index runs of (a) and (b) were to show, against what the server counted. */
function expectations(noChange: Row, edited: Row, d: ReturnType<typeof largeData>): string[] {
  if (!noChange.source || !noChange.destination || !edited.source || !edited.destination) return [];
  const none = noChange.source.getSent === 0 && noChange.destination.getSent === 0;
  const changed = d.edited.length * d.size;
  const index = edited.summary?.index;
  return [
    `(a) chunksync sync with the index read ${noChange.source.getSent} B from the source and ` +
      `${noChange.destination.getSent} B from the destination (server): ${none ? "none, as expected" : "NOT none"}.`,
    `(b) chunksync sync with the index: source GET ${mib(edited.source.getSent)} for ${mib(changed)} in the ` +
      `${d.edited.length} changed objects (${mib(Math.max(0, edited.source.getSent - changed))} beyond them); the source side read ${index?.source?.read ?? "?"} objects and took ` +
      `${index?.source?.fromIndex ?? "?"} from its index; destination GET ${bytesCell(edited.destination.getSent)}.`,
  ];
}

/** Part (c): `check` of many small unchanged objects. */
async function smallObjects(ctx: BenchContext, withIndex: string[]) {
  const count = ctx.quick ? 2_000 : 10_000;
  const c = `(c) check ${count} x ${SMALL / 1024} KiB`;
  const src = await ctx.createBucket("source", ctx.bucketName("index-small-src"));
  const dstI = await ctx.createBucket("destination", ctx.bucketName("index-small-di"));
  const dstR = await ctx.createBucket("destination", ctx.bucketName("index-small-dr"));
  ctx.log(`  ${c}: uploading`);
  const keys = Array.from({ length: count }, (_, i) => `small/${String(i).padStart(6, "0")}.bin`);
  await pool(keys, 32, (k) => putObject(ctx.clients.source, src, k, seededBytes(k, SMALL)));
  await letEntriesStand();
  ctx.log(`  ${c}: syncing`);
  await chunksync(ctx, [...pairArgs("sync", src, dstI), ...withIndex]);
  await ctx.rclone(rcloneSync(src, dstR));
  await letEntriesStand();

  const rows = await readOnly(
    ctx,
    c,
    src,
    [
      {
        command: "chunksync check (index)",
        args: [...pairArgs("check", src, dstI), ...withIndex],
        dst: dstI,
      },
      {
        command: "chunksync check --no-index",
        args: [...pairArgs("check", src, dstI), "--no-index"],
        dst: dstI,
      },
      { command: "rclone check", args: rcloneCheck(src, dstR), dst: dstR, rclone: true },
    ],
    count,
  );
  peers(rows, "chunksync check", "rclone check");
  await ctx.dropBuckets([src, dstI, dstR]);
  const indexed = rows[0]!;
  const index = indexed.summary?.index;
  const notes = indexed.source
    ? [
        `${c}: chunksync check with the index read ${indexed.source.getSent} B from the source and ` +
          `${indexed.destination?.getSent ?? "?"} B from the destination (server) in its first run after the sync; ` +
          `objects read: source ${index?.source?.read ?? "?"}, destination ${index?.destination?.read ?? "?"} of ${count}.`,
      ]
    : [];
  return { rows, notes };
}

function render(ctx: BenchContext, rows: Row[], notes: string[]): string {
  const cells = rows.map((r) => {
    const s = r.summary;
    const idx = (side: SideIndexJson | undefined) =>
      side ? `${side.fromIndex} from index / ${side.read} read` : "";
    const index = s?.index ? `src ${idx(s.index.source)}; dst ${idx(s.index.destination)}` : s ? "off" : "";
    const time = `${secs(r.seconds)}${r.stddev ? ` ± ${r.stddev.toFixed(2)}` : ""}${
      r.objects ? ` (${rate(r.objects / r.seconds, "objects/s")})` : ""
    }`;
    return [
      r.part,
      r.command,
      time,
      r.peerSeconds === undefined ? "" : ratio(r.peerSeconds, r.seconds),
      ...(r.source && r.destination
        ? [
            bytesCell(r.source.getSent),
            bytesCell(r.destination.getSent),
            bytesCell(r.destination.received),
            `${r.source.ops} / ${r.destination.ops}`,
          ]
        : Array(4).fill(ctx.usage ? "" : "n/a")),
      s
        ? `read src ${bytesCell(s.bytes.sourceRead)} / dst ${bytesCell(s.bytes.destinationRead)}, transferred ` +
          `${bytesCell(s.bytes.transferred)}; run ${secs(s.durationMs / 1000)}`
        : "",
      index,
    ];
  });
  return [
    "## 7. Digest index",
    "",
    "chunksync with its digest index (explicit `--src-index`/`--dst-index` directories) and without it " +
      "(`--no-index`: the figures before the index) against rclone, on the same data in the same run, each tool " +
      "on its own destination bucket (`check --no-index` in (c) on chunksync's). Every index run comes at least " +
      "1.1 s after the versions it trusts were written (LastModified has whole-second precision). (a) and (c) are " +
      "read-only: bytes and requests from one run, time = mean ± sd of 3 to 10 runs (hyperfine); (b) is one run " +
      "per tool. Times are whole processes (startup included). *Speed vs rclone* = rclone's time / this time " +
      "(> 1 = faster; for (c) the objects/s ratio) against `rclone sync --checksum` for syncs and " +
      "`rclone check` for checks. Bytes and requests come from the RADOS Gateway usage log (per bucket): " +
      "*src GET* / *dst GET* = GET response bytes out of the source / destination bucket; *dst written* = " +
      "request bytes into the destination bucket; *requests* = every request on the source / destination " +
      "bucket. chunksync's own counters, its own run time without process start in the usage-logged run (*run*) and what each side's " +
      "index answered (objects from the index / objects read) from its `--json` summary. rclone at `--transfers 8 --checkers 8`, chunksync at its " +
      "default `--concurrency 8`.",
    "",
    markdownTable(
      [
        "part",
        "command",
        "time",
        "speed vs rclone",
        "src GET",
        "dst GET",
        "dst written",
        "requests src / dst",
        "chunksync's own counters",
        "index",
      ],
      cells,
    ),
    "",
    ...notes.map((n) => `${n}\n`),
    ctx.usage ? "" : "The S3 server keeps no usage log here: server byte counts are n/a.\n",
  ].join("\n");
}
