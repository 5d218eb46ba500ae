/**
 * chunksync against rclone and aws s3 sync on a local S3 server, every tool on the same
 * seeded data in one run. `npm run bench` (full) or `npm run bench:quick` (under 5 minutes on
 * 2 cores). Prints one Markdown table per section and writes them to bench/results/.
 * `--only 1,3` runs some sections only.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { startLocalS3 } from "../scripts/local-s3/index.js";
import { BenchContext } from "./lib/BenchContext.js";
import { ensureTools, toolVersions } from "./lib/tools.js";
import { auditSection } from "./sections/audit.js";
import { deltaSyncSection } from "./sections/deltaSync.js";
import { digestIndexSection } from "./sections/digestIndex.js";
import { digestPipelineSection } from "./sections/digestPipeline.js";
import { fineDeltaSection } from "./sections/fineDelta.js";
import { fullCopiesSection } from "./sections/fullCopies.js";
import { memorySection } from "./sections/memory.js";
import { smallObjectsSection } from "./sections/smallObjects.js";
import { workflowOverheadSection } from "./sections/workflowOverhead.js";

const RESULTS = join(import.meta.dirname, "results");

async function main(argv: string[]): Promise<void> {
  const quick = argv.includes("--quick");
  const onlyArg = argv[argv.indexOf("--only") + 1];
  const only = argv.includes("--only") && onlyArg ? new Set(onlyArg.split(",").map(Number)) : undefined;
  const log = (line: string) => console.error(line);
  const started = Date.now();

  await ensureTools(log);
  log("starting the local S3 server");
  // The memstore keeps objects in RAM; the largest section holds about 4.5 GiB at once.
  const s3 = await startLocalS3({ log, memstoreBytes: (quick ? 4 : 8) * 1024 ** 3 });
  const ctx = new BenchContext(s3, quick, log);
  // Ctrl-C must not leave a Ceph cluster holding gigabytes of RAM behind.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the local S3 server`);
      void s3.stop().finally(() => process.exit(130));
    });
  }
  const sections: [number, string, () => Promise<string>][] = [
    [1, "delta sync vs peers", () => deltaSyncSection(ctx)],
    [2, "digest pipeline", () => digestPipelineSection(ctx)],
    [3, "memory", () => memorySection(ctx)],
    [4, "many small objects", () => smallObjectsSection(ctx)],
    [5, "workflow overhead", () => workflowOverheadSection(ctx)],
    [6, "full copies vs rclone", () => fullCopiesSection(ctx)],
    [7, "digest index", () => digestIndexSection(ctx)],
    [8, "audit and scrub", () => auditSection(ctx)],
    [9, "fine-grained delta", () => fineDeltaSection(ctx)],
  ];
  const parts: string[] = [];
  try {
    for (const [n, name, run] of sections) {
      if (only && !only.has(n)) continue;
      log(`section ${n}: ${name}`);
      const t = Date.now();
      let text: string;
      try {
        text = await run();
      } catch (error) {
        // A failing section is reported, not hidden: the others still run.
        text = `## ${n}. ${name}\n\nFAILED: ${error instanceof Error ? error.message : String(error)}\n`;
      }
      // Other work on the machine skews every time: say how busy it was.
      const load = `_Section time ${((Date.now() - t) / 1000).toFixed(0)} s; load average at its end ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" / ")} (1/5/15 min) on ${availableParallelism()} cores._`;
      text = `${text.trimEnd()}\n\n${load}\n`;
      log(`section ${n} done in ${((Date.now() - t) / 1000).toFixed(0)} s`);
      console.log(`${text}\n`);
      parts.push(text);
    }
  } finally {
    await ctx.dropAll().catch(() => {});
    await s3.stop();
  }

  const date = new Date().toISOString().slice(0, 10);
  const header = [
    `# chunksync benchmark, ${date} (${quick ? "quick" : "full"})`,
    "",
    `Command: \`npm run bench${quick ? ":quick" : ""}\`${only ? ` (sections ${[...only].join(",")})` : ""}. ` +
      `Machine: ${availableParallelism()} cores, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM. ` +
      `S3 server: ${s3.kind} on loopback${s3.kind === "ceph-rgw" ? " (memstore: objects in RAM)" : ""}. ` +
      `Total ${((Date.now() - started) / 1000).toFixed(0)} s.`,
    "",
    ...(await toolVersions()).map((v) => `- ${v}`),
    "",
  ].join("\n");
  mkdirSync(RESULTS, { recursive: true });
  const file = join(
    RESULTS,
    `${date}-${quick ? "quick" : "full"}${only ? `-s${[...only].join("")}` : ""}.md`,
  );
  writeFileSync(file, `${header}\n${parts.join("\n")}`);
  log(`written to ${file}`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
