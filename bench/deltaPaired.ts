/**
 * Paired incremental runs of the delta bench (8 x 64 MiB, 1 MiB edited at 33 MiB in 2 objects):
 * each round edits the source afresh, then every tool syncs it into its own destination, in an
 * order rotated each round, so the tools share the machine's load minute by minute. Prints each
 * run's wall and CPU time, the medians and the paired ratios against rclone.
 *
 *   npx tsx bench/deltaPaired.ts [--rounds 6] [--tools blocks,noblocks,rclone] [--prof DIR] [--versioned] [--bytes] [--busy] [--one SIZE_MIB:EDIT_MIB]
 *
 * `--versioned` enables versioning on every bucket: the copies of a re-composition then name
 * the version they copy, and a re-composed object keeps its destination index entry.
 * Tools: `blocks` (chunksync, the default), `noblocks` (`--no-blocks`), `blocks-wf` and
 * `noblocks-wf` (the same with `--engine workflow`), `rclone` (`sync --checksum`); with
 * `--base DIR` (another commit built by `scripts/build-other.ts`), `base-blocks` etc. run that checkout's CLI: paired
 * before/after figures. `--prof DIR`
 * writes a V8 CPU profile of each chunksync run into DIR/<tool>-<round>, and its stderr into
 * DIR/<tool>-<round>.log. `--latency MS` puts a proxy in front of the server that holds every
 * request MS before forwarding it, for every tool alike: a remote store's round trip, so that a
 * chain of dependent requests costs what it would there, whatever the local load. `--trace DIR`
 * (through the same proxy, with or without latency) writes every request of each run into
 * DIR/<tool>-<round>.trace: ms from the run's start to its arrival and to its answer's end.
 * `--busy` also prints how busy the machine's cores were (all processes) in each tenth of each
 * tool's runs (medians): where a run leaves a core idle, and where work added would wait for none.
 * `--bytes` also prints the bytes each run read from the source, read from the destination and
 * wrote into it, as the server's usage log counts them (a settled snapshot before and after each
 * run, outside its timing). `--one SIZE_MIB:EDIT_MIB` edits one object of SIZE_MIB instead, 1 MiB
 * at EDIT_MIB (see {@link shapeOf}).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startLocalS3 } from "../scripts/local-s3/index.js";
import type { SeenRequest } from "../test/support/faultProxy.js";
import { BenchContext, CLI, letEntriesStand } from "./lib/BenchContext.js";
import { putObject, seededBytes, sha256 } from "./lib/data.js";
import { runCommand } from "./lib/exec.js";
import { latencyProxy } from "./lib/latency.js";
import { sampleMachineBusy } from "./lib/machineBusy.js";
import { otherCli } from "./lib/otherBuild.js";
import { serverCpuSeconds } from "./lib/serverCpu.js";
import { MiB } from "./lib/table.js";
import { ensureTools } from "./lib/tools.js";
import { usageDelta } from "./lib/usage.js";
import { DELTA } from "./sections/deltaScenario.js";

const CHUNKSYNC: Record<string, string[]> = {
  blocks: [],
  noblocks: ["--no-blocks"],
  "blocks-wf": ["--engine", "workflow"],
  "noblocks-wf": ["--engine", "workflow", "--no-blocks"],
};

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};

const key = (i: number) => `obj-${String(i).padStart(2, "0")}.bin`;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** One line per request: ms from `start` to its arrival and its answer, then what it was. */
function traceLines(seen: readonly SeenRequest[], start: number): string {
  const ms = (t: number | undefined) => (t === undefined ? "-" : (t - start).toFixed(0)).padStart(6);
  return seen
    .map((r) => {
      const what = [
        r.method,
        r.path,
        r.query,
        r.headers.range ?? "",
        r.headers["x-amz-copy-source-range"] ?? "",
      ];
      return `${ms(r.arrived)} ${ms(r.answered)} ${what.join(" ").trim()}`;
    })
    .join("\n")
    .concat("\n");
}

/**
 * The objects the rounds edit: the delta bench's, or with `--one SIZE_MIB:EDIT_MIB` one object of
 * SIZE_MIB whose MiB at EDIT_MIB each round edits (an object of many more chunks than the run reads
 * at once, its edit early or late in it).
 */
function shapeOf(one: string): { objects: number; size: number; edited: number[]; editOffset: number } {
  if (one === "") return DELTA;
  const [size, at] = one.split(":").map(Number);
  if (!Number.isInteger(size) || !Number.isInteger(at) || size! < 2 || at! < 0 || at! + 1 > size!)
    throw new Error(`--one: expected SIZE_MIB:EDIT_MIB, the edit inside the object, got ${one}`);
  return { objects: 1, size: size! * MiB, edited: [0], editOffset: at! * MiB };
}

interface Run {
  wall: number;
  cpu: number;
  /** The server's CPU seconds during the run (0 for a server this bench cannot see). */
  server: number;
  /** With `--bytes`: what the server counted the run read and wrote. */
  moved?: { sourceRead: number; destinationRead: number; destinationWritten: number };
  /** With `--busy`: the machine's busy share of its cores in each tenth of the run. */
  busy?: number[];
}

const TENTHS = 10;

async function main(): Promise<void> {
  const rounds = Number(arg("--rounds", "6"));
  const tools = arg("--tools", "blocks,noblocks,rclone").split(",");
  const prof = process.argv.includes("--prof") ? arg("--prof", "") : undefined;
  const latency = Number(arg("--latency", "0"));
  const trace = process.argv.includes("--trace") ? arg("--trace", "") : undefined;
  const versioned = process.argv.includes("--versioned");
  const bytes = process.argv.includes("--bytes");
  const busy = process.argv.includes("--busy");
  const shape = shapeOf(arg("--one", ""));
  const log = (line: string) => console.error(line);
  await ensureTools(log);
  // Room for every bucket's objects a few times over: overwritten ones wait for the collector.
  const room = 4 * (tools.length + 1) * shape.objects * shape.size;
  const s3 = await startLocalS3({ log, memstoreBytes: Math.max(4 * 1024 ** 3, room) });
  const proxy = await latencyProxy(s3.endpoint, latency, trace !== undefined);
  const ctx = new BenchContext(proxy ? { ...s3, endpoint: proxy.url } : s3, true, log);
  const timeFile = join(ctx.chunksyncEnv().XDG_CACHE_HOME!, "..", "time");
  try {
    const src = await ctx.createBucket("source", ctx.bucketName("pair-src"), versioned);
    const keys = Array.from({ length: shape.objects }, (_, i) => key(i));
    const expected = new Map<string, string>();
    for (const [i, k] of keys.entries()) {
      const body = seededBytes(`delta-${i}`, shape.size);
      expected.set(k, sha256(body));
      await putObject(ctx.clients.source, src, k, body);
    }
    const dsts = new Map<string, string>();
    for (const [i, tool] of tools.entries())
      dsts.set(tool, await ctx.createBucket("destination", ctx.bucketName(`pair-d${i}`), versioned));

    /** One run of `tool` under /usr/bin/time: wall and user + system CPU of the process. */
    const run = async (tool: string, label: string): Promise<Run> => {
      const dst = dsts.get(tool)!;
      let command: string[];
      let env: Record<string, string>;
      if (tool === "rclone") {
        command = ["rclone", "sync", "--checksum", "--transfers", "8", "--checkers", "8"];
        command.push(`src:${src}`, `dst:${dst}`);
        env = ctx.rcloneEnv();
      } else {
        const base = tool.startsWith("base-") ? arg("--base", "") : undefined;
        const extra = CHUNKSYNC[base === undefined ? tool : tool.slice("base-".length)];
        if (extra === undefined || base === "")
          throw new Error(`unknown tool ${tool} (base-* needs --base DIR)`);
        const cli = base === undefined ? CLI : otherCli(base);
        const node = [process.execPath];
        if (prof !== undefined) node.push("--cpu-prof", "--cpu-prof-dir", join(prof, `${tool}-${label}`));
        command = [...node, cli, "sync", `s3://${src}`, `s3://${dst}`, "--src-profile", "src"];
        command.push("--dst-profile", "dst", "--quiet", ...extra);
        const own = ctx.chunksyncEnv();
        // Each tool keeps its indexes apart, as on two machines (see deltaScenario's ownCache).
        env = { ...own, XDG_CACHE_HOME: join(own.XDG_CACHE_HOME!, tool) };
      }
      const usage = bytes ? ctx.usage : undefined;
      if (bytes && usage === undefined) throw new Error("--bytes needs the server's usage log (a local RGW)");
      const usageBefore = await usage?.settled();
      const serverBefore = s3.cephConf ? serverCpuSeconds(s3.cephConf) : 0;
      const seenBefore = proxy?.seen.length ?? 0;
      const started = performance.now();
      const startedAt = Date.now();
      const sampler = busy ? sampleMachineBusy() : undefined;
      const r = await runCommand("/usr/bin/time", ["-f", "%U %S", "-o", timeFile, ...command], {
        env,
        allowFailure: true,
        timeoutMs: 300_000,
      });
      const busyShares = sampler?.stop(TENTHS);
      if (r.code !== 0) throw new Error(`${tool} (${label}) exited with ${r.code}: ${r.stderr.slice(-2000)}`);
      if (prof !== undefined) {
        mkdirSync(prof, { recursive: true });
        writeFileSync(join(prof, `${tool}-${label}.log`), r.stderr);
      }
      if (trace !== undefined && proxy !== undefined) {
        mkdirSync(trace, { recursive: true });
        writeFileSync(
          join(trace, `${tool}-${label}.trace`),
          `# started at ${startedAt} ms since the epoch\n${traceLines(proxy.seen.slice(seenBefore), started)}`,
        );
      }
      const [user, system] = readFileSync(timeFile, "utf8").trim().split("\n").at(-1)!.split(" ").map(Number);
      const server = s3.cephConf ? serverCpuSeconds(s3.cephConf) - serverBefore : 0;
      const usageAfter = await usage?.settled();
      const moved =
        usageBefore && usageAfter
          ? {
              sourceRead: usageDelta(usageBefore, usageAfter, src).getSent,
              destinationRead: usageDelta(usageBefore, usageAfter, dst).getSent,
              destinationWritten: usageDelta(usageBefore, usageAfter, dst).received,
            }
          : undefined;
      return {
        wall: r.seconds,
        cpu: user! + system!,
        server,
        ...(moved ? { moved } : {}),
        ...(busyShares ? { busy: busyShares } : {}),
      };
    };

    for (const tool of tools) {
      log(`initial sync: ${tool}`);
      await run(tool, "initial");
    }
    const runs = new Map<string, Run[]>(tools.map((t) => [t, []]));
    for (let r = 0; r < rounds; r++) {
      for (const i of shape.edited) {
        const body = seededBytes(`delta-${i}`, shape.size);
        seededBytes(`delta-edit-${i}-${r}`, DELTA.editLength).copy(body, shape.editOffset);
        expected.set(key(i), sha256(body));
        await putObject(ctx.clients.source, src, key(i), body);
      }
      await letEntriesStand();
      const order = tools.map((_, k) => tools[(k + r) % tools.length]!);
      const line: string[] = [];
      for (const tool of order) {
        const got = await run(tool, String(r));
        runs.get(tool)!.push(got);
        line.push(
          `${tool} ${got.wall.toFixed(2)} s (cpu ${got.cpu.toFixed(2)}, server ${got.server.toFixed(2)})`,
        );
        await letEntriesStand();
      }
      log(`round ${r + 1}/${rounds}: ${line.join(", ")}`);
      // The memstore keeps overwritten versions in RAM until collected.
      if (s3.cephConf)
        await runCommand("radosgw-admin", ["-c", s3.cephConf, "gc", "process", "--include-all"], {
          allowFailure: true,
        });
    }
    const unequal: string[] = [];
    for (const [tool, dst] of dsts)
      for (const k of keys)
        if ((await ctx.sha256OfObject("destination", dst, k)) !== expected.get(k))
          unequal.push(`${tool}:${k}`);

    const out: string[] = [];
    if (latency > 0)
      out.push(`Every request held ${latency} ms by a proxy before it reached the server.`, "");
    if (versioned) out.push("Every bucket keeps versions.", "");
    out.push(
      `| tool | wall median | wall runs | CPU median | server CPU median |${bytes ? " source read | destination read | destination written |" : ""}`,
      `| --- | --- | --- | --- | --- |${bytes ? " --- | --- | --- |" : ""}`,
    );
    const mib = (rs: Run[], what: keyof NonNullable<Run["moved"]>) =>
      ` ${(median(rs.map((x) => x.moved![what])) / 2 ** 20).toFixed(1)} MiB |`;
    for (const tool of tools) {
      const rs = runs.get(tool)!;
      const moved = bytes
        ? mib(rs, "sourceRead") + mib(rs, "destinationRead") + mib(rs, "destinationWritten")
        : "";
      out.push(
        `| ${tool} | ${median(rs.map((x) => x.wall)).toFixed(2)} s | ${rs.map((x) => x.wall.toFixed(2)).join(", ")} | ${median(rs.map((x) => x.cpu)).toFixed(2)} s | ${median(rs.map((x) => x.server)).toFixed(2)} s |${moved}`,
      );
    }
    if (bytes)
      out.push(
        "",
        "Bytes (medians) as the server's usage log counts them: GET bytes out of the source bucket, out of the " +
          "tool's destination bucket, and request bytes into it; a server-side copy moves none of them.",
      );
    if (busy) {
      const tenths = Array.from({ length: TENTHS }, (_, i) => i);
      out.push(
        "",
        `| the machine's cores busy (all processes), median of the rounds | ${tenths.map((i) => `${i * 10}-${i * 10 + 10}%`).join(" | ")} | whole run |`,
        `| --- |${" --- |".repeat(TENTHS + 1)}`,
      );
      const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
      for (const tool of tools) {
        const rs = runs.get(tool)!;
        const whole = median(rs.map((x) => x.busy!.reduce((a, b) => a + b, 0) / TENTHS));
        out.push(
          `| ${tool} | ${tenths.map((i) => pct(median(rs.map((x) => x.busy![i]!)))).join(" | ")} | ${pct(whole)} |`,
        );
      }
      out.push(
        "",
        "Tenths of each run's wall; the share of every core's time that was not idle, as /proc/stat counts it.",
      );
    }
    out.push(
      "",
      "| paired ratio (median of the rounds' ratios) | wall | CPU | server CPU |",
      "| --- | --- | --- | --- |",
    );
    for (const a of tools)
      for (const b of tools) {
        // Against rclone, blocks against chunk level, after against before.
        const chunkLevel = !a.includes("noblocks") && b === a.replace("blocks", "noblocks");
        const pair =
          b === "rclone" || chunkLevel || b === `base-${a}` || (a === "blocks" && b === "base-noblocks");
        if (a === b || !pair) continue;
        const ra = runs.get(a)!;
        const rb = runs.get(b)!;
        const w = median(ra.map((x, k) => x.wall / rb[k]!.wall));
        const c = median(ra.map((x, k) => x.cpu / rb[k]!.cpu));
        const sv = median(ra.map((x, k) => x.server / (rb[k]!.server || Number.NaN)));
        out.push(`| ${a} / ${b} | ${w.toFixed(2)}x | ${c.toFixed(2)}x | ${sv.toFixed(2)}x |`);
      }
    out.push(
      "",
      unequal.length === 0
        ? "Every destination byte-equal to the source."
        : `NOT EQUAL: ${unequal.join(", ")}`,
    );
    console.log(out.join("\n"));
    if (unequal.length > 0) process.exitCode = 1;
  } finally {
    await ctx.dropAll().catch(() => {});
    await proxy?.stop();
    await s3.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
