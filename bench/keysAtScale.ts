/**
 * Memory at scale: peak RSS of the direct engine over N keys, with no server. Two synthetic
 * stores list N keys between them, generated in S3's order (even keys on the source only,
 * odd keys on the destination only, all empty), so the run is the listing merge, one result
 * per key and the JSON Lines report written as `--report` writes it, at little CPU per key.
 *
 *   npm run bench:keys -- [--keys 100000,1000000,10000000]
 *
 * Each N runs in a child process of its own, which reports its peak RSS
 * (process.resourceUsage().maxRSS). Target: flat, at most 300 MB at 10^7 keys.
 *
 * With `--index`, each child runs twice with digest indexes in a temporary directory: the
 * first run writes them, the second reads them beside the listings and writes anew a side's
 * index where an entry changed (one whose entries all still stand is left as it was); the peak
 * covers both.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pairingTag } from "@chunksync/core";
import {
  DirectoryIndexLocation,
  objectLine,
  type RunReport,
  RunStats,
  runSync,
  type SyncOptions,
  summaryLine,
} from "@chunksync/sync";
import { JsonLinesReport } from "../packages/cli/src/jsonLinesReport.js";
import { syncOptionsFor } from "../test/support/syncOptions.js";
import { SyntheticListingStore } from "../test/support/syntheticStore.js";
import { runCommand } from "./lib/exec.js";
import { markdownTable } from "./lib/table.js";

const MB = 1_000_000;
/** rclone's documented memory per object of a listed directory or bucket. */
const RCLONE_PER_OBJECT = [500, 1000];
const TARGET_AT_10M = 300 * MB;

interface ChildResult {
  keys: number;
  /** Entries in the source's index after the second run (with `--index`). */
  indexEntries?: number;
  indexBytes?: number;
  maxRssBytes: number;
  seconds: number;
  reportBytes: number;
  results: number;
}

/** One run over `keys` keys (two with `withIndex`), in this process; prints its figures as JSON. */
async function child(keys: number, withIndex: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "chunksync-keys-"));
  const path = join(dir, "report.jsonl");
  const file = await open(path, "a");
  const started = process.hrtime.bigint();
  const secret = randomBytes(32);
  const scope = (bucket: string) => ({
    storage: "synthetic",
    bucket,
    prefix: "",
    chunkSize: 8 * 1024 * 1024,
    algorithm: "sha256" as const,
    pairing: pairingTag(secret),
  });
  const side = (bucket: string) => ({
    location: new DirectoryIndexLocation(join(dir, "index", bucket)),
    scope: scope(bucket),
    consult: true,
  });
  const index = withIndex ? { source: side("src"), destination: side("dst") } : undefined;
  let results = 0;
  try {
    let report: RunReport | undefined;
    if (index) report = await runSync(options(keys, secret, index, async () => {}));
    const lines = await JsonLinesReport.begin(file, path);
    report = await runSync(
      options(keys, secret, index, async (r) => {
        results++;
        await lines.add(objectLine(r));
      }),
    );
    await lines.add(summaryLine(report));
    await lines.flush();
    const out: ChildResult = {
      keys,
      ...(report.index?.source?.written !== undefined
        ? { indexEntries: report.index.source.written, indexBytes: directoryBytes(join(dir, "index")) }
        : {}),
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
      reportBytes: statSync(path).size,
      results,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await file.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes of the files under `dir`. */
function directoryBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/** A dry run over the two synthetic listings of `keys` keys. */
function options(
  keys: number,
  secret: Buffer,
  index: SyncOptions["index"],
  onResult: SyncOptions["onResult"],
): SyncOptions {
  return syncOptionsFor(
    new SyntheticListingStore("src", keys, (i) => i % 2 === 0),
    new SyntheticListingStore("dst", keys, (i) => i % 2 === 1),
    secret,
    {
      dryRun: true,
      stats: new RunStats(),
      ...(index ? { index } : {}),
      ...(onResult ? { onResult } : {}),
    },
  );
}

async function parent(sizes: number[]): Promise<void> {
  const rows: string[][] = [];
  const runs: ChildResult[] = [];
  // N = 0: what the process holds before any key (Node, the loader, the modules).
  for (const keys of [0, ...sizes]) {
    console.error(`running ${keys.toLocaleString("en")} keys`);
    const r = await runCommand(
      process.execPath,
      ["--import", "tsx", import.meta.filename, "--child", String(keys), ...(withIndex ? ["--index"] : [])],
      {
        timeoutMs: 3_600_000,
      },
    );
    const result = JSON.parse(r.stdout.trim()) as ChildResult;
    if (result.results !== keys) throw new Error(`${keys} keys gave ${result.results} results`);
    runs.push(result);
  }
  const base = runs[0] as ChildResult;
  for (const [i, r] of runs.entries()) {
    if (i === 0) continue;
    const before = runs[i - 1] as ChildResult;
    const perKey = (r.maxRssBytes - base.maxRssBytes) / r.keys;
    // What each key added over the smaller run before it: 0 when memory is flat.
    const growth = (r.maxRssBytes - before.maxRssBytes) / (r.keys - before.keys);
    rows.push([
      r.keys.toLocaleString("en"),
      `${(r.maxRssBytes / MB).toFixed(0)} MB`,
      `${((r.maxRssBytes - base.maxRssBytes) / MB).toFixed(0)} MB`,
      `${perKey.toFixed(1)} B`,
      `${growth.toFixed(1)} B`,
      `${((r.keys * RCLONE_PER_OBJECT[0]!) / MB).toFixed(0)}-${((r.keys * RCLONE_PER_OBJECT[1]!) / MB).toFixed(0)} MB`,
      `${(r.reportBytes / MB).toFixed(0)} MB`,
      `${r.seconds.toFixed(1)} s`,
      `${Math.round(r.keys / r.seconds).toLocaleString("en")}`,
      ...(withIndex ? [String(r.indexEntries ?? 0), `${((r.indexBytes ?? 0) / MB).toFixed(0)} MB`] : []),
    ]);
  }
  const at10M = runs.find((r) => r.keys === 10_000_000);
  console.log(
    [
      "## Memory at scale (keys, no server)",
      "",
      "Direct engine, dry run over two synthetic listings (even keys on the source only, odd keys on the " +
        "destination only, empty objects), the JSON Lines report written to a file as `--report` writes it. " +
        `Peak RSS is the child process's maxRSS; the process alone with no key peaks at ${(base.maxRssBytes / MB).toFixed(0)} MB. ` +
        "Per key: above no keys, divided by the keys; per key added: over the smaller run before. " +
        "rclone holds 0.5-1 KB per object of a listed directory or bucket." +
        (withIndex
          ? " With digest indexes: two runs per child, the first writing both sides' indexes, the second reading them beside the listings and writing anew each side's index where an entry changed (time and peak cover both)."
          : ""),
      "",
      markdownTable(
        [
          "keys",
          "peak RSS",
          "above no keys",
          "per key",
          "per key added",
          "rclone (0.5-1 KB/object)",
          "report file",
          "time",
          "keys/s",
          ...(withIndex ? ["source index entries", "index files"] : []),
        ],
        rows,
      ),
      "",
      at10M
        ? `Target at 10^7 keys: peak RSS <= ${TARGET_AT_10M / MB} MB: ${at10M.maxRssBytes <= TARGET_AT_10M ? "met" : "MISSED"}.`
        : "Target at 10^7 keys (peak RSS <= 300 MB): not run (add 10000000 to --keys).",
      "",
    ].join("\n"),
  );
}

const argv = process.argv.slice(2);
const at = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
const childKeys = at("--child");
const withIndex = argv.includes("--index");
const work =
  childKeys !== undefined
    ? child(Number(childKeys), withIndex)
    : parent((at("--keys") ?? "100000,1000000").split(",").map((s) => Number(s.replaceAll("_", ""))));
work.catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
