/**
 * Issue 11 (a): a no-change `sync` of the delta bench's objects with the digest index on both
 * sides, chunksync against `rclone sync --checksum` between two remotes, timed in pairs (A B A B
 * ..., order alternated each round): on a shared machine only ratios of interleaved runs mean
 * anything. `--before PATH` adds another build of the CLI (a copy of packages/cli/bin, dist and
 * package.json made before a change) to every round.
 *   npx tsx bench/pairedNoChange.ts [--rounds 9] [--size-mib 16] [--before /tmp/old/bin/chunksync.js]
 *     [--profile DIR] [--reuse] [--latency MS] [--s3-index]
 * `--reuse` keeps the buckets (and the indexes) for the next invocation; `--profile DIR` also
 * writes one `--cpu-prof` profile of the current CLI's no-change sync into DIR. The first run
 * after the initial sync (which confirms the versions it wrote) is not timed. Each round also
 * times `node -e 0`, Node's start alone: the floor under any Node program's time.
 * `--s3-index` keeps each side's index in a bucket of that side's own (`--src-index s3://...`)
 * instead of a directory. `--latency MS`: every tool reaches the server through a proxy that holds each request MS first
 * (a remote store's round trip; the proxy relays on the same cores, so such figures compare only
 * with each other).
 * S3_ENDPOINT and its keys (see scripts/local-s3.ts) name a running server; else one is started.
 */
import { mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { CLI, letEntriesStand, pairArgs, parseSummary } from "./lib/BenchContext.js";
import { putObject, seededBytes } from "./lib/data.js";
import { runCommand } from "./lib/exec.js";
import { median, option, pairedBench, pairedBuckets, pairedRounds, type Timing } from "./lib/paired.js";
import { MiB, markdownTable, ratio } from "./lib/table.js";
import { DELTA } from "./sections/deltaScenario.js";
import { rcloneSync } from "./sections/digestIndex.js";

pairedBench(9, async ({ argv, rounds, before, profileDir, reuse, ctx }) => {
  const size = Number(option(argv, "--size-mib") ?? 16) * MiB;
  const { src, dstC, dstR, env, fresh } = await pairedBuckets(ctx, {
    work: "paired-nochange",
    names: "nochange",
    tag: String(size / MiB),
    reuse,
  });
  // Each side's index in a bucket of that side's own, apart from the synced ones.
  const s3Index = argv.includes("--s3-index");
  if (s3Index && reuse)
    throw new Error("--s3-index keeps its index buckets for one invocation: not with --reuse");
  const indexFlags = s3Index
    ? [
        "--src-index",
        `s3://${await ctx.createBucket("source", ctx.bucketName("nochange-sidx"))}/idx`,
        "--dst-index",
        `s3://${await ctx.createBucket("destination", ctx.bucketName("nochange-didx"))}/idx`,
      ]
    : [];
  const sync = [...pairArgs("sync", src, dstC), ...indexFlags];
  if (fresh) {
    ctx.log(`uploading ${DELTA.objects} x ${size / MiB} MiB`);
    for (let i = 0; i < DELTA.objects; i++) {
      const key = `obj-${String(i).padStart(2, "0")}.bin`;
      await putObject(ctx.clients.source, src, key, seededBytes(key, size));
    }
    ctx.log("syncing with each tool");
    await runCommand(process.execPath, [CLI, ...sync], { env });
    await ctx.rclone(rcloneSync(src, dstR));
    await letEntriesStand();
    await runCommand(process.execPath, [CLI, ...sync], { env });
  }
  // The run must be the one the issue names: every object from the index, nothing read.
  const probe = await runCommand(process.execPath, [CLI, ...sync, "--json"], { env });
  const summary = parseSummary(probe.stdout);
  if (summary?.bytes.sourceRead !== 0 || summary.bytes.destinationRead !== 0)
    throw new Error(`the no-change run read data or printed no summary:\n${probe.stdout}`);

  const times = await pairedRounds(ctx, {
    command: "sync",
    args: sync,
    env,
    before,
    peer: { label: "rclone sync --checksum", args: rcloneSync(src, dstR) },
    rounds,
    // Node's own start is a floor no Node program goes below: where it alone takes about as long
    // as rclone's whole run, that target is not within a Node CLI's reach on this machine.
    nodeStart: true,
  });
  if (profileDir) {
    mkdirSync(profileDir, { recursive: true });
    await runCommand(process.execPath, ["--cpu-prof", "--cpu-prof-dir", profileDir, CLI, ...sync], { env });
  }
  const rclone = times.get("rclone sync --checksum")!;
  // Per-pair ratios (the same round), then their median.
  const perPair = (t: Timing[], other: Timing[], of: keyof Timing) =>
    median(t.map((x, i) => x[of] / other[i]![of]));
  const rows = [...times].map(([label, t]) => [
    label,
    `${median(t.map((x) => x.wall)).toFixed(2)} s`,
    `${median(t.map((x) => x.cpu)).toFixed(3)} s`,
    ratio(perPair(t, rclone, "wall"), 1),
    ratio(perPair(t, rclone, "cpu"), 1),
  ]);
  if (before) {
    const now = times.get("chunksync sync")!;
    const old = times.get("chunksync sync, before")!;
    rows.push([
      "after / before",
      ratio(perPair(now, old, "wall"), 1),
      ratio(perPair(now, old, "cpu"), 1),
      "",
      "",
    ]);
  }
  console.log(
    `no-change sync of ${DELTA.objects} x ${size / MiB} MiB, digest index on both sides (0 B read); ` +
      `medians of ${rounds} interleaved rounds (load average now ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" / ")})\n`,
  );
  console.log(markdownTable(["command", "wall", "user+sys CPU", "wall vs rclone", "CPU vs rclone"], rows));
});
