import {
  formatBytes as bytes,
  directoryPrefix,
  jsonText,
  parseAlgorithm,
  parseByteSize,
  parseSampleSpec,
  type SampleSpec,
  type SampleUnit,
  SidesOverlapError,
  ValidationError,
} from "@chunksync/core";
import { type AuditReport, type KeyRule, runAudit, runScrub, type ScrubReport } from "@chunksync/sync";
import { DEFAULT_SAMPLE } from "./audit.js";
import { auditExitCode, scrubExitCode } from "./exitCodes.js";
import { duration, table } from "./format.js";
import { resolveSideIndex } from "./indexOptions.js";
import { interruptedExitCode } from "./interruptible.js";
import { mayOverlap } from "./oneServer.js";
import { locationText, parseS3Url } from "./parseS3Url.js";
import { printable } from "./printable.js";
import {
  chunkSizeFlag,
  openStore,
  positiveInteger,
  probe,
  probeSides,
  readSecret,
  sideFlags,
} from "./sideSettings.js";
import { warnNoObjects } from "./warnings.js";

interface SampleFlags {
  sample?: string;
  full?: boolean;
  concurrency: string;
  filters: KeyRule[];
  json: boolean;
  quiet: boolean;
  secretFile?: string;
}

export interface AuditFlags extends SampleFlags {
  rangeSize: string;
  engine: "direct" | "workflow";
}

export interface ScrubFlags extends SampleFlags {
  index?: string;
  chunkSize: string;
  algorithm: string;
}

/** Smallest range an audit draws: below it requests cost more than the bytes. */
const MIN_RANGE = 4096;

/** The sample the flags ask for; `unit`, what a count of it counts. */
function sampleOf(flags: SampleFlags, unit: SampleUnit): SampleSpec {
  if (flags.full && flags.sample !== undefined)
    throw new ValidationError("--sample", "no value together with --full (which reads everything)");
  return flags.full ? { kind: "full" } : parseSampleSpec(flags.sample ?? DEFAULT_SAMPLE, "--sample", unit);
}

export async function auditCommand(
  src: string,
  dst: string,
  flags: AuditFlags,
  signal: AbortSignal,
): Promise<number> {
  const source = parseS3Url(src, "SRC");
  const destination = parseS3Url(dst, "DST");
  const sample = sampleOf(flags, "ranges");
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
  if (await mayOverlap(sourceSide.location, destinationSide.location))
    throw new SidesOverlapError(
      "DST",
      src,
      dst,
      "an audit proves that a second copy holds the source's bytes: a location and a part of itself are one copy",
    );
  await probeSides(
    [
      ["src", sourceSide.store, source.prefix, srcFlags],
      ["dst", destinationSide.store, destination.prefix, dstFlags],
    ],
    signal,
  );
  // The workflow engine loads only for --engine workflow.
  const engine =
    flags.engine === "workflow" ? (await import("@chunksync/workflow")).auditWithWorkflow : runAudit;
  const report = await engine({
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
  const selected = { source: report.objects.listed, destinationOnly: report.objects.extra };
  if (!report.interrupted) warnNoObjects(selected, source, destination, flags.filters, process.stderr);
  // A stopped audit reports what it judged until then (see runAudit).
  const code = report.interrupted ? interruptedExitCode(signal) : auditExitCode(report);
  if (flags.json) process.stdout.write(`${jsonText({ command: "audit", exitCode: code, ...report })}\n`);
  else process.stdout.write(auditText(report, locationText(source), flags.quiet));
  if (report.interrupted)
    process.stderr.write(
      `chunksync: interrupted; ${count(report.objects.sampled, "object")} judged, ${count(report.ranges.differs + report.ranges.missing, "range")} not held alike\n`,
    );
  return code;
}

export async function scrubCommand(url: string, flags: ScrubFlags, signal: AbortSignal): Promise<number> {
  const location = parseS3Url(url, "URL");
  const sample = sampleOf(flags, "chunks");
  const chunkSize = chunkSizeFlag(flags.chunkSize);
  const algorithm = parseAlgorithm(flags.algorithm, "--algorithm");
  const concurrency = positiveInteger(flags.concurrency, "--concurrency", 256);
  const side = sideFlags(flags, "");
  // The secret only names the index (its pairing tag): a scrub keys nothing with it.
  const secret = flags.secretFile === undefined ? undefined : await readSecret(flags.secretFile);
  const opened = await openStore("", location, side);
  await probe("", opened.store, location.prefix, side, false, signal);
  const index = await resolveSideIndex(
    "--index",
    flags.index,
    opened,
    { chunkSize, algorithm, secret },
    true,
    { existing: true },
  );
  const report = await runScrub({
    store: opened.store,
    prefix: location.prefix,
    index: { location: index.location, scope: index.scope },
    sample,
    concurrency,
    filters: flags.filters,
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
  // A stopped scrub reports what it found until then, whose entries it marked (see runScrub).
  const code = report.interrupted ? interruptedExitCode(signal) : scrubExitCode(report);
  if (flags.json) process.stdout.write(`${jsonText({ command: "scrub", exitCode: code, ...report })}\n`);
  else process.stdout.write(scrubText(report, locationText(location), flags.quiet));
  if (!report.interrupted)
    warnNoObjects(
      { source: report.objects.listed, destinationOnly: 0 },
      location,
      undefined,
      flags.filters,
      process.stderr,
    );
  else
    process.stderr.write(
      `chunksync: interrupted; ${count(report.objects.sampled, "object")} judged, ${count(report.objects.rotted, "rotted object")} found` +
        `${report.index.marked > 0 ? ` (their entries marked rotted in the index)` : ""}\n`,
    );
  return code;
}

/** `n` and `noun`, in the plural but for one. */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** The chance of corruption having gone unseen: none once every range or chunk was read, else (1 - f)^k. */
function unseenLine(
  unseen: { fraction: number; probability: number }[],
  everyRead: boolean,
  unit: "ranges" | "chunks",
  unindexed = 0,
): string {
  if (everyRead && unindexed > 0)
    return `chance that corruption would have gone unseen: 0 in the indexed objects (every ${unit.slice(0, -1)} of them was read); ${count(unindexed, "listed object")} with no entry standing for ${unindexed === 1 ? "its version was" : "their versions were"} not scrubbed\n`;
  if (everyRead)
    return `chance that corruption would have gone unseen: 0 (every ${unit.slice(0, -1)} was read)\n`;
  const parts = unseen.map((u) => `${u.fraction * 100}% of ${unit}: ${u.probability.toPrecision(3)}`);
  return `chance that corruption would have gone unseen (1 - f)^k: ${parts.join(", ")}\n`;
}

/** An object that could not be audited or scrubbed; its message may quote its key or a server's text. */
function failureLine(f: { key: string; code: string; message: string }): string {
  return `failed: ${printable(f.key)}: ${printable(f.message)} (${f.code})\n`;
}

/** The human-readable report of an audit. */
export function auditText(report: AuditReport, where: string, quiet: boolean): string {
  const out: string[] = [];
  if (report.differences.length > 0) {
    const rows = [["key", "offset", "length", "status"]];
    for (const d of report.differences)
      rows.push([
        printable(d.key),
        d.offset === undefined ? "-" : String(d.offset),
        d.length === undefined ? "-" : String(d.length),
        d.status === "size" ? `size ${d.destinationSize} on destination` : d.status,
      ]);
    out.push(`${table(rows)}\n`);
    if (report.differencesNotNamed > 0) out.push(`... and ${report.differencesNotNamed} more\n`);
  }
  out.push(...report.failures.map(failureLine));
  if (quiet) return out.join("");
  const o = report.objects;
  out.push(
    `audit of ${where}: ${count(report.ranges.sampled, "range")} of up to ${bytes(report.rangeSize)} sampled (${report.sample}), ` +
      `${bytes(report.bytes.sampled)} of ${bytes(report.bytes.listed)} in ${o.sampled} of ${count(o.listed, "object")}` +
      // A stopped audit counts what it had listed by then, not the whole prefix.
      `${report.interrupted ? " listed before the stop" : ""}\n`,
    `${report.ranges.equal} equal, ${report.ranges.differs} differ, ${report.ranges.missing} missing; ` +
      `${count(o.missing, "object")} missing on destination, ${o.resized} of another size there, ${o.extra} only there ` +
      `(not audited), ${o.failed} failed\n`,
    `read: source ${bytes(report.bytes.sourceRead)}, destination ${bytes(report.bytes.destinationRead)} in ${duration(report.durationMs)}\n`,
    unseenLine(report.unseen, report.everyRangeRead, "ranges"),
  );
  return out.join("");
}

/** The human-readable report of a scrub. */
export function scrubText(report: ScrubReport, where: string, quiet: boolean): string {
  const out: string[] = [];
  if (report.rotted.length > 0) {
    const rows = [["no longer matches its index", "chunk", "offset", "length"]];
    for (const r of report.rotted)
      for (const c of r.chunks)
        rows.push([printable(r.key), String(c.index), String(c.offset), String(c.length)]);
    out.push(`${table(rows)}\n`);
    const failed = report.index.notMarked;
    out.push(
      failed
        ? `their index entries could not be marked rotted (${failed.code}: ${printable(failed.message)}): a sync with this ` +
            "index still trusts them: where this is a sync's destination, a sync with --no-index reads and repairs them; where it is a sync's source, " +
            "do not sync from it until they are restored (a sync from that destination back to here restores them) or the scrub, run again once the index can be written, has marked them\n"
        : "their index entries are marked rotted: where this is a sync's destination, the next sync reads them and repairs them from its source; " +
            "where it is a sync's source, syncs with this index refuse to send them (SOURCE_ROTTED), so the destination keeps its good copies, until they are restored (a sync from that destination back to here restores them); " +
            "a sync with another index (another --chunk-size, --algorithm, --secret-file or prefix) or --no-index does not see the marks and would send the rot\n",
    );
  }
  // Marked before, read whole now and found as indexed (bytes repaired below the S3 API).
  if (report.index.cleared > 0)
    out.push(
      `${count(report.index.cleared, "object")} marked rotted before now read as indexed, every chunk: ${report.index.cleared === 1 ? "its mark is" : "their marks are"} cleared\n`,
    );
  out.push(...report.failures.map(failureLine));
  for (const u of report.index.unread)
    out.push(
      `failed: index piece ${printable(u.piece)}: ${printable(u.message)} (${u.code}): its ${u.objects} objects were not judged\n`,
    );
  if (quiet) return out.join("");
  const o = report.objects;
  out.push(
    `scrub of ${where} against ${printable(report.index.location)}: ${count(report.chunks.sampled, "chunk")} sampled (${report.sample}), ` +
      `${bytes(report.bytes.read)} read in ${duration(report.durationMs)}\n`,
    `${count(o.listed, "object")} listed, ${o.indexed} indexed, ${o.sampled} sampled, ${o.rotted} rotted, ${o.failed} failed\n`,
    // A scrub reads only what its index holds: objects without an entry are not among "every chunk".
    unseenLine(report.unseen, report.everyChunkRead, "chunks", o.listed - o.indexed),
  );
  for (const note of report.index.notes) out.push(`index: ${printable(note)}\n`);
  return out.join("");
}
