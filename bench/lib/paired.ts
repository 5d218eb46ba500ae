import { mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, HeadBucketCommand } from "@aws-sdk/client-s3";
import { startLocalS3 } from "../../scripts/local-s3/index.js";
import { BenchContext, CLI, type Side } from "./BenchContext.js";
import { DATA_DIR } from "./data.js";
import { runCommand } from "./exec.js";
import { latencyProxy } from "./latency.js";
import { ensureTools } from "./tools.js";

/** Wall seconds and user+system CPU seconds of one process tree. */
export interface Timing {
  wall: number;
  cpu: number;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Runs a command under /usr/bin/time: its wall time and the CPU time of its process tree. */
export async function timed(command: string, args: string[], env: Record<string, string>): Promise<Timing> {
  const r = await runCommand("/usr/bin/time", ["-f", "TIMES %e %U %S", command, ...args], {
    env,
    allowFailure: true,
  });
  const m = /TIMES ([\d.]+) ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  if (r.code !== 0 || !m) throw new Error(`${command} ${args.join(" ")} failed (${r.code}):\n${r.stderr}`);
  return { wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]) };
}

/** The value of `--name` in `argv`, if given. */
export function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at === -1 ? undefined : argv[at + 1];
}

/** Whether `side`'s user sees bucket `name` (a bucket kept by an earlier `--reuse` run). */
async function bucketExists(ctx: BenchContext, side: Side, name: string): Promise<boolean> {
  try {
    await ctx.clients[side].send(new HeadBucketCommand({ Bucket: name }));
    return true;
  } catch {
    return false;
  }
}

/** The buckets of a paired bench: the source, chunksync's destination and rclone's. */
export interface PairedBuckets {
  src: string;
  dstC: string;
  dstR: string;
  /** chunksync's environment, its cache (code cache, indexes) in the bench's own folder. */
  env: Record<string, string>;
  /** The buckets are new: the bench fills them and runs the first syncs. */
  fresh: boolean;
}

/**
 * Makes a paired bench's buckets, or with `reuse` finds the ones an earlier invocation kept
 * (named by `names` and `tag`, with their indexes in bench/.data/`work`).
 */
export async function pairedBuckets(
  ctx: BenchContext,
  options: { work: string; names: string; tag: string; reuse: boolean; versioned?: boolean },
): Promise<PairedBuckets> {
  const { reuse } = options;
  const work = join(DATA_DIR, options.work);
  mkdirSync(work, { recursive: true });
  const name = (label: string) =>
    reuse ? `bench-${options.names}-${label}-${options.tag}` : ctx.bucketName(label);
  const [src, dstC, dstR] = [name("src"), name("dc"), name("dr")];
  const env = { ...ctx.chunksyncEnv(), XDG_CACHE_HOME: join(work, reuse ? "cache" : `cache-${ctx.runId}`) };
  const fresh = !(reuse && (await bucketExists(ctx, "destination", dstR)));
  if (fresh)
    for (const [side, bucket] of [
      ["source", src],
      ["destination", dstC],
      ["destination", dstR],
    ] as const)
      if (!(await bucketExists(ctx, side, bucket)))
        if (reuse) {
          // Kept buckets are not the context's: dropAll leaves them for the next invocation.
          await ctx.clients[side].send(new CreateBucketCommand({ Bucket: bucket }));
          if (options.versioned) await ctx.enableVersioning(side, bucket);
        } else await ctx.createBucket(side, bucket, options.versioned);
  return { src, dstC, dstR, env, fresh };
}

/** The label of `node -e 0` in {@link pairedRounds}' timings. */
export const NODE_START = "node -e 0 (Node's start alone)";

/**
 * Times chunksync's `args` (and a `before` build's, if given) against rclone's `peer` command,
 * in `rounds` rounds whose order alternates, so no command always runs right after the same one.
 * Returns each command's timings by label: `chunksync <command>`, `chunksync <command>, before`, `peer`.
 */
export async function pairedRounds(
  ctx: BenchContext,
  options: {
    command: string;
    args: string[];
    env: Record<string, string>;
    before: string | undefined;
    peer: { label: string; args: string[] };
    rounds: number;
    /**
     * Also time `node -e 0` (labelled {@link NODE_START}): what any run of a Node program costs
     * before its first line, the floor under chunksync's figures.
     */
    nodeStart?: boolean;
  },
): Promise<Map<string, Timing[]>> {
  const { command, args, env, before, peer, rounds } = options;
  type Run = [label: string, run: () => Promise<Timing>];
  const runs: Run[] = [[`chunksync ${command}`, () => timed(process.execPath, [CLI, ...args], env)]];
  if (before)
    runs.push([`chunksync ${command}, before`, () => timed(process.execPath, [before, ...args], env)]);
  runs.push([peer.label, () => timed("rclone", peer.args, ctx.rcloneEnv())]);
  if (options.nodeStart) runs.push([NODE_START, () => timed(process.execPath, ["-e", "0"], env)]);
  const times = new Map<string, Timing[]>(runs.map(([label]) => [label, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? [...runs].reverse() : runs;
    for (const [label, run] of order) times.get(label)!.push(await run());
    ctx.log(`round ${round + 1}/${rounds}, load ${loadavg()[0]!.toFixed(1)}`);
  }
  return times;
}

/** What every paired bench starts with: its options, the S3 server and the bench context on it. */
export interface PairedSetup {
  argv: string[];
  rounds: number;
  /** `--before PATH`: another build of the CLI, timed in every round too. */
  before: string | undefined;
  /** `--profile DIR`: one `--cpu-prof` profile of the current CLI goes there. */
  profileDir: string | undefined;
  /** `--reuse`: keep the buckets (and indexes) for the next invocation. */
  reuse: boolean;
  ctx: BenchContext;
}

/**
 * Runs a paired bench: its options (`--rounds`, `--before PATH`, `--profile DIR`, `--reuse`,
 * `--latency MS`: every tool reaches the server through a proxy that holds each request MS first,
 * see `latencyProxy`), the peer tools (installed where missing, see `ensureTools`), the S3 server
 * (S3_ENDPOINT's, else one started), then `body`; the buckets it made are dropped and the server
 * stopped whatever happens, and a failure exits with status 1.
 */
export function pairedBench(defaultRounds: number, body: (setup: PairedSetup) => Promise<void>): void {
  const argv = process.argv.slice(2);
  const run = async () => {
    const log = (line: string) => console.error(line);
    await ensureTools(log);
    const s3 = await startLocalS3({ log });
    const proxy = await latencyProxy(s3.endpoint, Number(option(argv, "--latency") ?? 0));
    const ctx = new BenchContext(proxy ? { ...s3, endpoint: proxy.url } : s3, true, log);
    try {
      await body({
        argv,
        rounds: Number(option(argv, "--rounds") ?? defaultRounds),
        before: option(argv, "--before"),
        profileDir: option(argv, "--profile"),
        reuse: argv.includes("--reuse"),
        ctx,
      });
    } finally {
      await ctx.dropAll().catch(() => {});
      await proxy?.stop();
      await s3.stop();
    }
  };
  run().catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  });
}
