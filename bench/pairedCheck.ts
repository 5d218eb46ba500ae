/**
 * `check` of many small unchanged objects with the digest index, chunksync against `rclone
 * check --checkers 8`, timed in pairs (A B A B ..., the same minutes): on a shared machine only
 * ratios of interleaved runs mean anything. `--before PATH` adds another build of the CLI
 * (a copy of packages/cli/bin and dist made before a change) to every round.
 *   npx tsx bench/pairedCheck.ts [--objects 10000] [--rounds 5] [--before /tmp/old/bin/chunksync.js]
 *     [--profile DIR] [--reuse] [--versioned] [--latency MS]
 * `--versioned` makes every bucket keep versions (a listing then settles no index entry: each is
 * confirmed by a HEAD); `--reuse` keeps the buckets and indexes (bench/.data/paired-check) for the next invocation;
 * `--profile DIR` also writes one `--cpu-prof` profile of the current CLI's check into DIR.
 * `--latency MS`: every tool reaches the server through a proxy that holds each request MS first
 * (a remote store's round trip; the proxy relays on the same cores, so such figures compare only
 * with each other).
 * S3_ENDPOINT and its keys (see scripts/local-s3.ts) name a running server; else one is started.
 */
import { mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { CLI, letEntriesStand, pairArgs } from "./lib/BenchContext.js";
import { pool, putObject, seededBytes } from "./lib/data.js";
import { runCommand } from "./lib/exec.js";
import { median, option, pairedBench, pairedBuckets, pairedRounds } from "./lib/paired.js";
import { markdownTable, ratio } from "./lib/table.js";
import { rcloneCheck, rcloneSync } from "./sections/digestIndex.js";

const SIZE = 4096;

pairedBench(5, async ({ argv, rounds, before, profileDir, reuse, ctx }) => {
  const objects = Number(option(argv, "--objects") ?? 10_000);
  const versioned = argv.includes("--versioned");
  const { src, dstC, dstR, env, fresh } = await pairedBuckets(ctx, {
    work: "paired-check",
    names: versioned ? "paired-v" : "paired",
    tag: String(objects),
    reuse,
    versioned,
  });
  const pair = (command: "sync" | "check") => pairArgs(command, src, dstC);
  if (fresh) {
    ctx.log(`uploading ${objects} x ${SIZE / 1024} KiB`);
    const keys = Array.from({ length: objects }, (_, i) => `small/${String(i).padStart(6, "0")}.bin`);
    await pool(keys, 32, (k) => putObject(ctx.clients.source, src, k, seededBytes(k, SIZE)));
    ctx.log("syncing with each tool");
    await runCommand(process.execPath, [CLI, ...pair("sync")], { env });
    await ctx.rclone(rcloneSync(src, dstR));
    await letEntriesStand();
    // The first check after a sync confirms the versions it wrote once (a HEAD each, where the
    // bucket keeps no versions or the write's answer named none): not timed.
    await runCommand(process.execPath, [CLI, ...pair("check")], { env });
  }
  const times = await pairedRounds(ctx, {
    command: "check",
    args: pair("check"),
    env,
    before,
    peer: { label: "rclone check", args: rcloneCheck(src, dstR) },
    rounds,
  });
  if (profileDir) {
    mkdirSync(profileDir, { recursive: true });
    await runCommand(process.execPath, ["--cpu-prof", "--cpu-prof-dir", profileDir, CLI, ...pair("check")], {
      env,
    });
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
    `check of ${objects.toLocaleString("en-US")} x ${SIZE / 1024} KiB unchanged objects, digest index on both sides${versioned ? ", buckets that keep versions" : ""}; ` +
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
});
