/**
 * The workflow engine over unchanged objects, against the direct engine in the same invocation,
 * with no server: N small objects on memory stores and each side's digest index in a temporary
 * directory, synced five times by each engine (the copy; the run that confirms the versions it
 * wrote with one HEAD each; a run over unchanged objects; a run after every object was rewritten
 * with other bytes of its size; one after every object was rewritten longer).
 * It prints each run's time per engine, their ratio, and how many objects ran their own flow in
 * the workflow (in AWS a Standard child execution each, about 17 state transitions and 8 Task
 * invocations): a pair both indexes answer for is decided a page at a time, a new small object
 * copied and a small one edited rewritten a page at a time, with no flow of their own; one cut
 * short whose old bytes hold it runs its own.
 *
 *   npx tsx bench/workflowNoChange.ts [--keys 16000] [--rounds 3] [--work-latency MS] [--size BYTES]
 *
 * Each round runs both engines, in alternating order; the figures are the medians.
 * `--work-latency MS` holds each request of the workflow's work area MS first, as an S3 bucket
 * answers each in AWS (the destination's functions reach it from another region): what a
 * step's requests one after the other cost, which memory hides. The work area's requests are
 * counted per 1,000 keys, with what they would cost in an S3 bucket per million keys.
 */
import { rmSync } from "node:fs";
import { loadavg } from "node:os";
import { MemoryObjectStore } from "@chunksync/storage";
import { type RunReport, runSync } from "@chunksync/sync";
import { syncWithWorkflow } from "@chunksync/workflow";
import { memoryIndexes } from "../test/support/indexes.js";
import { syncOptionsFor } from "../test/support/syncOptions.js";
import { FlowsWorkArea } from "../test/support/workflowRecords.js";
import { median, option } from "./lib/paired.js";
import { markdownTable } from "./lib/table.js";

const RUNS = ["copy", "confirm written", "unchanged", "all edited, same size", "all changed"] as const;
/** S3 Standard's request prices in us-east-1 (2026), per request: PUT and LIST, GET. */
const S3_PUT_PRICE = 0.005 / 1000;
const S3_GET_PRICE = 0.0004 / 1000;
type Engine = "direct" | "workflow";

const argv = process.argv.slice(2);
const keys = Number(option(argv, "--keys") ?? 16_000);
const rounds = Number(option(argv, "--rounds") ?? 3);
const workLatency = Number(option(argv, "--work-latency") ?? 0);
/** Each object's size: about 700 bytes unless given (over a chunk, 5 MiB, each copy runs its own flow). */
const size = option(argv, "--size") === undefined ? undefined : Number(option(argv, "--size"));
if (size !== undefined && (!Number.isInteger(size) || size < 0))
  throw new Error(`--size: a whole number of bytes, not ${option(argv, "--size")}`);
if (!Number.isInteger(keys) || keys < 1) throw new Error(`--keys: a whole number from 1, not ${keys}`);
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error(`--rounds: a whole number from 1, not ${rounds}`);

/**
 * A work area in memory that counts its requests, each answering `ms` late (where above 0), as
 * a bucket's would.
 */
class CountedWorkArea extends FlowsWorkArea {
  readonly requests = { put: 0, get: 0, list: 0 };
  constructor(readonly ms: number) {
    super();
  }
  readonly #late = () => (this.ms > 0 ? new Promise((resolve) => setTimeout(resolve, this.ms)) : undefined);
  override async put(key: string, value: unknown): Promise<void> {
    this.requests.put++;
    await this.#late();
    return super.put(key, value);
  }
  override async get<T>(key: string): Promise<T | undefined> {
    this.requests.get++;
    await this.#late();
    return super.get<T>(key);
  }
  override list(prefix: string): AsyncIterable<string> {
    this.requests.list++;
    return super.list(prefix);
  }
}

/** What one engine's runs took, per run. */
interface Runs {
  seconds: number[];
  /** Objects in a flow of their own (the workflow's). */
  flows: number[];
  /** The workflow's work-area requests (PUT, GET and LIST: its S3 requests in AWS). */
  requests: { put: number; get: number; list: number }[];
}

/** One engine's runs over fresh stores and indexes. */
async function runsOf(engine: Engine): Promise<Runs> {
  // Each run is a second later by the stores' clock, so that the written versions can be confirmed.
  let clock = Date.now();
  const now = () => new Date(clock);
  const source = new MemoryObjectStore({ bucket: "src", now });
  const destination = new MemoryObjectStore({ bucket: "dst", now });
  const fill = async (tag: string) => {
    for (let i = 0; i < keys; i++) {
      const text = `${tag} ${i} `;
      const body = size === undefined ? Buffer.from(text.repeat(50)) : Buffer.alloc(size, text);
      await source.put(`k/${String(i).padStart(8, "0")}`, body, body.length, { metadata: {} }, undefined);
    }
  };
  await fill("object");
  const secret = Buffer.alloc(32, 7);
  // Each side's index in a directory of its own, as the engines' tests keep them.
  const { dir, source: sourceIndex, destination: destinationIndex } = memoryIndexes(secret);
  const options = syncOptionsFor(source, destination, secret, {
    chunkSize: sourceIndex.scope.chunkSize,
    index: { source: sourceIndex, destination: destinationIndex },
  });
  const seconds: number[] = [];
  const flows: number[] = [];
  const requests: Runs["requests"] = [];
  try {
    for (const run of RUNS) {
      // Every object rewritten with other bytes: of its size, or longer (the workflow rewrites
      // such a small one on its page either way).
      if (run === "all edited, same size") await fill("edited");
      if (run === "all changed") await fill("changed");
      clock += 3000;
      const work = new CountedWorkArea(workLatency);
      const started = performance.now();
      const report: RunReport =
        engine === "direct" ? await runSync(options) : await syncWithWorkflow({ ...options, work });
      seconds.push((performance.now() - started) / 1000);
      const expected =
        run === "copy"
          ? { missing: keys }
          : run === "all changed" || run === "all edited, same size"
            ? { changed: keys }
            : { identical: keys };
      for (const [state, count] of Object.entries(expected))
        if (report.objects[state as keyof RunReport["objects"]] !== count)
          throw new Error(`${engine}, ${run}: ${JSON.stringify(report.objects)}, not ${count} ${state}`);
      requests.push({ ...work.requests });
      flows.push(engine === "workflow" ? work.flows().length : 0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { seconds, flows, requests };
}

const seen: Record<Engine, { seconds: number[][]; flows: number[]; requests: Runs["requests"] }> = {
  direct: { seconds: RUNS.map(() => []), flows: [], requests: [] },
  workflow: { seconds: RUNS.map(() => []), flows: [], requests: [] },
};
for (let round = 0; round < rounds; round++) {
  const order: Engine[] = round % 2 === 0 ? ["direct", "workflow"] : ["workflow", "direct"];
  for (const engine of order) {
    const { seconds, flows, requests } = await runsOf(engine);
    for (const [i, s] of seconds.entries()) seen[engine].seconds[i]!.push(s);
    seen[engine].flows = flows;
    seen[engine].requests = requests;
  }
  process.stderr.write(`round ${round + 1} of ${rounds} done\n`);
}

const at = (engine: Engine, i: number) => median(seen[engine].seconds[i]!);
console.log(
  `# The workflow engine against the direct engine, ${keys.toLocaleString("en")} ${size === undefined ? "small objects" : `objects of ${size.toLocaleString("en")} bytes`}, memory stores\n`,
);
console.log(
  `${rounds} rounds, medians; load ${loadavg()[0]!.toFixed(1)}; work-area requests ${workLatency} ms late\n`,
);
console.log(
  markdownTable(
    [
      "run",
      "direct (s)",
      "workflow (s)",
      "workflow / direct",
      "workflow: objects in their own flow",
      "workflow: work-area PUT, GET, LIST per 1,000 keys",
      "their S3 price per million keys",
    ],
    RUNS.map((run, i) => {
      const { put, get, list } = seen.workflow.requests[i]!;
      return [
        run,
        at("direct", i).toFixed(2),
        at("workflow", i).toFixed(2),
        `${(at("workflow", i) / at("direct", i)).toFixed(1)}x`,
        seen.workflow.flows[i]!.toLocaleString("en"),
        [put, get, list].map((n) => Math.round((n / keys) * 1000).toLocaleString("en")).join(", "),
        `$${((((put + list) * S3_PUT_PRICE + get * S3_GET_PRICE) / keys) * 1e6).toFixed(2)}`,
      ];
    }),
  ),
);
