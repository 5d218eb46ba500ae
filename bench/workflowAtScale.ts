/**
 * Memory of an in-process `--engine workflow` run at scale, with no server: two synthetic stores
 * list the same N empty objects (see SyntheticListingStore), so the run is N object flows that
 * each decide "identical" from two HEADs, through the whole state machine and its work area.
 *
 *   npx tsx bench/workflowAtScale.ts [--keys 10000,100000]
 *
 * Each N runs in a child process of its own (`--expose-gc`), which prints its time, its peak RSS
 * (process.resourceUsage().maxRSS) and its peak live heap: the heap used right after a full
 * collection, sampled every 2 s (a peak RSS follows when V8 collects, not what the run holds).
 * The growth per key between two N is what each key adds: 0 where memory is flat.
 */
import { randomBytes } from "node:crypto";
import { syncWithWorkflow } from "@chunksync/workflow";
import { syncOptionsFor } from "../test/support/syncOptions.js";
import { SyntheticListingStore } from "../test/support/syntheticStore.js";
import { runCommand } from "./lib/exec.js";
import { option } from "./lib/paired.js";
import { markdownTable } from "./lib/table.js";

const MB = 1_000_000;

interface ChildResult {
  keys: number;
  seconds: number;
  maxRssBytes: number;
  peakLiveBytes: number;
}

async function child(keys: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with --expose-gc");
  let peakLiveBytes = 0;
  const sample = () => {
    gc();
    peakLiveBytes = Math.max(peakLiveBytes, process.memoryUsage().heapUsed);
  };
  const timer = setInterval(sample, 2000);
  const started = performance.now();
  const report = await syncWithWorkflow(
    syncOptionsFor(
      new SyntheticListingStore("src", keys),
      new SyntheticListingStore("dst", keys),
      randomBytes(32),
      {},
    ),
  );
  clearInterval(timer);
  sample();
  if (report.objects.identical !== keys) throw new Error(`${keys} keys: ${JSON.stringify(report.objects)}`);
  const out: ChildResult = {
    keys,
    seconds: (performance.now() - started) / 1000,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    peakLiveBytes,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

async function parent(sizes: number[]): Promise<void> {
  const runs: ChildResult[] = [];
  for (const keys of sizes) {
    console.error(`running ${keys.toLocaleString("en")} keys`);
    const r = await runCommand(
      process.execPath,
      ["--expose-gc", "--import", "tsx", import.meta.filename, "--child", String(keys)],
      { timeoutMs: 3_600_000 },
    );
    runs.push(JSON.parse(r.stdout.trim()) as ChildResult);
  }
  console.log("## In-process workflow at scale (synthetic stores, no server)\n");
  console.log(
    markdownTable(
      [
        "keys",
        "time",
        "objects/s",
        "peak RSS",
        "peak live heap",
        "live heap added per key since the row before",
      ],
      runs.map((r, i) => {
        const before = runs[i - 1];
        const growth = before ? (r.peakLiveBytes - before.peakLiveBytes) / (r.keys - before.keys) : undefined;
        return [
          r.keys.toLocaleString("en"),
          `${r.seconds.toFixed(1)} s`,
          Math.round(r.keys / r.seconds).toLocaleString("en"),
          `${(r.maxRssBytes / MB).toFixed(0)} MB`,
          `${(r.peakLiveBytes / MB).toFixed(0)} MB`,
          growth === undefined ? "" : `${growth.toFixed(0)} B`,
        ];
      }),
    ),
  );
}

const argv = process.argv.slice(2);
const childAt = argv.indexOf("--child");
if (childAt >= 0) await child(Number(argv[childAt + 1]));
else {
  const sizes = (option(argv, "--keys") ?? "10000,100000").split(",").map(Number);
  for (const n of sizes)
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`--keys: whole numbers from 1, comma-separated, not ${n}`);
  await parent(sizes);
}
