/**
 * A first sync stopped by Ctrl-C part way, then run again: what the rerun reads on each side
 * (the RGW usage log) against what it sends, for this build and another commit's (`--before`).
 * A rerun that kept nothing of the stopped run's index reads every object again.
 *
 *   npx tsx bench/stoppedRerun.ts [--trials 2] [--stop-after-ms 1200] [--engine direct|workflow]
 *     [--before DIR]    also runs another commit's CLI (built by scripts/build-other.ts)
 */
import { spawn } from "node:child_process";
import { CLI, letEntriesStand, pairArgs, parseSummary } from "./lib/BenchContext.js";
import { pool, putObject, seededBytes } from "./lib/data.js";
import { runCommand } from "./lib/exec.js";
import { otherCli } from "./lib/otherBuild.js";
import { MiB, markdownTable } from "./lib/table.js";
import { usageDelta } from "./lib/usage.js";
import { usageLogContext } from "./lib/usageBench.js";

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** 150 objects: every fifth of 24 MiB, the rest of 200 KB (742.9 MiB in all). */
const KEYS = Array.from({ length: 150 }, (_, i) => `obj/${String(i).padStart(4, "0")}.bin`);
const sizeOf = (i: number) => (i % 5 === 3 ? 24 * MiB : 200_000);

async function main(argv: string[]): Promise<void> {
  const trials = Number(arg(argv, "--trials") ?? 2);
  const stopAfterMs = Number(arg(argv, "--stop-after-ms") ?? 1200);
  const engine = arg(argv, "--engine") ?? "direct";
  const before = arg(argv, "--before");
  const log = (line: string) => console.error(line);
  const { ctx, usage } = await usageLogContext(log);
  const total = KEYS.reduce((sum, _, i) => sum + sizeOf(i), 0);
  const builds: [string, string][] = [
    ["this build", CLI],
    ...(before ? [["before", otherCli(before)] as [string, string]] : []),
  ];
  const rows: string[][] = [];
  for (const [name, cli] of builds) {
    for (let trial = 1; trial <= trials; trial++) {
      const src = await ctx.createBucket("source", ctx.bucketName(`stop-s${trial}`));
      const dst = await ctx.createBucket("destination", ctx.bucketName(`stop-d${trial}`));
      await pool(KEYS, 8, (k) =>
        putObject(ctx.clients.source, src, k, seededBytes(k, sizeOf(KEYS.indexOf(k)))),
      );
      await letEntriesStand();
      // Each run keeps its own indexes, as a user's first sync of a new pair does.
      const env = {
        ...ctx.chunksyncEnv(),
        XDG_CACHE_HOME: `${ctx.chunksyncEnv().XDG_CACHE_HOME}-${name.replace(" ", "-")}-${trial}`,
      };
      const args = [cli, ...pairArgs("sync", src, dst), "--json", "--engine", engine];
      const first = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      first.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      const timer = setTimeout(() => first.kill("SIGINT"), stopAfterMs);
      const code = await new Promise<number | null>((resolve) => first.on("exit", resolve));
      clearTimeout(timer);
      if (code !== 130)
        throw new Error(
          `${name}: the first sync was not stopped part way (exit ${code}): lower --stop-after-ms`,
        );
      const settled = (JSON.parse(out.trim().split("\n").at(-1)!) as { objects: { missing: number } }).objects
        .missing;
      await letEntriesStand();
      const u0 = await usage.settled();
      const rerun = await runCommand(process.execPath, args, { env });
      const u1 = await usage.settled();
      const summary = parseSummary(rerun.stdout);
      if (summary?.objects.failed !== 0)
        throw new Error(`${name}: the rerun failed: ${rerun.stderr.slice(-2000)}`);
      const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
      rows.push([
        name,
        String(trial),
        String(settled),
        mib(usageDelta(u0, u1, src).getSent),
        mib(usageDelta(u0, u1, dst).getSent),
        mib(summary.bytes.transferred),
      ]);
      log(`${name} trial ${trial}: done`);
      await ctx.dropBuckets([src, dst]);
    }
  }
  console.log(
    `${KEYS.length} objects, ${(total / MiB).toFixed(1)} MiB, first sync (--engine ${engine}) stopped by SIGINT after ${stopAfterMs} ms; the rerun's reads from the RGW usage log\n`,
  );
  console.log(
    markdownTable(
      [
        "build",
        "trial",
        "objects the stopped run wrote",
        "rerun reads, source",
        "rerun reads, destination",
        "rerun sends",
      ],
      rows,
    ),
  );
  process.exit(0);
}

await main(process.argv.slice(2));
