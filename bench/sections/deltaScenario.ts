import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BenchContext, type ChunksyncSummary, pairArgs, parseSummary } from "../lib/BenchContext.js";
import { putObject, seededBytes, sha256 } from "../lib/data.js";
import { tail } from "../lib/exec.js";
import { MiB } from "../lib/table.js";
import { usageDelta } from "../lib/usage.js";

export const DELTA = {
  objects: 8,
  size: 64 * MiB,
  /** Objects whose bytes [editOffset, editOffset + editLength) are overwritten, size unchanged. */
  edited: [2, 5],
  editOffset: 33 * MiB,
  editLength: 1 * MiB,
  chunkSize: 8 * MiB,
};

/** Bytes a chunk-level tool must move for the edit: every chunk the edit touches, in every edited object. */
export function touchedChunkBytes(): number {
  const first = Math.floor(DELTA.editOffset / DELTA.chunkSize);
  const last = Math.floor((DELTA.editOffset + DELTA.editLength - 1) / DELTA.chunkSize);
  return (last - first + 1) * DELTA.chunkSize * DELTA.edited.length;
}

/** One tool in the delta scenario: how it syncs `src` into `dst`. */
export interface DeltaTool {
  name: string;
  /** Called once on its fresh destination bucket before the initial sync. */
  prepare?(ctx: BenchContext, dst: string): Promise<void>;
  sync(ctx: BenchContext, src: string, dst: string): Promise<ToolRun>;
}

export interface ToolRun {
  seconds: number;
  /** Keys the tool says it copied server-side from the source bucket (from its own output). */
  serverSideKeys?: string[];
  /** chunksync's own counters, shown next to the server's for comparison. */
  summary?: ChunksyncSummary;
}

export interface Measured {
  seconds: number;
  /** GET response bytes out of the source bucket (usage log). */
  sourceRead?: number;
  /** Request body bytes into the tool's destination bucket (usage log). */
  destinationWritten?: number;
  /** Bytes of the objects the tool copied server-side out of the source bucket. */
  serverSideCopied: number;
  summary?: ChunksyncSummary;
}

export interface DeltaResult {
  tool: string;
  initial: Measured;
  incremental: Measured;
  /** Keys whose ETag or Last-Modified changed in the incremental run. */
  rewritten: string[];
  detected: boolean;
  /** Every destination object's sha256 (full GET) equals the source's. */
  equal: boolean;
  mismatched: string[];
}

const key = (i: number) => `obj-${String(i).padStart(2, "0")}.bin`;

/**
 * Seeds a source bucket, lets every tool make its own fresh destination equal to it, edits
 * 1 MiB in two objects (same size), and measures each tool's incremental sync.
 */
export async function runDeltaScenario(
  ctx: BenchContext,
  label: string,
  tools: DeltaTool[],
): Promise<DeltaResult[]> {
  const src = await ctx.createBucket("source", ctx.bucketName(`${label}-src`));
  const keys = Array.from({ length: DELTA.objects }, (_, i) => key(i));
  const expected = new Map<string, string>();
  ctx.log(`  seeding ${DELTA.objects} x ${DELTA.size / MiB} MiB into ${src}`);
  for (const [i, k] of keys.entries()) {
    const body = seededBytes(`delta-${i}`, DELTA.size);
    expected.set(k, sha256(body));
    await putObject(ctx.clients.source, src, k, body);
  }
  const sizes = new Map(keys.map((k) => [k, DELTA.size]));
  const dsts = new Map<string, string>();
  for (const [i, tool] of tools.entries()) {
    const dst = await ctx.createBucket("destination", ctx.bucketName(`${label}-d${i}`));
    await tool.prepare?.(ctx, dst);
    dsts.set(tool.name, dst);
  }
  const measure = async (tool: DeltaTool, phase: string): Promise<Measured> => {
    const dst = dsts.get(tool.name)!;
    const before = await ctx.usage?.settled();
    ctx.log(`  ${phase}: ${tool.name}`);
    const run = await tool.sync(ctx, src, dst);
    const after = await ctx.usage?.settled();
    const s = before && after ? usageDelta(before, after, src) : undefined;
    const d = before && after ? usageDelta(before, after, dst) : undefined;
    return {
      seconds: run.seconds,
      ...(s ? { sourceRead: s.getSent } : {}),
      ...(d ? { destinationWritten: d.received } : {}),
      serverSideCopied: (run.serverSideKeys ?? []).reduce((sum, k) => sum + (sizes.get(k) ?? 0), 0),
      ...(run.summary ? { summary: run.summary } : {}),
    };
  };

  const initial = new Map<string, Measured>();
  for (const tool of tools) initial.set(tool.name, await measure(tool, "initial sync"));

  ctx.log(
    `  editing ${DELTA.editLength / MiB} MiB at ${DELTA.editOffset / MiB} MiB in ${DELTA.edited.length} objects`,
  );
  for (const i of DELTA.edited) {
    const body = seededBytes(`delta-${i}`, DELTA.size);
    seededBytes(`delta-edit-${i}`, DELTA.editLength).copy(body, DELTA.editOffset);
    expected.set(key(i), sha256(body));
    await putObject(ctx.clients.source, src, key(i), body);
  }

  const results: DeltaResult[] = [];
  for (const tool of tools) {
    const dst = dsts.get(tool.name)!;
    const versions = async () => Promise.all(keys.map((k) => ctx.version("destination", dst, k)));
    const before = await versions();
    const incremental = await measure(tool, "incremental sync");
    const after = await versions();
    const rewritten = keys.filter((_, i) => before[i] !== after[i]);
    const mismatched: string[] = [];
    for (const k of keys)
      if ((await ctx.sha256OfObject("destination", dst, k)) !== expected.get(k)) mismatched.push(k);
    results.push({
      tool: tool.name,
      initial: initial.get(tool.name)!,
      incremental,
      rewritten,
      detected: DELTA.edited.every((i) => rewritten.includes(key(i))),
      equal: mismatched.length === 0,
      mismatched,
    });
  }
  await ctx.dropBuckets([src, ...dsts.values()]);
  return results;
}

/** chunksync between the two profiles (two users: nothing can be copied server-side between them). */
/**
 * chunksync's environment with a cache directory of `tool`'s own: each chunksync tool keeps its
 * default digest indexes apart, as on two machines. Shared, the tool run second would find the
 * source index already holding the edited objects' new versions, and read nothing of them.
 */
function ownCache(ctx: BenchContext, tool: string): Record<string, string> {
  const env = ctx.chunksyncEnv();
  const slug = tool.replace(/[^a-z0-9]+/gi, "-");
  return { ...env, XDG_CACHE_HOME: join(env.XDG_CACHE_HOME ?? tmpdir(), slug) };
}

export function chunksyncTool(name: string, extraArgs: string[] = []): DeltaTool {
  return {
    name,
    async sync(ctx, src, dst) {
      const r = await ctx.chunksync([...pairArgs("sync", src, dst), "--json", ...extraArgs], {
        allowFailure: true,
        env: ownCache(ctx, name),
      });
      if (r.code !== 0) throw new Error(`chunksync sync failed (${r.code}):\n${tail(r.stderr || r.stdout)}`);
      const summary = parseSummary(r.stdout);
      return { seconds: r.seconds, ...(summary ? { summary } : {}) };
    },
  };
}

/** rclone between two remotes, one per user: it streams changed objects through itself. */
export const rcloneTool: DeltaTool = {
  name: "rclone sync --checksum",
  async sync(ctx, src, dst) {
    const r = await ctx.rclone([
      "sync",
      "--checksum",
      "--transfers",
      "8",
      "--checkers",
      "8",
      `src:${src}`,
      `dst:${dst}`,
    ]);
    return { seconds: r.seconds };
  },
};

/**
 * `aws s3 sync` signs every request with one identity. It runs as the source user, and the
 * destination bucket's policy lets the source user write into it (RGW refused UploadPartCopy
 * the other way round: destination user reading the source through a bucket policy).
 * Objects are written with bucket-owner-full-control so the destination's owner can read them.
 */
export const awsTool: DeltaTool = {
  name: "aws s3 sync",
  async prepare(ctx, dst) {
    await ctx.grantBucket("destination", dst, "source");
  },
  async sync(ctx, src, dst) {
    const r = await ctx.aws("source", [
      "s3",
      "sync",
      "--no-progress",
      "--acl",
      "bucket-owner-full-control",
      `s3://${src}`,
      `s3://${dst}`,
    ]);
    const failed = r.stdout.split("\n").filter((l) => l.includes("failed"));
    if (failed.length > 0) throw new Error(`aws s3 sync failed:\n${failed.join("\n")}`);
    const copied = [...r.stdout.matchAll(/^copy: s3:\/\/[^/]+\/(\S+) to /gm)].map((m) => m[1]!);
    return { seconds: r.seconds, serverSideKeys: copied };
  },
};
