import {
  formatBytes as bytes,
  DEFAULT_ALGORITHM,
  directoryPrefix,
  parseAlgorithm,
  parseByteSize,
  parseSampleSpec,
  planChunks,
  type SampleSpec,
  SidesOverlapError,
  sidesOverlap,
  ValidationError,
} from "@chunksync/core";
import {
  type AuditReport,
  type KeyRule,
  RunAbortedError,
  runAudit,
  runScrub,
  type ScrubReport,
} from "@chunksync/sync";
import { auditWithWorkflow } from "@chunksync/workflow";
import { type Command, Option } from "commander";
import { auditExitCode, EXIT_INTERRUPTED, scrubExitCode } from "./exitCodes.js";
import { addFilterOptions, FILTER_HELP } from "./filterOptions.js";
import { duration, table } from "./format.js";
import { resolveSideIndex } from "./indexOptions.js";
import { addOptionPointers } from "./optionPointers.js";
import { parseS3Url } from "./parseS3Url.js";
import { addSideOptions, openStore, positiveInteger, probe, readSecret, sideFlags } from "./sideSettings.js";
import { warnIneffectiveIncludes, warnTopLevelExclude } from "./warnings.js";

interface SampleFlags {
  sample?: string;
  full?: boolean;
  concurrency: string;
  filters: KeyRule[];
  json: boolean;
  quiet: boolean;
  secretFile?: string;
}

interface AuditFlags extends SampleFlags {
  rangeSize: string;
  engine: "direct" | "workflow";
}

interface ScrubFlags extends SampleFlags {
  index?: string;
  chunkSize: string;
  algorithm: string;
}

/** The default sample: 1% of the bytes. */
const DEFAULT_SAMPLE = "1%";
/** Smallest range an audit draws: below it requests cost more than the bytes. */
const MIN_RANGE = 4096;

const AUDIT_HELP = `
What it proves: the source draws a fresh nonce and a random sample of byte
ranges of its objects; each side reads those ranges of its own objects now and
answers with HMAC(pairing secret, context || nonce || bytes); the source
compares. No digest index and no ETag is trusted, so bytes that rotted at rest
or were changed below the S3 API (same ETag, same LastModified) show. Both
sides must hold the same pairing secret (--secret-file) when they run apart.

Exit codes: 0 every sampled range is held alike, 1 a range differs or an object
is missing on DST, 2 an object could not be audited.
Cost: each side reads the sampled bytes (plus one GET per run of adjacent
ranges); with k ranges sampled, corruption of a fraction f of the ranges goes
unseen with probability at most (1 - f)^k, which the report states.
`;

const SCRUB_HELP = `
What it finds: which side's stored bytes rotted. It re-reads a sample of the
chunks its digest index holds (or all of them with --full) and compares each
with the digest indexed when the object was read or written. An object that no
longer matches is named and its index entry dropped, so the next sync reads it
and repairs it from the source. Give the --chunk-size, --algorithm and
--secret-file (and --index) the syncs use: they name the index.

Exit codes: 0 every sampled chunk matches, 1 an object no longer matches its
index, 2 an error (no index found, a read failed).
`;

function sampleOf(flags: SampleFlags): SampleSpec {
  if (flags.full && flags.sample !== undefined)
    throw new ValidationError("--sample", "no value together with --full (which reads everything)");
  return flags.full ? { kind: "full" } : parseSampleSpec(flags.sample ?? DEFAULT_SAMPLE, "--sample");
}

function addSampleOptions(command: Command, unit: string): Command {
  return addFilterOptions(
    command
      .option(
        "--sample <n|p%|fraction>",
        `${unit} to read: a count (200), a percentage (1%) or a fraction (0.01) of the bytes (default: ${DEFAULT_SAMPLE})`,
      )
      .option("--full", `read every ${unit.replace(/s$/, "")} instead of a sample`)
      .option("--secret-file <path>", "pairing secret (hex or base64, >= 32 bytes)")
      .option("--concurrency <n>", "requests in flight and objects in progress", "8"),
  )
    .option("--json", "print one JSON report on stdout", false)
    .option("--quiet", "print nothing but what differs (and what --json asks for)", false);
}

/** Registers `chunksync audit SRC DST` and `chunksync scrub URL`. */
export function addAuditCommands(root: Command): void {
  const audit = addSideOptions(
    addOptionPointers(
      root
        .command("audit")
        .description(
          "prove that DST still holds SRC's bytes, reading a random sample of ranges on both sides",
        )
        .argument("<SRC>", "s3://bucket[/prefix] of the source")
        .argument("<DST>", "s3://bucket[/prefix] of the destination"),
      ["src", "dst"],
    ),
    ["src", "dst"],
  );
  addSampleOptions(audit, "ranges")
    .option("--range-size <size>", "size of each sampled range (KiB/MiB/GiB)", "1MiB")
    .addOption(
      new Option(
        "--engine <name>",
        "direct: this engine; workflow: the audit's Step Functions definition, run in-process",
      )
        .choices(["direct", "workflow"])
        .default("direct"),
    )
    .addHelpText("after", `${AUDIT_HELP}${FILTER_HELP}`)
    .exitOverride()
    .action(async (src: string, dst: string, flags: AuditFlags) => {
      warnIneffectiveIncludes(flags.filters, process.stderr);
      warnTopLevelExclude(flags.filters, process.stderr);
      root.setOptionValue("exitCode", await interruptible((signal) => auditCommand(src, dst, flags, signal)));
    });

  const scrub = addSideOptions(
    root
      .command("scrub")
      .description("re-read one side's objects and name those whose bytes no longer match its digest index")
      .argument("<URL>", "s3://bucket[/prefix] of the side to scrub"),
    [""],
  );
  addSampleOptions(scrub, "chunks")
    .option(
      "--index <dir|s3-url>",
      "where this side's digest index is kept, as --src-index/--dst-index of sync (default: this user's cache)",
    )
    .option("--chunk-size <size>", "chunk size the index was made with", "8MiB")
    .addOption(
      new Option("--algorithm <name>", "chunk digest the index was made with")
        .choices(["sha256", "sha1", "md5", "crc32c"])
        .default(DEFAULT_ALGORITHM),
    )
    .addHelpText("after", `${SCRUB_HELP}${FILTER_HELP}`)
    .exitOverride()
    .action(async (url: string, flags: ScrubFlags) => {
      warnIneffectiveIncludes(flags.filters, process.stderr);
      root.setOptionValue("exitCode", await interruptible((signal) => scrubCommand(url, flags, signal)));
    });
}

/** Runs `work` with Ctrl-C and SIGTERM aborting it. */
async function interruptible(work: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await work(abort.signal);
  } catch (error) {
    if (error instanceof RunAbortedError || abort.signal.aborted) {
      process.stderr.write("chunksync: interrupted; nothing was written\n");
      return EXIT_INTERRUPTED;
    }
    throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

async function auditCommand(
  src: string,
  dst: string,
  flags: AuditFlags,
  signal: AbortSignal,
): Promise<number> {
  const source = parseS3Url(src, "SRC");
  const destination = parseS3Url(dst, "DST");
  const sample = sampleOf(flags);
  const rangeSize = parseByteSize(flags.rangeSize, "--range-size");
  if (rangeSize < MIN_RANGE)
    throw new ValidationError("--range-size", `at least 4KiB, got "${flags.rangeSize}"`);
  const concurrency = positiveInteger(flags.concurrency, "--concurrency", 256);
  if (flags.engine === "workflow" && sample.kind === "count") {
    throw new ValidationError(
      "--sample",
      "a percentage or fraction with --engine workflow (it samples page by page; a count needs the whole listing)",
    );
  }
  const srcFlags = sideFlags(flags, "src");
  const dstFlags = sideFlags(flags, "dst");
  const secret = await readSecret(flags.secretFile);
  const sourceSide = await openStore("src", source, srcFlags);
  const destinationSide = await openStore("dst", destination, dstFlags);
  if (sidesOverlap(sourceSide.location, destinationSide.location))
    throw new SidesOverlapError("DST", src, dst);
  await probe("src", sourceSide.store, source.prefix, srcFlags);
  await probe("dst", destinationSide.store, destination.prefix, dstFlags);
  const report = await (flags.engine === "workflow" ? auditWithWorkflow : runAudit)({
    source: sourceSide.store,
    sourcePrefix: source.prefix,
    destination: destinationSide.store,
    destinationPrefix: destination.prefix,
    secret,
    sample,
    rangeSize,
    concurrency,
    filters: flags.filters,
    signal,
  });
  const code = auditExitCode(report);
  if (flags.json)
    process.stdout.write(`${JSON.stringify({ command: "audit", exitCode: code, ...report })}\n`);
  else
    process.stdout.write(
      auditText(report, `s3://${source.bucket}/${directoryPrefix(source.prefix)}`, flags.quiet),
    );
  return code;
}

async function scrubCommand(url: string, flags: ScrubFlags, signal: AbortSignal): Promise<number> {
  const location = parseS3Url(url, "URL");
  const sample = sampleOf(flags);
  const chunkSize = parseByteSize(flags.chunkSize, "--chunk-size");
  planChunks(0, chunkSize);
  const algorithm = parseAlgorithm(flags.algorithm, "--algorithm");
  const concurrency = positiveInteger(flags.concurrency, "--concurrency", 256);
  const side = sideFlags(flags, "");
  // The secret only names the index (its pairing tag): a scrub keys nothing with it.
  const secret = flags.secretFile === undefined ? undefined : await readSecret(flags.secretFile);
  const opened = await openStore("", location, side);
  await probe("", opened.store, location.prefix, side);
  const index = await resolveSideIndex(
    "--index",
    flags.index,
    opened,
    { chunkSize, algorithm, secret },
    true,
    [opened.location],
  );
  const report = await runScrub({
    store: opened.store,
    prefix: location.prefix,
    index: { location: index.options.location, scope: index.options.scope },
    sample,
    concurrency,
    filters: flags.filters,
    reservedPrefixes: index.reserved,
    signal,
  });
  if (report.index.found !== "loaded") {
    const why = report.index.found === "absent" ? "there is none" : report.index.notes.join("; ");
    throw new ValidationError(
      "--index",
      `a digest index of s3://${location.bucket}/${directoryPrefix(location.prefix)} at ${report.index.location} (${why}); ` +
        "give the --chunk-size, --algorithm, --secret-file and --index the syncs use",
    );
  }
  const code = scrubExitCode(report);
  if (flags.json)
    process.stdout.write(`${JSON.stringify({ command: "scrub", exitCode: code, ...report })}\n`);
  else
    process.stdout.write(
      scrubText(report, `s3://${location.bucket}/${directoryPrefix(location.prefix)}`, flags.quiet),
    );
  return code;
}

function unseenLine(unseen: { fraction: number; probability: number }[], unit: string): string {
  const parts = unseen.map((u) => `${u.fraction * 100}% of ${unit}: ${u.probability.toPrecision(3)}`);
  return `chance that corruption would have gone unseen (1 - f)^k: ${parts.join(", ")}\n`;
}

function auditText(report: AuditReport, where: string, quiet: boolean): string {
  const out: string[] = [];
  if (report.differences.length > 0) {
    const rows = [["key", "offset", "length", "status"]];
    for (const d of report.differences)
      rows.push([
        d.key,
        d.offset === undefined ? "-" : String(d.offset),
        d.length === undefined ? "-" : String(d.length),
        d.status,
      ]);
    out.push(`${table(rows)}\n`);
    if (report.differencesNotNamed > 0) out.push(`... and ${report.differencesNotNamed} more\n`);
  }
  for (const f of report.failures) out.push(`failed: ${f.key}: ${f.message} (${f.code})\n`);
  if (quiet) return out.join("");
  const o = report.objects;
  out.push(
    `audit of ${where}: ${report.ranges.sampled} ranges of ${bytes(report.rangeSize)} sampled (${report.sample}), ` +
      `${bytes(report.bytes.sampled)} of ${bytes(report.bytes.listed)} in ${o.sampled} of ${o.listed} objects\n`,
    `${report.ranges.equal} equal, ${report.ranges.differs} differ, ${report.ranges.missing} missing; ` +
      `${o.missing} objects missing on destination, ${o.failed} failed\n`,
    `read: source ${bytes(report.bytes.sourceRead)}, destination ${bytes(report.bytes.destinationRead)} in ${duration(report.durationMs)}\n`,
    unseenLine(report.unseen, "ranges"),
  );
  return out.join("");
}

function scrubText(report: ScrubReport, where: string, quiet: boolean): string {
  const out: string[] = [];
  if (report.rotted.length > 0) {
    const rows = [["no longer matches its index", "chunk", "offset", "length"]];
    for (const r of report.rotted)
      for (const c of r.chunks) rows.push([r.key, String(c.index), String(c.offset), String(c.length)]);
    out.push(`${table(rows)}\n`);
    out.push(
      `their index entries were dropped (${report.index.written ?? 0} left): the next sync reads them and repairs them from its source\n`,
    );
  }
  for (const f of report.failures) out.push(`failed: ${f.key}: ${f.message} (${f.code})\n`);
  if (quiet) return out.join("");
  const o = report.objects;
  out.push(
    `scrub of ${where} against ${report.index.location}: ${report.chunks.sampled} chunks sampled (${report.sample}), ` +
      `${bytes(report.bytes.read)} read in ${duration(report.durationMs)}\n`,
    `${o.listed} objects listed, ${o.indexed} indexed, ${o.sampled} sampled, ${o.rotted} rotted, ${o.failed} failed\n`,
    unseenLine(report.unseen, "chunks"),
  );
  for (const note of report.index.notes) out.push(`index: ${note}\n`);
  return out.join("");
}
