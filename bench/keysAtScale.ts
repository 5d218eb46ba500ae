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
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { objectLine, RunStats, runSync, summaryLine } from "@chunksync/sync";
import { JsonLinesReport } from "../packages/cli/src/jsonLinesReport.js";
import { SyntheticListingStore } from "../test/support/syntheticStore.js";
import { runCommand } from "./lib/exec.js";
import { markdownTable } from "./lib/table.js";

const MB = 1_000_000;
/** rclone's documented memory per object of a listed directory or bucket. */
const RCLONE_PER_OBJECT = [500, 1000];
const TARGET_AT_10M = 300 * MB;

interface ChildResult {
  keys: number;
  maxRssBytes: number;
  seconds: number;
  reportBytes: number;
  results: number;
}

/** One run over `keys` keys, in this process; prints its figures as JSON. */
async function child(keys: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "chunksync-keys-"));
  const path = join(dir, "report.jsonl");
  const file = await open(path, "a");
  const started = process.hrtime.bigint();
  let results = 0;
  try {
    const lines = await JsonLinesReport.begin(file, path);
    const report = await runSync({
      source: new SyntheticListingStore("src", keys, (i) => i % 2 === 0),
      sourcePrefix: "",
      destination: new SyntheticListingStore("dst", keys, (i) => i % 2 === 1),
      destinationPrefix: "",
      secret: randomBytes(32),
      algorithm: "sha256",
      variant: "encode",
      chunkSize: 8 * 1024 * 1024,
      verify: "changed",
      concurrency: 8,
      serverSideCopy: false,
      copyTags: false,
      filters: [],
      delete: false,
      dryRun: true,
      stats: new RunStats(),
      onResult: async (r) => {
        results++;
        await lines.add(objectLine(r));
      },
    });
    await lines.add(summaryLine(report));
    await lines.flush();
    const out: ChildResult = {
      keys,
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

async function parent(sizes: number[]): Promise<void> {
  const rows: string[][] = [];
  const runs: ChildResult[] = [];
  // N = 0: what the process holds before any key (Node, the loader, the modules).
  for (const keys of [0, ...sizes]) {
    console.error(`running ${keys.toLocaleString("en")} keys`);
    const r = await runCommand(
      process.execPath,
      ["--import", "tsx", import.meta.filename, "--child", String(keys)],
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
        "rclone holds 0.5-1 KB per object of a listed directory or bucket.",
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
const work =
  childKeys !== undefined
    ? child(Number(childKeys))
    : parent((at("--keys") ?? "100000,1000000").split(",").map((s) => Number(s.replaceAll("_", ""))));
work.catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
