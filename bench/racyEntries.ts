/**
 * Objects a run read in the very second they were written: what the next run reads of them, as
 * the RGW usage log counts it, for this build and another commit's (`--before`). A sync, then
 * `check --full` at once (it reads what the sync just wrote, as a script that checks after each
 * sync does), then a sync a few seconds later, which is the one measured: an entry read within
 * its version's LastModified second cannot stand on the listing alone.
 *
 *   npx tsx bench/racyEntries.ts [--objects 8] [--size-mib 16] [--engine direct|workflow]
 *     [--before DIR]    also runs another commit's CLI (built by scripts/build-other.ts)
 */
import { CLI, pairArgs, parseSummary } from "./lib/BenchContext.js";
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

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(argv: string[]): Promise<void> {
  const objects = Number(arg(argv, "--objects") ?? 8);
  const size = Number(arg(argv, "--size-mib") ?? 16) * MiB;
  const engine = arg(argv, "--engine") ?? "direct";
  const before = arg(argv, "--before");
  const log = (line: string) => console.error(line);
  const { ctx, usage } = await usageLogContext(log);
  const keys = Array.from({ length: objects }, (_, i) => `obj/${String(i).padStart(4, "0")}.bin`);
  const builds: [string, string][] = [
    ["this build", CLI],
    ...(before ? [["before", otherCli(before)] as [string, string]] : []),
  ];
  const rows: string[][] = [];
  const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
  for (const [name, cli] of builds) {
    const tag = name === "before" ? "b" : "a";
    const src = await ctx.createBucket("source", ctx.bucketName(`racy-s-${tag}`));
    const dst = await ctx.createBucket("destination", ctx.bucketName(`racy-d-${tag}`));
    // Each build keeps its own indexes, as a user's first sync of a new pair does.
    const env = {
      ...ctx.chunksyncEnv(),
      XDG_CACHE_HOME: `${ctx.chunksyncEnv().XDG_CACHE_HOME}-racy-${tag}`,
    };
    const run = async (command: "sync" | "check", ...more: string[]) => {
      const done = await runCommand(
        process.execPath,
        [cli, ...pairArgs(command, src, dst), "--json", ...more],
        {
          env,
          allowFailure: true,
        },
      );
      const summary = parseSummary(done.stdout);
      if (summary === undefined || summary.objects.failed !== 0)
        throw new Error(`${name} ${command}: ${done.stderr.slice(-2000)}`);
      return summary;
    };
    const engineArgs = ["--engine", engine];
    await pool(keys, 8, (k) => putObject(ctx.clients.source, src, k, seededBytes(k, size)));
    await pause(2000);
    await run("sync", ...engineArgs);
    const checked = await run("check", "--full");
    await pause(2500);
    const u0 = await usage.settled();
    const next = await run("sync", ...engineArgs);
    const u1 = await usage.settled();
    if (next.objects.identical !== objects)
      throw new Error(`${name}: the last sync found ${next.objects.identical} identical`);
    rows.push([
      name,
      String(checked.durationMs),
      mib(usageDelta(u0, u1, src).getSent),
      mib(usageDelta(u0, u1, dst).getSent),
      `${next.index?.source?.fromIndex ?? "-"} / ${next.index?.destination?.fromIndex ?? "-"}`,
    ]);
    log(`${name}: done`);
    await ctx.dropBuckets([src, dst]);
  }
  console.log(
    `${objects} x ${size / MiB} MiB, --engine ${engine}: a sync, check --full at once, then the sync measured here a few seconds later (reads from the RGW usage log)\n`,
  );
  console.log(
    markdownTable(
      [
        "build",
        "check --full took (ms)",
        "reads, source",
        "reads, destination",
        "from the index (source / destination)",
      ],
      rows,
    ),
  );
  process.exit(0);
}

await main(process.argv.slice(2));
