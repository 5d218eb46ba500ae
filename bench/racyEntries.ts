/**
 * What a sync costs the run after it where nothing changed in between: the bytes each side reads
 * and the requests the destination gets, as the RGW usage log counts them, for this build and
 * another commit's (`--before`). Two cases:
 * - `check`: a sync, then `check --full` at once (it reads what the sync just wrote, within the
 *   second of each write, as a script that checks after each sync does); an entry read within its
 *   version's LastModified second cannot stand on the listing alone;
 * - `versioned`: a sync into a bucket that keeps versions; an entry of a version the run wrote
 *   stands once something names that version (the write's answer, or a HEAD).
 * The sync measured runs a few seconds after.
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
  for (const scenario of ["check", "versioned"] as const) {
    for (const [name, cli] of builds) {
      const tag = `${scenario === "check" ? "c" : "v"}${name === "before" ? "b" : "a"}`;
      const versioned = scenario === "versioned";
      const src = await ctx.createBucket("source", ctx.bucketName(`racy-s-${tag}`));
      const dst = await ctx.createBucket("destination", ctx.bucketName(`racy-d-${tag}`), versioned);
      // Each build keeps its own indexes, as a user's first sync of a new pair does.
      const env = {
        ...ctx.chunksyncEnv(),
        XDG_CACHE_HOME: `${ctx.chunksyncEnv().XDG_CACHE_HOME}-racy-${tag}`,
      };
      const run = async (command: "sync" | "check", ...more: string[]) => {
        const done = await runCommand(
          process.execPath,
          [cli, ...pairArgs(command, src, dst), "--json", ...more],
          { env, allowFailure: true },
        );
        const summary = parseSummary(done.stdout);
        if (summary === undefined || summary.objects.failed !== 0)
          throw new Error(`${name} ${command}: ${done.stderr.slice(-2000)}`);
        return { ...summary, seconds: done.seconds };
      };
      const engineArgs = ["--engine", engine];
      await pool(keys, 8, (k) => putObject(ctx.clients.source, src, k, seededBytes(k, size)));
      await pause(2000);
      await run("sync", ...engineArgs);
      if (scenario === "check") await run("check", "--full");
      await pause(2500);
      const u0 = await usage.settled();
      const next = await run("sync", ...engineArgs);
      const u1 = await usage.settled();
      if (next.objects.identical !== objects)
        throw new Error(`${name}: the last sync found ${next.objects.identical} identical`);
      const destination = usageDelta(u0, u1, dst);
      rows.push([
        scenario,
        name,
        mib(usageDelta(u0, u1, src).getSent),
        mib(destination.getSent),
        String(destination.ops),
        `${next.seconds.toFixed(2)} s`,
        `${next.index?.source?.fromIndex ?? "-"} / ${next.index?.destination?.fromIndex ?? "-"}`,
      ]);
      log(`${scenario}, ${name}: done`);
      await ctx.dropBuckets([src, dst]);
    }
  }
  console.log(
    `${objects} x ${size / MiB} MiB, --engine ${engine}: the sync a few seconds after a sync (and, in case check, a check --full at once), as the RGW usage log counts it\n`,
  );
  console.log(
    markdownTable(
      [
        "case",
        "build",
        "reads, source",
        "reads, destination",
        "destination requests",
        "wall",
        "from the index (source / destination)",
      ],
      rows,
    ),
  );
  process.exit(0);
}

await main(process.argv.slice(2));
