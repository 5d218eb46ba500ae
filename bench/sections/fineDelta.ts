import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type BenchContext, type ChunksyncSummary, letEntriesStand } from "../lib/BenchContext.js";
import { cachedDir, putObject, seededBytes, sha256 } from "../lib/data.js";
import { runCommand } from "../lib/exec.js";
import { type RsyncDelta, rsyncDelta } from "../lib/rsync.js";
import { bytesCell, MiB, markdownTable, mib, ratio, secs } from "../lib/table.js";
import { type BucketUsage, usageDelta } from "../lib/usage.js";
import { chunksyncTool, rcloneTool } from "./deltaScenario.js";

/** Names every generated file (bench/.data): change it with any generator or edit, or reruns reuse stale files. */
const SEED = "fine-1";
const KEY = "object.bin";
/** SQLite's default page size: the unit a database changes by. */
const PAGE = 4096;
const GENERATOR = join(import.meta.dirname, "../lib/fineDeltaData.py");

/** The two local versions of a case's object and what changed between them. */
interface CaseFiles {
  old: string;
  next: string;
  change: string;
}

interface FineCase {
  /** As the tables name it: the issue's letter, then what changes. */
  id: string;
  /** The issue's letter, in bucket names. */
  letter: string;
  files(quick: boolean): Promise<CaseFiles>;
  /** The issue's bound on chunksync's crossed bytes; some are stated against rsync's figures. */
  target(rsync: RsyncDelta): { limit: number; text: string };
}

/** One tool's timed run on a case, with the server's counts of the source and its destination bucket. */
interface ToolFigures {
  seconds: number;
  summary?: ChunksyncSummary;
  source?: BucketUsage;
  destination?: BucketUsage;
  /** The destination object's sha256 equals the source object's (full GET of both). */
  equal: boolean;
}

interface CaseResult {
  c: FineCase;
  files: CaseFiles;
  sizes: { old: number; next: number };
  pages: PageFacts;
  rsync: RsyncDelta;
  chunksync?: ToolFigures;
  rclone?: ToolFigures;
  failure?: string;
}

const chunksync = chunksyncTool("chunksync sync");

/**
 * Section 9: bytes that cross for real edits (issue 12's benchmarks), against rsync between
 * two local files (the reference for the minimum) and rclone (whole objects), in one run.
 * Each case: the old version synced first (indexes warm), the new one put on the source, one
 * timed sync per tool, then both destinations compared with the source byte for byte.
 */
export async function fineDeltaSection(ctx: BenchContext): Promise<string> {
  const results: CaseResult[] = [];
  for (const c of CASES) results.push(await runCase(ctx, c));
  return render(ctx, results);
}

const CASES: FineCase[] = [
  {
    letter: "a",
    id: "(a) 1 MiB edited in 64 MiB",
    files: () =>
      seededPair("edit", 64 * MiB, (old) => {
        const next = Buffer.from(old);
        seededBytes(`${SEED}-edit-bytes`, MiB).copy(next, 33 * MiB);
        return next;
      }).then((f) => ({ ...f, change: "1 MiB overwritten at 33 MiB, same size (seeded random)" })),
    target: () => ({ limit: 1.1 * MiB, text: "<= 1.1 MiB" }),
  },
  {
    letter: "b",
    id: "(b) rows updated in a SQLite database",
    files: (quick) =>
      generatedPair(
        "sqlite",
        quick ? 40e6 : 200e6,
        ["base.db", "updated.db"],
        (f) => `${f.updatedRows} of ${f.rows} rows updated, spread over the table, one commit`,
      ),
    target: (rsync) => ({
      limit: 2 * rsync.literal,
      text: `<= 2x touched blocks; rsync literal as their proxy: <= ${bytesCell(2 * rsync.literal)}`,
    }),
  },
  {
    letter: "c",
    id: "(c) a file inserted near the start of a tar",
    files: (quick) =>
      generatedPair(
        "tar",
        quick ? 60e6 : 300e6,
        ["old.tar", "new.tar"],
        (f) => `a ${f.inserted} B file inserted first among ${f.files} (uncompressed, sorted by name)`,
      ),
    target: () => ({ limit: 1e6, text: "<= 1 MB" }),
  },
  {
    letter: "d",
    id: "(d) the SQLite database after VACUUM",
    files: (quick) =>
      generatedPair(
        "sqlite",
        quick ? 40e6 : 200e6,
        ["base.db", "vacuumed.db"],
        (f) => `${f.deletedRows} of ${f.rows} rows deleted in 20 runs spread over the table, then VACUUM`,
      ),
    target: (rsync) => ({ limit: 5 * rsync.sent, text: `<= 5x rsync sent: <= ${bytesCell(5 * rsync.sent)}` }),
  },
  {
    letter: "e",
    id: "(e) 1 MiB appended",
    // Like 300 MiB, the quick size is no whole number of 8 MiB chunks: the old tail chunk is partial.
    files: (quick) =>
      seededPair("append", (quick ? 68 : 300) * MiB, (old) =>
        Buffer.concat([old, seededBytes(`${SEED}-append-bytes`, MiB)]),
      ).then((f) => ({ ...f, change: "1 MiB appended (seeded random)" })),
    target: () => ({ limit: 1.1 * MiB, text: "<= 1.1 MiB" }),
  },
];

/** Seeded random bytes of `size` and the version `edit` makes of them, generated once. */
async function seededPair(
  name: string,
  size: number,
  edit: (old: Buffer) => Buffer,
): Promise<{ old: string; next: string }> {
  const dir = await cachedDir(`${name}-${SEED}-${size}`, async (d) => {
    const old = seededBytes(`${SEED}-${name}`, size);
    writeFileSync(join(d, "old.bin"), old);
    writeFileSync(join(d, "new.bin"), edit(old));
  });
  return { old: join(dir, "old.bin"), next: join(dir, "new.bin") };
}

interface GeneratorFacts {
  rows: number;
  updatedRows: number;
  deletedRows: number;
  files: number;
  inserted: number;
}

/**
 * Two of the files python3 (sqlite3, tarfile) generates for `kind`, built once: a database and
 * its edited versions, or a tar and the tar with one more file.
 */
async function generatedPair(
  kind: "sqlite" | "tar",
  size: number,
  [old, next]: [string, string],
  change: (facts: GeneratorFacts) => string,
): Promise<CaseFiles> {
  const dir = await cachedDir(`${kind}-${SEED}-${size}`, async (d) => {
    const r = await runCommand("python3", [GENERATOR, kind, d, SEED, String(size)]);
    writeFileSync(join(d, "facts.json"), r.stdout);
  });
  const facts = JSON.parse(readFileSync(join(dir, "facts.json"), "utf8")) as GeneratorFacts;
  return { old: join(dir, old), next: join(dir, next), change: change(facts) };
}

interface PageFacts {
  /** Bytes of the new version's 4 KiB pages that differ from the old version's at the same offset. */
  changedInPlace: number;
  /** Share of the new version's pages that the old version holds at any page offset. */
  foundInOld: number;
}

/** How much of the new version is new, page by page: a database changes by whole pages. */
function pageFacts(old: Buffer, next: Buffer): PageFacts {
  const digest = (b: Buffer, at: number) =>
    createHash("sha1")
      .update(b.subarray(at, at + PAGE))
      .digest("hex");
  const oldPages = new Set<string>();
  for (let at = 0; at < old.length; at += PAGE) oldPages.add(digest(old, at));
  let changedInPlace = 0;
  let found = 0;
  let pages = 0;
  for (let at = 0; at < next.length; at += PAGE, pages++) {
    const page = next.subarray(at, at + PAGE);
    if (!page.equals(old.subarray(at, at + PAGE))) changedInPlace += page.length;
    if (oldPages.has(digest(next, at))) found++;
  }
  return { changedInPlace, foundInOld: pages === 0 ? 1 : found / pages };
}

async function runCase(ctx: BenchContext, c: FineCase): Promise<CaseResult> {
  ctx.log(`  ${c.id}: preparing the data`);
  const files = await c.files(ctx.quick);
  const old = readFileSync(files.old);
  const next = readFileSync(files.next);
  ctx.log(`  ${c.id}: rsync between local files`);
  const result: CaseResult = {
    c,
    files,
    sizes: { old: old.length, next: next.length },
    pages: pageFacts(old, next),
    rsync: await rsyncDelta(files.old, files.next),
  };
  const label = `fine-${c.letter}`;
  const src = await ctx.createBucket("source", ctx.bucketName(`${label}-src`));
  const dstC = await ctx.createBucket("destination", ctx.bucketName(`${label}-dc`));
  const dstR = await ctx.createBucket("destination", ctx.bucketName(`${label}-dr`));
  try {
    ctx.log(`  ${c.id}: the old version synced by each tool`);
    await putObject(ctx.clients.source, src, KEY, old);
    await letEntriesStand();
    await chunksync.sync(ctx, src, dstC);
    await rcloneTool.sync(ctx, src, dstR);
    await putObject(ctx.clients.source, src, KEY, next);
    await letEntriesStand();

    // One settled reading between runs: each run's counts are its own, and no reading is taken twice.
    ctx.log(`  ${c.id}: chunksync sync`);
    const s0 = await ctx.usage?.settled();
    const cs = await chunksync.sync(ctx, src, dstC);
    const s1 = await ctx.usage?.settled();
    // Exact, as the table rounds to a tenth of a MiB: a few KiB more or less show here.
    ctx.log(`  ${c.id}: chunksync crossed ${crossedBy(cs.summary) ?? "n/a"} B`);
    ctx.log(`  ${c.id}: rclone sync`);
    const rc = await rcloneTool.sync(ctx, src, dstR);
    const s2 = await ctx.usage?.settled();

    const expected = sha256(next);
    const onSource = await ctx.sha256OfObject("source", src, KEY);
    if (onSource !== expected) throw new Error(`the source object is not the new version (${onSource})`);
    const equal = async (dst: string) => (await ctx.sha256OfObject("destination", dst, KEY)) === onSource;
    const counted = (a: typeof s0, b: typeof s0, dst: string) =>
      a && b ? { source: usageDelta(a, b, src), destination: usageDelta(a, b, dst) } : {};
    result.chunksync = {
      seconds: cs.seconds,
      ...(cs.summary ? { summary: cs.summary } : {}),
      ...counted(s0, s1, dstC),
      equal: await equal(dstC),
    };
    result.rclone = { seconds: rc.seconds, ...counted(s1, s2, dstR), equal: await equal(dstR) };
    if (!result.chunksync.equal)
      result.failure = "the destination object is NOT byte-equal to the source after chunksync sync";
  } catch (error) {
    result.failure = error instanceof Error ? error.message : String(error);
  } finally {
    await ctx.dropBuckets([src, dstC, dstR]);
  }
  if (result.failure) ctx.log(`  ${c.id}: FAILED: ${result.failure}`);
  return result;
}

/** The bytes chunksync says crossed from the source side to the destination side. */
function crossedBy(summary: ChunksyncSummary | undefined): number | undefined {
  return summary?.bytes.transferred;
}

function render(ctx: BenchContext, results: CaseResult[]): string {
  const data = results.map((r) => [
    r.c.id,
    `${mib(r.sizes.old)} -> ${mib(r.sizes.next)}`,
    r.files.change,
    bytesCell(r.pages.changedInPlace),
    `${(r.pages.foundInOld * 100).toFixed(1)}%`,
    bytesCell(r.rsync.literal),
    bytesCell(r.rsync.sent),
    secs(r.rsync.seconds),
  ]);
  const server = (t: ToolFigures | undefined) =>
    t?.source && t.destination
      ? `${bytesCell(t.source.getSent)} / ${bytesCell(t.destination.received)} / ${bytesCell(t.destination.getSent)}`
      : "n/a";
  const verdicts: string[] = [];
  const rows = results.map((r) => {
    const cs = r.chunksync;
    const crossed = crossedBy(cs?.summary);
    const target = r.c.target(r.rsync);
    const verdict = r.failure
      ? "FAILED"
      : crossed === undefined
        ? "n/a"
        : crossed <= target.limit
          ? "met"
          : "unmet";
    verdicts.push(`${r.c.id}: ${verdict}`);
    const rcloneCrossed = r.rclone?.source?.getSent;
    return [
      r.c.id,
      bytesCell(crossed),
      cs?.summary
        ? `${bytesCell(cs.summary.bytes.sourceRead)} / ${bytesCell(cs.summary.bytes.destinationRead)}`
        : "n/a",
      server(cs),
      secs(cs?.seconds),
      r.failure ? `NO: ${r.failure}` : "yes",
      bytesCell(rcloneCrossed),
      secs(r.rclone?.seconds),
      `${r.rclone ? (r.rclone.equal ? "yes" : "NO") : "n/a"}`,
      `${ratio(crossed, r.rsync.sent)} / ${ratio(crossed, rcloneCrossed)}`,
      ratio(cs?.seconds, r.rclone?.seconds),
      target.text,
      verdict,
    ];
  });
  const failed = results.filter((r) => r.failure);
  return [
    "## 9. Fine-grained delta",
    "",
    ...(failed.length > 0
      ? [`**FAILED: ${failed.map((r) => `${r.c.id}: ${r.failure}`).join("; ")}**`, ""]
      : []),
    "Issue 12's benchmarks: the bytes that cross from the source side to the destination side for real edits. " +
      "Each case puts the old version on the source and lets each tool sync it to its own destination bucket " +
      "(chunksync's digest indexes are then warm), puts the new version, waits 1.1 s (LastModified has " +
      "whole-second precision), and times one sync per tool; then a full GET of the source object and of " +
      "each destination object must give the same sha256. The data is seeded and generated once under " +
      "bench/.data (the databases and the tar by python3's sqlite3 and tarfile; SQLite's default 4 KiB pages). " +
      "*rsync* is `rsync --no-whole-file --ignore-times --stats` from the new file onto a copy of the old one " +
      "(two local processes): *literal* = bytes of the new file it sent as they are, *sent* = everything its " +
      "sender sent; the reference for the minimum. *Pages changed in place* = 4 KiB pages of the new version " +
      "differing from the old version's at the same offset; *found in old* = share of the new version's pages " +
      "the old version holds at any page offset.",
    "",
    markdownTable(
      [
        "case",
        "old -> new",
        "change",
        "pages changed in place",
        "found in old",
        "rsync literal",
        "rsync sent",
        "rsync time",
      ],
      data,
    ),
    "",
    "*chunksync crossed* = `bytes.transferred` of its `--json` summary (the bytes that crossed from the " +
      "source side to the destination side; an assembled part's old bytes, read on the destination's side, " +
      "are not among them); *read src / dst* = its own counts of each side's reads. *Server* = the RADOS " +
      "Gateway usage log for the same run: GET bytes out of the source bucket / request bytes into the " +
      "destination bucket / GET bytes out of the destination bucket. *rclone crossed* = GET bytes out of " +
      "the source bucket in rclone's run (it copies whole objects through itself). Times are whole " +
      "processes, one run each. *vs rsync / rclone* = chunksync crossed / rsync sent and / rclone crossed; " +
      "*time vs rclone* = chunksync's time / rclone's. chunksync at its defaults (8 MiB chunks, " +
      "`--concurrency 8`), rclone `sync --checksum --transfers 8 --checkers 8`.",
    "",
    markdownTable(
      [
        "case",
        "chunksync crossed",
        "read src / dst",
        "server: src GET / dst written / dst GET",
        "chunksync time",
        "equal after",
        "rclone crossed",
        "rclone time",
        "rclone equal",
        "crossed vs rsync / rclone",
        "time vs rclone",
        "target (issue 12)",
        "verdict",
      ],
      rows,
    ),
    "",
    `Targets: ${verdicts.join("; ")}. For (b) the touched blocks are those of the engine's content-defined ` +
      "blocks, which this bench cannot see from outside; rsync's literal data stands in for them.",
    ctx.usage ? "" : "\nThe S3 server keeps no usage log here: server byte counts are n/a.",
    "",
  ].join("\n");
}
