/**
 * Full copies into an empty bucket, chunksync against rclone in alternating rounds (A B A B ...),
 * with whole-process wall time, CPU (user + sys) and peak RSS from /usr/bin/time. On a shared,
 * loaded machine a single run of each tool says little; the medians of per-round ratios say more.
 *
 *   npx tsx bench/copiesPaired.ts [--rounds 5] [--small 1000] [--large 512] [--single 150]
 *     [--only small,delta,deltamp,single,large]
 *     [--before DIR]                        also times another commit's CLI in each round (built by scripts/build-other.ts)
 *     [--plain]                             also times the least a Node copier does (bench/lib/plainCopier.ts): no
 *                                           check, no index; as it is, taking the SHA-256 of what it
 *                                           sends, and taking it on a worker thread (a floor under any
 *                                           Node copier that keeps a digest)
 *     [--out name]                          writes bench/results/<date>-<name>.md (never overwrites)
 *     [--profile DIR]                       after the rounds, one `--cpu-prof` run of the current CLI per workload
 *     [--latency MS]                        a proxy before the server holds every request MS first, for every
 *                                           tool alike: a remote store's round trip (the proxy relays the bytes
 *                                           on the same cores, so figures with it compare only with each other)
 */
import { existsSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { type LocalS3, startLocalS3 } from "../scripts/local-s3/index.js";
import { BenchContext, CLI, parseSummary } from "./lib/BenchContext.js";
import { bundleScript } from "./lib/bundle.js";
import { pool, putLargeObject, putObject, seededBytes } from "./lib/data.js";
import { latencyProxy } from "./lib/latency.js";
import { otherCli } from "./lib/otherBuild.js";
import { serverCpuSeconds } from "./lib/serverCpu.js";
import { MiB, markdownTable } from "./lib/table.js";
import { ensureTools, toolVersions } from "./lib/tools.js";
import { DELTA } from "./sections/deltaScenario.js";
import { chunksyncCopyArgs, rcloneCopyArgs, timed } from "./sections/fullCopies.js";

interface Sample {
  wall: number;
  cpu: number;
  rss: number;
  /** The server's CPU seconds during the run (0 for a server this bench cannot see). */
  server?: number;
}

interface Tool {
  name: string;
  run(ctx: BenchContext, src: string, dst: string): Promise<Sample>;
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function chunksyncTool(name: string, cli: string): Tool {
  return {
    name,
    async run(ctx, src, dst) {
      const s = await timed(process.execPath, chunksyncCopyArgs(cli, src, dst), ctx.chunksyncEnv());
      const failed = parseSummary(s.stdout)?.objects.failed;
      if (failed !== 0) throw new Error(`${name}: ${failed ?? "no summary"} objects failed`);
      return { wall: s.seconds, cpu: s.cpu, rss: s.peakRss };
    },
  };
}

const rcloneTool: Tool = {
  name: "rclone",
  async run(ctx, src, dst) {
    const s = await timed("rclone", rcloneCopyArgs(src, dst), ctx.rcloneEnv());
    return { wall: s.seconds, cpu: s.cpu, rss: s.peakRss };
  },
};

/**
 * The plain copier (see bench/lib/plainCopier.ts), bundled into `script`, which `node` runs as it
 * is, between the same two users as the other tools; `hash`: whether it takes the SHA-256 of what
 * it sends, and where (PLAIN_HASH).
 */
function plainTool(s3: LocalS3, script: string, hash: "0" | "1" | "worker"): Tool {
  return {
    name: { "0": "plain node", "1": "plain node + sha256", worker: "plain node + sha256 on a worker" }[hash],
    async run(_ctx, src, dst) {
      const env = {
        PATH: process.env.PATH ?? "",
        PLAIN_ENDPOINT: s3.endpoint,
        PLAIN_REGION: s3.region,
        PLAIN_SRC: src,
        PLAIN_SRC_KEY: s3.users.source.accessKeyId,
        PLAIN_SRC_SECRET: s3.users.source.secretAccessKey,
        PLAIN_DST: dst,
        PLAIN_DST_KEY: s3.users.destination.accessKeyId,
        PLAIN_DST_SECRET: s3.users.destination.secretAccessKey,
        PLAIN_HASH: hash,
      };
      const s = await timed(process.execPath, [script], env);
      return { wall: s.seconds, cpu: s.cpu, rss: s.peakRss };
    },
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** The SHA-256 of every object in the source bucket, by key. */
async function sourceSums(ctx: BenchContext, bucket: string): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  let token: string | undefined;
  do {
    const page = await ctx.clients.source.send(
      new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }),
    );
    await pool(page.Contents ?? [], 16, async (o) => {
      sums.set(o.Key as string, (await ctx.sha256OfObject("source", bucket, o.Key as string)) ?? "");
    });
    token = page.NextContinuationToken;
  } while (token);
  return sums;
}

/** Whether `bucket` holds every object of `expected`, byte for byte. */
async function sameBytes(ctx: BenchContext, bucket: string, expected: Map<string, string>): Promise<boolean> {
  let equal = true;
  await pool([...expected], 16, async ([key, sum]) => {
    if ((await ctx.sha256OfObject("destination", bucket, key)) !== sum) equal = false;
  });
  return equal;
}

async function main(argv: string[]): Promise<void> {
  const rounds = Number(arg(argv, "--rounds") ?? 5);
  const small = Number(arg(argv, "--small") ?? 1000);
  const largeMiB = Number(arg(argv, "--large") ?? 512);
  const singleMiB = Number(arg(argv, "--single") ?? 150);
  const only = new Set((arg(argv, "--only") ?? "small,delta,large").split(","));
  const before = arg(argv, "--before");
  const profile = arg(argv, "--profile");
  const log = (line: string) => console.error(line);
  await ensureTools(log);
  const s3 = await startLocalS3({ log, memstoreBytes: 8 * 1024 ** 3 });
  const latency = Number(arg(argv, "--latency") ?? 0);
  const proxy = await latencyProxy(s3.endpoint, latency);
  // The server as every tool reaches it: through the proxy where there is one.
  const server = proxy ? { ...s3, endpoint: proxy.url } : s3;
  const ctx = new BenchContext(server, false, log);
  const tools: Tool[] = [chunksyncTool("chunksync", CLI)];
  if (before) tools.push(chunksyncTool("chunksync before", otherCli(before)));
  if (argv.includes("--plain")) {
    const script = await bundleScript(join(import.meta.dirname, "lib", "plainCopier.ts"));
    for (const hash of ["0", "1", "worker"] as const) tools.push(plainTool(server, script, hash));
  }
  tools.push(rcloneTool);

  const workloads: { name: string; units: number; unit: string; fill(bucket: string): Promise<void> }[] = [];
  if (only.has("small"))
    workloads.push({
      name: `${small} x 4 KiB`,
      units: small,
      unit: "objects/s",
      fill: (b) =>
        pool(
          Array.from({ length: small }, (_, i) => `small/${String(i).padStart(6, "0")}.bin`),
          32,
          (k) => putObject(ctx.clients.source, b, k, seededBytes(k, 4096)),
        ),
    });
  // The delta bench's objects, written as it writes them (one PutObject each: their ETags are
  // their MD5s); `deltamp` the same bytes written by multipart upload (ETags "...-1").
  if (only.has("delta"))
    workloads.push({
      name: `${DELTA.objects} x ${DELTA.size / MiB} MiB`,
      units: (DELTA.objects * DELTA.size) / MiB,
      unit: "MiB/s",
      async fill(b) {
        for (let i = 0; i < DELTA.objects; i++)
          await putObject(ctx.clients.source, b, `large/${i}.bin`, seededBytes(`delta-${i}`, DELTA.size));
      },
    });
  if (only.has("deltamp"))
    workloads.push({
      name: `${DELTA.objects} x ${DELTA.size / MiB} MiB, multipart-uploaded`,
      units: (DELTA.objects * DELTA.size) / MiB,
      unit: "MiB/s",
      async fill(b) {
        for (let i = 0; i < DELTA.objects; i++)
          await putLargeObject(ctx.clients.source, b, `large/${i}.bin`, `delta-${i}`, DELTA.size);
      },
    });
  // One object below the streamed-copy cutoff, written in one PutObject: copied as one GET
  // streamed into one PutObject, with nothing beside it to keep the server busy.
  if (only.has("single"))
    workloads.push({
      name: `1 x ${singleMiB} MiB, one PutObject`,
      units: singleMiB,
      unit: "MiB/s",
      fill: async (b) => {
        await putObject(ctx.clients.source, b, "single.bin", seededBytes("single", singleMiB * MiB));
      },
    });
  if (only.has("large"))
    workloads.push({
      name: `1 x ${largeMiB} MiB`,
      units: largeMiB,
      unit: "MiB/s",
      fill: async (b) => {
        await putLargeObject(ctx.clients.source, b, "one.bin", "one", largeMiB * MiB);
      },
    });

  const sections: string[] = [];
  try {
    for (const [w, workload] of workloads.entries()) {
      const src = await ctx.createBucket("source", ctx.bucketName(`cp${w}-src`));
      log(`${workload.name}: filling`);
      await workload.fill(src);
      const expected = await sourceSums(ctx, src);
      const equal = new Map<string, boolean>();
      const samples = new Map<string, Sample[]>(tools.map((t) => [t.name, []]));
      for (let r = 0; r < rounds; r++) {
        // Each round starts with another tool, so neither always runs on a warmer machine.
        const order = tools.map((_, i) => tools[(i + r) % tools.length] as Tool);
        for (const tool of order) {
          const dst = await ctx.createBucket(
            "destination",
            ctx.bucketName(`cp${w}-${r}-${tools.indexOf(tool)}`),
          );
          const serverBefore = s3.cephConf ? serverCpuSeconds(s3.cephConf) : 0;
          const s = await tool.run(ctx, src, dst);
          s.server = s3.cephConf ? serverCpuSeconds(s3.cephConf) - serverBefore : 0;
          samples.get(tool.name)?.push(s);
          log(
            `  round ${r + 1} ${tool.name}: ${s.wall.toFixed(2)} s wall, ${s.cpu.toFixed(2)} s CPU, server ${s.server.toFixed(2)} s CPU, ${(s.rss / 1e6).toFixed(0)} MB`,
          );
          // Each tool's last copy is read back whole, outside its timing.
          if (r === rounds - 1) equal.set(tool.name, await sameBytes(ctx, dst, expected));
          await ctx.dropBuckets([dst]);
        }
      }
      if (profile !== undefined) {
        const dst = await ctx.createBucket("destination", ctx.bucketName(`cp${w}-prof`));
        const dir = join(profile, `workload-${w}`);
        const cpuProf = ["--cpu-prof", "--cpu-prof-dir", dir];
        await timed(process.execPath, [...cpuProf, ...chunksyncCopyArgs(CLI, src, dst)], ctx.chunksyncEnv());
        log(`  profile written to ${dir}`);
        await ctx.dropBuckets([dst]);
      }
      await ctx.dropBuckets([src]);
      const peer = samples.get("rclone") as Sample[];
      const rows = tools.map((t) => {
        const s = samples.get(t.name) as Sample[];
        const pairWall = s.map((x, i) => (peer[i] as Sample).wall / x.wall);
        const pairCpu = s.map((x, i) => x.cpu / (peer[i] as Sample).cpu);
        return [
          t.name,
          `${median(s.map((x) => x.wall)).toFixed(2)} s`,
          `${(workload.units / median(s.map((x) => x.wall))).toFixed(workload.unit === "MiB/s" ? 0 : 0)} ${workload.unit}`,
          `${median(s.map((x) => x.cpu)).toFixed(2)} s`,
          `${median(s.map((x) => x.server ?? 0)).toFixed(2)} s`,
          `${(Math.max(...s.map((x) => x.rss)) / 1e6).toFixed(0)} MB`,
          t.name === "rclone" ? "" : `${median(pairWall).toFixed(2)}x`,
          t.name === "rclone" ? "" : `${median(pairCpu).toFixed(2)}x`,
        ];
      });
      sections.push(
        [
          `## ${workload.name}, ${rounds} rounds${latency > 0 ? `, every request held ${latency} ms` : ""}`,
          "",
          markdownTable(
            [
              "tool",
              "wall (median)",
              "throughput",
              "CPU (median)",
              "server CPU (median)",
              "peak RSS (max)",
              "speed / rclone's (median of rounds)",
              "CPU / rclone's",
            ],
            rows,
          ),
          "",
          `Byte-equal to the source (every object read back whole after each tool's last round): ${tools
            .map((t) => `${t.name} ${equal.get(t.name) ? "yes" : "NO"}`)
            .join(", ")}.`,
          "",
          `_Load average after: ${loadavg()
            .map((l) => l.toFixed(1))
            .join(" / ")}._`,
          "",
        ].join("\n"),
      );
      console.log(sections.at(-1));
    }
  } finally {
    await ctx.dropAll().catch(() => {});
    await proxy?.stop();
    await s3.stop();
  }
  const out = arg(argv, "--out");
  if (out) {
    const file = join(import.meta.dirname, "results", `${new Date().toISOString().slice(0, 10)}-${out}.md`);
    if (existsSync(file)) throw new Error(`${file} exists; choose another --out`);
    const header = [
      `# Full copies, chunksync against rclone in alternating rounds`,
      "",
      `Command: \`npx tsx bench/copiesPaired.ts ${argv.join(" ")}\`. Both tools at 8 in flight, 8 MiB parts ` +
        "(`chunksync sync --concurrency 8 --chunk-size 8MiB`, `rclone sync --transfers 8 --checkers 8 " +
        "--s3-chunk-size 8M --s3-upload-concurrency 8`), each round into a fresh empty bucket. Whole " +
        "processes; CPU is user + sys of the client process, server CPU that of the local server's processes during the run; speed ratio = rclone's wall / chunksync's, " +
        "per round, median (>= 1: chunksync as fast or faster).",
      "",
      ...(await toolVersions()).map((v) => `- ${v}`),
      "",
    ].join("\n");
    writeFileSync(file, `${header}\n${sections.join("\n")}`);
    log(`written to ${file}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
