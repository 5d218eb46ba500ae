/**
 * `check` of many small unchanged objects with the digest index, chunksync against `rclone
 * check --checkers 8`, timed in pairs (A B A B ..., the same minutes): on a shared machine only
 * ratios of interleaved runs mean anything. `--before PATH` adds another build of the CLI
 * (a copy of packages/cli/bin and dist made before a change) to every round.
 *   npx tsx bench/pairedCheck.ts [--objects 10000] [--rounds 5] [--before /tmp/old/bin/chunksync.js]
 *     [--profile DIR] [--reuse]
 * `--reuse` keeps the buckets and indexes (bench/.data/paired-check) for the next invocation;
 * `--profile DIR` also writes one `--cpu-prof` profile of the current CLI's check into DIR.
 * S3_ENDPOINT and its keys (see scripts/local-s3.ts) name a running server; else one is started.
 */
import { mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { startLocalS3 } from "../scripts/local-s3/index.js";
import { BenchContext, CLI, letEntriesStand, pairArgs } from "./lib/BenchContext.js";
import { DATA_DIR, pool, putObject, seededBytes } from "./lib/data.js";
import { runCommand } from "./lib/exec.js";
import { bucketExists, median, option, type Timing, timed } from "./lib/paired.js";
import { markdownTable, ratio } from "./lib/table.js";
import { rcloneCheck, rcloneSync } from "./sections/digestIndex.js";

const SIZE = 4096;

async function main(argv: string[]): Promise<void> {
  const objects = Number(option(argv, "--objects") ?? 10_000);
  const rounds = Number(option(argv, "--rounds") ?? 5);
  const before = option(argv, "--before");
  const profileDir = option(argv, "--profile");
  const reuse = argv.includes("--reuse");
  const log = (line: string) => console.error(line);
  const s3 = await startLocalS3({ log });
  const ctx = new BenchContext(s3, true, log);
  const work = join(DATA_DIR, "paired-check");
  mkdirSync(work, { recursive: true });
  const name = (label: string) => (reuse ? `bench-paired-${label}-${objects}` : ctx.bucketName(label));
  const src = name("src");
  const dstC = name("dc");
  const dstR = name("dr");
  const env = { ...ctx.chunksyncEnv(), XDG_CACHE_HOME: join(work, reuse ? "cache" : `cache-${ctx.runId}`) };
  const pair = (command: "sync" | "check") => pairArgs(command, src, dstC);
  try {
    if (!(reuse && (await bucketExists(ctx, "destination", dstR)))) {
      for (const [side, bucket] of [
        ["source", src],
        ["destination", dstC],
        ["destination", dstR],
      ] as const)
        if (!(await bucketExists(ctx, side, bucket)))
          if (reuse)
            // Kept buckets are not the context's: dropAll leaves them for the next invocation.
            await ctx.clients[side].send(new CreateBucketCommand({ Bucket: bucket }));
          else await ctx.createBucket(side, bucket);
      log(`uploading ${objects} x ${SIZE / 1024} KiB`);
      const keys = Array.from({ length: objects }, (_, i) => `small/${String(i).padStart(6, "0")}.bin`);
      await pool(keys, 32, (k) => putObject(ctx.clients.source, src, k, seededBytes(k, SIZE)));
      log("syncing with each tool");
      await runCommand(process.execPath, [CLI, ...pair("sync")], { env });
      await ctx.rclone(rcloneSync(src, dstR));
      await letEntriesStand();
      // The first check after a sync confirms the versions it wrote once (a HEAD each): not timed.
      await runCommand(process.execPath, [CLI, ...pair("check")], { env });
    }
    const beforeRun: [string, () => Promise<Timing>][] = before
      ? [["chunksync check, before", () => timed(process.execPath, [before, ...pair("check")], env)]]
      : [];
    const runs: [string, () => Promise<Timing>][] = [
      ["chunksync check", () => timed(process.execPath, [CLI, ...pair("check")], env)],
      ...beforeRun,
      ["rclone check", () => timed("rclone", rcloneCheck(src, dstR), ctx.rcloneEnv())],
    ];
    const times = new Map<string, Timing[]>(runs.map(([label]) => [label, []]));
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so no command always runs right after the same one.
      const order = round % 2 ? [...runs].reverse() : runs;
      for (const [label, run] of order) times.get(label)!.push(await run());
      log(`round ${round + 1}/${rounds}, load ${loadavg()[0]!.toFixed(1)}`);
    }
    if (profileDir) {
      mkdirSync(profileDir, { recursive: true });
      await runCommand(
        process.execPath,
        ["--cpu-prof", "--cpu-prof-dir", profileDir, CLI, ...pair("check")],
        {
          env,
        },
      );
    }
    const rclone = times.get("rclone check")!;
    const rows = [...times].map(([label, t]) => {
      const wall = median(t.map((x) => x.wall));
      const cpu = median(t.map((x) => x.cpu));
      // Per-pair ratios (the same round), then their median: objects/s against rclone's.
      const speed = median(t.map((x, i) => rclone[i]!.wall / x.wall));
      const cpuRatio = median(t.map((x, i) => x.cpu / rclone[i]!.cpu));
      return [
        label,
        `${wall.toFixed(2)} s`,
        `${cpu.toFixed(2)} s`,
        `${Math.round(objects / wall).toLocaleString("en-US")}`,
        `${speed.toFixed(2)}x`,
        `${cpuRatio.toFixed(2)}x`,
      ];
    });
    if (before) {
      const now = times.get("chunksync check")!;
      const old = times.get("chunksync check, before")!;
      const wallRatio = median(now.map((x, i) => x.wall / old[i]!.wall));
      const cpuRatio = median(now.map((x, i) => x.cpu / old[i]!.cpu));
      rows.push(["after / before", ratio(wallRatio, 1), ratio(cpuRatio, 1), "", "", ""]);
    }
    console.log(
      `check of ${objects.toLocaleString("en-US")} x ${SIZE / 1024} KiB unchanged objects, digest index on both sides; ` +
        `medians of ${rounds} interleaved rounds (load average now ${loadavg()
          .map((l) => l.toFixed(1))
          .join(" / ")})\n`,
    );
    console.log(
      markdownTable(
        ["command", "wall", "user+sys CPU", "objects/s (wall)", "objects/s vs rclone", "CPU vs rclone"],
        rows,
      ),
    );
  } finally {
    await ctx.dropAll().catch(() => {});
    await s3.stop();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
