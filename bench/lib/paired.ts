import { HeadBucketCommand } from "@aws-sdk/client-s3";
import type { BenchContext, Side } from "./BenchContext.js";
import { runCommand } from "./exec.js";

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
export async function bucketExists(ctx: BenchContext, side: Side, name: string): Promise<boolean> {
  try {
    await ctx.clients[side].send(new HeadBucketCommand({ Bucket: name }));
    return true;
  } catch {
    return false;
  }
}
