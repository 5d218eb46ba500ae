/**
 * Objects smaller than a chunk, every one rewritten with new bytes between rounds: the sync that
 * follows, chunksync against rclone (and another commit's CLI with `--before`), each into its own
 * destination bucket synced once beforehand. Prints wall time and what the server (the RGW usage
 * log) sent from each side's bucket, as a multiple of the bytes rewritten.
 *
 *   npx tsx bench/smallChanged.ts [--rounds 4] [--objects 300] [--size-kib 1024]
 *     [--before DIR]    also times another commit's CLI (built by scripts/build-other.ts)
 */
import { CLI, letEntriesStand, pairArgs, parseSummary } from "./lib/BenchContext.js";
import { pool, putObject, seededBytes } from "./lib/data.js";
import { runCommand } from "./lib/exec.js";
import { otherCli } from "./lib/otherBuild.js";
import { markdownTable } from "./lib/table.js";
import { usageDelta } from "./lib/usage.js";
import { usageLogContext } from "./lib/usageBench.js";

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Sample {
  wall: number;
  sourceRead: number;
  destinationRead: number;
}

async function main(argv: string[]): Promise<void> {
  const rounds = Number(arg(argv, "--rounds") ?? 4);
  const objects = Number(arg(argv, "--objects") ?? 300);
  const size = Number(arg(argv, "--size-kib") ?? 1024) * 1024;
  const before = arg(argv, "--before");
  const log = (line: string) => console.error(line);
  const { ctx, usage } = await usageLogContext(log);
  const src = await ctx.createBucket("source", ctx.bucketName("small-src"));
  const keys = Array.from({ length: objects }, (_, i) => `obj/${String(i).padStart(6, "0")}.bin`);
  const rewrite = (seed: string) =>
    pool(keys, 16, (k) => putObject(ctx.clients.source, src, k, seededBytes(`${seed}-${k}`, size)));

  // Each CLI keeps its own indexes: one that found the other's entries for the source's new
  // version would read nothing to digest it.
  const chunksync =
    (cli: string, name: string, extra: string[] = []) =>
    async (dst: string) => {
      const env = ctx.chunksyncEnv();
      env.XDG_CACHE_HOME = `${env.XDG_CACHE_HOME}-${name}`;
      const r = await runCommand(process.execPath, [cli, ...pairArgs("sync", src, dst), "--json", ...extra], {
        env,
      });
      if (parseSummary(r.stdout)?.objects.failed !== 0)
        throw new Error(`chunksync failed: ${r.stderr.slice(-2000)}`);
    };
  const rclone = async (dst: string) => {
    await ctx.rclone(["sync", "--transfers", "8", "--checkers", "8", `src:${src}`, `dst:${dst}`]);
  };
  const tools: { name: string; run: (dst: string) => Promise<void>; dst: string; samples: Sample[] }[] = [
    { name: "chunksync", run: chunksync(CLI, "current"), dst: "", samples: [] },
    { name: "chunksync --no-blocks", run: chunksync(CLI, "noblocks", ["--no-blocks"]), dst: "", samples: [] },
    ...(before
      ? [{ name: "chunksync before", run: chunksync(otherCli(before), "before"), dst: "", samples: [] }]
      : []),
    { name: "rclone", run: rclone, dst: "", samples: [] },
  ];
  await rewrite("r0");
  for (const [i, tool] of tools.entries()) {
    tool.dst = await ctx.createBucket("destination", ctx.bucketName(`small-dst${i}`));
    await tool.run(tool.dst);
  }
  for (let round = 1; round <= rounds; round++) {
    await rewrite(`r${round}`);
    await letEntriesStand();
    // Alternating which tool goes first, so neither always meets a warmer server.
    const order = round % 2 ? tools : [...tools].reverse();
    for (const tool of order) {
      const u0 = await usage.settled();
      const started = performance.now();
      await tool.run(tool.dst);
      const wall = (performance.now() - started) / 1000;
      const u1 = await usage.settled();
      tool.samples.push({
        wall,
        sourceRead: usageDelta(u0, u1, src).getSent,
        destinationRead: usageDelta(u0, u1, tool.dst).getSent,
      });
      log(`round ${round} ${tool.name}: ${wall.toFixed(2)} s`);
    }
  }
  // Each destination ends with the source's bytes.
  for (const tool of tools)
    await pool(keys, 16, async (k) => {
      const [a, b] = await Promise.all([
        ctx.sha256OfObject("source", src, k),
        ctx.sha256OfObject("destination", tool.dst, k),
      ]);
      if (a !== b) throw new Error(`${tool.name}: ${k} differs from the source`);
    });
  const rewritten = objects * size;
  const peer = median(tools.at(-1)!.samples.map((s) => s.wall));
  const rows = tools.map((t) => [
    t.name,
    `${median(t.samples.map((s) => s.wall)).toFixed(2)} s`,
    `${(median(t.samples.map((s) => s.wall)) / peer).toFixed(2)}x`,
    `${(median(t.samples.map((s) => s.sourceRead)) / rewritten).toFixed(2)}x`,
    `${(median(t.samples.map((s) => s.destinationRead)) / rewritten).toFixed(2)}x`,
  ]);
  console.log(
    `${objects} objects of ${size / 1024} KiB rewritten between rounds; medians of ${rounds} rounds; reads from the server's usage log, as multiples of the bytes rewritten\n`,
  );
  console.log(`every destination equals the source byte for byte\n`);
  console.log(markdownTable(["tool", "wall", "wall / rclone", "source read", "destination read"], rows));
  await ctx.dropBuckets([src, ...tools.map((t) => t.dst)]);
  process.exit(0);
}

await main(process.argv.slice(2));
