import { fstatSync } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import {
  ChunksyncError,
  DEFAULT_ALGORITHM,
  jsonText,
  parseAlgorithm,
  SidesOverlapError,
  ValidationError,
  type Variant,
} from "@chunksync/core";
import { StorageError, type WriteOptions } from "@chunksync/storage";
import {
  addPlanned,
  buildReport,
  type KeyRule,
  noPlanned,
  objectLine,
  RunAbortedError,
  RunStats,
  runSync,
  type SyncOptions,
  summaryLine,
  type VerifyMode,
} from "@chunksync/sync";
import { Command, CommanderError, Option } from "commander";
import cliPackage from "../package.json" with { type: "json" };
import { addAuditCommands } from "./audit.js";
import { addCleanupCommand } from "./cleanup.js";
import { EmptySourceError } from "./emptySource.js";
import { refuseEmptyValues } from "./emptyValues.js";
import { examples } from "./examples.js";
import { EXIT_ERROR, exitCodeOf } from "./exitCodes.js";
import { addFilterOptions, FILTER_HELP } from "./filterOptions.js";
import {
  addIndexOptions,
  checkIndexFlags,
  checkIndexLocations,
  type IndexFlags,
  resolveIndexes,
} from "./indexOptions.js";
import { closeLostTerminals, endAs, endIfHungUp, SignalStop, stoppableStart } from "./interruptible.js";
import { JsonLinesReport } from "./jsonLinesReport.js";
import { mayOverlap } from "./oneServer.js";
import { addOptionPointers } from "./optionPointers.js";
import { OutageWatch, outageLimit } from "./outage.js";
import { parseS3Url, type S3Location } from "./parseS3Url.js";
import { printable } from "./printable.js";
import { startProgress } from "./progress.js";
import {
  addSideOptions,
  chunkSizeFlag,
  connectionHelp,
  openStore,
  positiveInteger,
  probeSides,
  probeStorageClass,
  readSecret,
  sameAccount,
  sideFlags,
} from "./sideSettings.js";
import { FailureList, interruptedCounts, jsonEnding, jsonSummary, textSummary } from "./summary.js";
import {
  leftUploadsAhead,
  stoppedUploads,
  warnIndexNotWritten,
  warnIneffectiveIncludes,
  warnLeftUploads,
  warnNoObjects,
  warnTopLevelExclude,
  warnWeakDigest,
} from "./warnings.js";

interface RunFlags extends IndexFlags {
  srcProfile?: string;
  dstProfile?: string;
  srcEndpoint?: string;
  dstEndpoint?: string;
  srcRegion?: string;
  dstRegion?: string;
  srcAccountId?: string;
  dstAccountId?: string;
  srcSseCKeyFile?: string;
  dstSseCKeyFile?: string;
  chunkSize: string;
  algorithm: string;
  variant: Variant;
  secretFile?: string;
  concurrency: string;
  /** --include and --exclude, in command-line order. */
  filters: KeyRule[];
  /** `sync` only: run as `plan`. */
  dryRun?: boolean;
  delete: boolean;
  verify: VerifyMode;
  json: boolean;
  report?: string;
  tags: boolean;
  storageClass?: string;
  sse?: "AES256" | "aws:kms";
  sseKmsKeyId?: string;
  sseKmsContext?: string;
  serverSideCopy: boolean;
  blocks: boolean;
  quiet: boolean;
  engine: "direct" | "workflow";
}

function addRunOptions(command: Command): Command {
  addOptionPointers(command, ["src", "dst"]);
  addSideOptions(command, ["src", "dst"]);
  command
    .option("--chunk-size <size>", "chunk size, 5MiB..4GiB (KiB/MiB/GiB)", "8MiB")
    .addOption(
      new Option("--algorithm <name>", "chunk digest")
        .choices(["sha256", "sha1", "md5", "crc32c"])
        .default(DEFAULT_ALGORITHM),
    )
    .addOption(
      new Option("--variant <name>", "challenge variant").choices(["encode", "decode"]).default("encode"),
    )
    .option("--secret-file <path>", "pairing secret (hex or base64, >= 32 bytes); drawn per run when omitted")
    .option("--concurrency <n>", "requests in flight and objects in progress (1 to 256)", "8");
  return addIndexOptions(addFilterOptions(command))
    .option("--delete", "delete destination objects that are not on the source", false)
    .addOption(
      new Option("--verify <mode>", "re-challenge written chunks afterwards")
        .choices(["none", "changed", "full"])
        .default("changed"),
    )
    .option("--tags", "compare the tag sets too, and (sync) copy the source's", false)
    .option("--storage-class <class>", "storage class of written objects")
    .addOption(
      new Option("--sse <mode>", "server-side encryption of written objects").choices(["AES256", "aws:kms"]),
    )
    .option("--sse-kms-key-id <id>", "KMS key for --sse aws:kms")
    .option("--sse-kms-context <json>", "KMS encryption context (JSON object)")
    .option(
      "--no-server-side-copy",
      "stream changed chunks even when both sides share an endpoint and account",
    )
    .option(
      "--no-blocks",
      "send changed chunks whole instead of matching their content-defined blocks against the old object",
    )
    .option("--json", "print one JSON summary on stdout", false)
    .option(
      "--report <file>",
      "write the per-object report as JSON Lines: a line per object as it settles, then a summary line",
    )
    .option("--quiet", "print nothing but failures (and what --json asks for)", false)
    .addOption(
      new Option(
        "--engine <name>",
        "direct: this engine; workflow: the Step Functions definition, run in-process",
      )
        .choices(["direct", "workflow"])
        .default("direct"),
    );
}

/** The workflow engine runs `sync` only: its steps write, so it has no dry run. */
function checkWorkflowFlags(command: string, flags: RunFlags): void {
  if (command !== "sync" || flags.dryRun) {
    const what = flags.dryRun ? "sync --dry-run" : command;
    throw new ValidationError("--engine", `direct for ${what} (the workflow engine runs sync only)`);
  }
}

/** Whether `text` is JSON of an object whose values are all strings (an SSE-KMS encryption context). */
function isObjectOfStrings(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return (
      typeof value === "object" &&
      value !== null &&
      !Array.isArray(value) &&
      Object.values(value).every((v) => typeof v === "string")
    );
  } catch {
    return false;
  }
}

/**
 * The destination's write options, checked before any request: S3 refuses a KMS key or context
 * without `--sse aws:kms`, `--sse` with an SSE-C key, and a context that is not an object of
 * strings, on every write, so such a run would read every object it has to write and fail each one.
 */
function writeOptions(flags: RunFlags): WriteOptions {
  for (const [flag, value] of [
    ["--sse-kms-key-id", flags.sseKmsKeyId],
    ["--sse-kms-context", flags.sseKmsContext],
  ] as const) {
    if (value !== undefined && flags.sse !== "aws:kms")
      throw new ValidationError(flag, `--sse aws:kms with it (it applies to SSE-KMS only), got "${value}"`);
  }
  // S3 refuses a write that asks for both (Ceph RGW 16 applies the customer key and drops --sse).
  if (flags.sse !== undefined && flags.dstSseCKeyFile !== undefined)
    throw new ValidationError(
      "--sse",
      `no value together with --dst-sse-c-key-file (an object is encrypted with the customer's key or the server's, not both), got "${flags.sse}"`,
    );
  if (flags.sseKmsContext !== undefined && !isObjectOfStrings(flags.sseKmsContext)) {
    throw new ValidationError(
      "--sse-kms-context",
      `a JSON object of strings such as {"project":"x"}, got '${flags.sseKmsContext}'`,
    );
  }
  return {
    ...(flags.storageClass ? { storageClass: flags.storageClass } : {}),
    ...(flags.sse ? { serverSideEncryption: flags.sse } : {}),
    ...(flags.sseKmsKeyId ? { kmsKeyId: flags.sseKmsKeyId } : {}),
    ...(flags.sseKmsContext ? { kmsEncryptionContext: flags.sseKmsContext } : {}),
  };
}

async function run(
  command: "check" | "plan" | "sync",
  src: string,
  dst: string,
  flags: RunFlags,
): Promise<number> {
  const source = parseS3Url(src, "SRC");
  const destination = parseS3Url(dst, "DST");
  const chunkSize = chunkSizeFlag(flags.chunkSize);
  const algorithm = parseAlgorithm(flags.algorithm, "--algorithm");
  warnWeakDigest(algorithm, process.stderr);
  const concurrency = positiveInteger(flags.concurrency, "--concurrency", 256);
  const write = writeOptions(flags);
  if (flags.engine === "workflow") checkWorkflowFlags(command, flags);
  const srcFlags = sideFlags(flags, "src");
  const dstFlags = sideFlags(flags, "dst");
  const secret = await readSecret(flags.secretFile);
  await checkIndexFlags(flags);
  const sourceSide = await openStore("src", source, srcFlags);
  const destinationSide = await openStore("dst", destination, dstFlags, write);
  if (await mayOverlap(sourceSide.location, destinationSide.location))
    throw new SidesOverlapError("DST", src, dst);
  const indexContext = { chunkSize, algorithm, secret: flags.secretFile === undefined ? undefined : secret };
  await checkIndexLocations(flags, { source: sourceSide, destination: destinationSide }, indexContext);
  const report =
    flags.report === undefined
      ? undefined
      : await openReport(flags.report, {
          json: flags.json,
          inputs: [
            ["--secret-file", flags.secretFile],
            ["--src-sse-c-key-file", flags.srcSseCKeyFile],
            ["--dst-sse-c-key-file", flags.dstSseCKeyFile],
          ],
        });
  // Stops the listing of uploads left (see prepare) wherever the run ends without it.
  const uploadsListing = new AbortController();
  try {
    const started = await stoppableStart(
      () => prepare(),
      (exitCode) => {
        process.stderr.write("chunksync: interrupted before any object was compared; nothing was written\n");
        if (flags.json) {
          const none = new RunStats();
          const counted = interruptedCounts(none.objects, none.bytes, new FailureList());
          process.stdout.write(`${jsonText(jsonEnding(command, exitCode, counted))}\n`);
        }
      },
    );
    if ("exitCode" in started) return started.exitCode;
    return await runEngine(
      command,
      flags,
      {
        source: sourceSide.store,
        sourcePrefix: source.prefix,
        destination: destinationSide.store,
        destinationPrefix: destination.prefix,
        secret,
        algorithm,
        variant: flags.variant,
        chunkSize,
        verify: flags.verify,
        concurrency,
        serverSideCopy: flags.serverSideCopy && sameAccount(srcFlags, dstFlags),
        copyTags: flags.tags,
        blocks: flags.blocks,
        filters: flags.filters,
        ...(started.value.index ? { index: started.value.index } : {}),
        delete: flags.delete,
        dryRun: command !== "sync",
      },
      { source, destination },
      report,
      started.value.leftAhead,
    );
  } finally {
    uploadsListing.abort();
    await report?.file.close();
  }

  /**
   * The run's first requests: each side's probe, its index's location, a storage class's probe,
   * the uploads left under the destination.
   */
  async function prepare() {
    // A run that consults the indexes asks each side's versioning state before it lists.
    const consults = flags.index && !(command === "check" && flags.full === true);
    const probing = probeSides([
      ["src", sourceSide.store, source.prefix, srcFlags, consults],
      ["dst", destinationSide.store, destination.prefix, dstFlags, consults],
    ]);
    // The index locations are checked beside the probes (reads both), their errors told after.
    // The uploads other runs left under the destination, listed beside the probes: said once
    // the run ends, with no round trip of its own then.
    const leftAhead =
      command === "sync"
        ? leftUploadsAhead(destinationSide.store, destination, uploadsListing.signal)
        : undefined;
    const resolving = resolveIndexes(
      { ...flags, full: command === "check" && flags.full === true },
      { source: sourceSide, destination: destinationSide },
      indexContext,
    );
    resolving.catch(() => {});
    const [sourceListsAny, destinationListsAny] = await probing;
    // A source prefix that lists nothing is most often mistyped, and --delete would then empty
    // the destination; rclone refuses such a source ("directory not found") for the same reason.
    // `plan` (and `sync --dry-run`) shows what sync would do: it refuses alike.
    const deletes = flags.delete && (command === "sync" || command === "plan");
    if (deletes && source.prefix !== "" && !sourceListsAny && destinationListsAny)
      throw new EmptySourceError(src, dst);
    if (command === "sync" && flags.storageClass !== undefined)
      await probeStorageClass(destinationSide.store, destination.prefix, flags.storageClass);
    return { ...(await resolving), leftAhead };
  }
}

/** The `--report` file, open, and the path it was given as (for messages). */
interface OpenedReport {
  file: FileHandle;
  path: string;
}

/**
 * Opens the `--report` file before any storage request, so a path that cannot be written fails
 * at once, not after the whole run. Opened for appending: a previous report stays whole until
 * this run begins (after both sides answered their probes), then lines are written as objects settle.
 */
async function openReport(
  path: string,
  { json, inputs }: { json: boolean; inputs: [string, string | undefined][] },
): Promise<OpenedReport> {
  // Not aws-cli's "-" for standard output: a file of that name would be written beside the run.
  if (path === "-")
    throw new ValidationError(
      "--report",
      'a file path, got "-" (to write the report on standard output, name /dev/stdout)',
    );
  let file: FileHandle;
  try {
    file = await open(path, "a");
  } catch (error) {
    throw new ValidationError(
      "--report",
      `a file that can be written, got "${path}" (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  // A report written over a file the run reads (a key or the pairing secret: its only copy, it
  // may be) or into the one JSON document --json prints on stdout (a file or a pipe) ruins it.
  const clash = await clashingFile(file, json, inputs);
  if (clash !== undefined) {
    await file.close();
    throw new ValidationError("--report", `a file apart from ${clash}, got "${path}"`);
  }
  return { file, path };
}

/** The status of file descriptor `fd`, or undefined where it is closed. */
function fstatOrNone(fd: number) {
  try {
    return fstatSync(fd);
  } catch {
    return undefined;
  }
}

/** What of `inputs`, or of the standard output --json writes (`json`), is the file `report` opened. */
async function clashingFile(
  report: FileHandle,
  json: boolean,
  inputs: [string, string | undefined][],
): Promise<string | undefined> {
  const it = await report.stat();
  const same = (other: { dev: number; ino: number }) => other.dev === it.dev && other.ino === it.ino;
  for (const [flag, path] of inputs) {
    if (path === undefined) continue;
    const other = await stat(path).catch(() => undefined);
    if (other !== undefined && same(other)) return `the ${flag} it reads`;
  }
  // A terminal shows both; a file or a pipe would hold the report's lines in the JSON document.
  const stdout = json && !it.isCharacterDevice() ? fstatOrNone(1) : undefined;
  if (stdout !== undefined && same(stdout)) return "the standard output --json prints its document on";
  return undefined;
}

async function runEngine(
  command: "check" | "plan" | "sync",
  flags: RunFlags,
  options: Omit<SyncOptions, "signal" | "stats" | "onResult">,
  { source, destination }: { source: S3Location; destination: S3Location },
  opened: OpenedReport | undefined,
  leftAhead?: ReturnType<typeof leftUploadsAhead>,
): Promise<number> {
  const lines = opened && (await JsonLinesReport.begin(opened.file, opened.path));
  const stats = new RunStats();
  const failures = new FailureList();
  const progress = startProgress(stats, process.stderr, flags.quiet || flags.json);
  const outage = new OutageWatch(outageLimit(options.concurrency));
  const planned = noPlanned();
  /** Set where the run was stopped because its storage stopped answering (see OutageWatch). */
  let unanswered: { code: string; message: string } | undefined;
  /** `--json`'s one object for a stopped run: what was counted until then. */
  const interruptedJson = () => {
    const counted = interruptedCounts(stats.objects, stats.bytes, failures);
    return `${jsonText(jsonEnding(command, stop.exitCode, counted))}\n`;
  };
  // A second signal does not wait for the uploads begun to be aborted: it says what is left, and
  // keeps the lines of the objects settled so far.
  const stop = new SignalStop(
    (line) => progress.say(line),
    () => {
      progress.stop();
      lines?.flushNow();
      process.stderr.write(
        options.dryRun
          ? "chunksync: interrupted again\n"
          : "chunksync: interrupted again; uploads begun may be left unaborted (no object was half-written): see chunksync cleanup --help\n",
      );
      // Written at once (stdout is a file or a pipe, written synchronously on Linux, or a terminal).
      if (flags.json) process.stdout.write(interruptedJson());
    },
  );
  // By the server's clock, which the uploads' start times come from (the probes heard it).
  const begun = options.destination.serverTime() ?? Date.now();
  try {
    // The workflow engine (and the state machine runner it brings) loads only when asked for.
    const engine =
      flags.engine === "workflow" ? (await import("@chunksync/workflow")).syncWithWorkflow : runSync;
    const report = await engine({
      ...options,
      signal: stop.signal,
      stats,
      // A promise only while the report file writes a block: most objects settle at once.
      onResult: (r) => {
        progress.onResult(r);
        failures.add(r);
        addPlanned(planned, r);
        if (outage.add(r) && !stop.signal.aborted) {
          unanswered = {
            code: outage.last!.code,
            message: `${outage.inRow} objects in a row failed for want of an answer (the last: ${outage.last!.message}); stopped: run again once the storage answers`,
          };
          stop.abort();
        }
        return lines?.add(objectLine(r));
      },
    });
    progress.stop();
    const selected = { source: report.objects.scanned, destinationOnly: report.objects.extra };
    warnNoObjects(selected, source, destination, flags.filters, process.stderr);
    // Only a warning: a stop cuts its listing.
    if (!options.dryRun)
      await warnLeftUploads(
        options.destination,
        destination,
        flags,
        begun,
        process.stderr,
        stop.signal,
        leftAhead,
      );
    // A stop that came once every object had settled (as the index was written, or the uploads
    // left by other runs were listed) stopped nothing.
    if (stop.signal.aborted)
      process.stderr.write("chunksync: every object had settled when stopped: the run finished\n");
    if (flags.quiet && !flags.json) warnIndexNotWritten(report, process.stderr);
    // A report that could not be written at the end (a full disk) fails the run, but the run's
    // work is done: its summary is still said, with the error.
    let unwritten: ChunksyncError | undefined;
    try {
      await lines?.add(summaryLine(report));
      await lines?.flush();
    } catch (error) {
      unwritten = error as ChunksyncError;
    }
    const code = unwritten === undefined ? exitCodeOf(command, report) : EXIT_ERROR;
    if (unwritten !== undefined) process.stderr.write(`chunksync: error: ${unwritten.message}\n`);
    const summary = jsonSummary(command, report, code, failures);
    const error = unwritten && { error: { code: unwritten.code, message: unwritten.message } };
    if (flags.json) process.stdout.write(`${jsonText({ ...summary, ...error })}\n`);
    else if (!flags.quiet) process.stdout.write(textSummary(command, report));
    return code;
  } catch (error) {
    progress.stop();
    // The objects settled so far stay in the report; no summary line says the run did not finish.
    await lines?.flush().catch(() => {});
    if (unanswered !== undefined) {
      process.stderr.write(`chunksync: ${unanswered.message}\n`);
      if (flags.json)
        process.stdout.write(`${jsonText(jsonEnding(command, EXIT_ERROR, { error: unanswered }))}\n`);
      return EXIT_ERROR;
    }
    if (error instanceof RunAbortedError || stop.signal.aborted) {
      // A run that writes nothing (check, plan, sync --dry-run) began no upload.
      process.stderr.write(
        options.dryRun
          ? "chunksync: interrupted\n"
          : `chunksync: interrupted; ${await stoppedUploads(options.destination, destination, flags, begun)}\n`,
      );
      if (flags.json) process.stdout.write(interruptedJson());
      else if (!flags.quiet) {
        // What the run settled before it stopped, as the summary of a whole run says it.
        const settled = {
          startedAt: new Date(stats.startedAt),
          dryRun: options.dryRun,
          objects: stats.objects,
          bytes: stats.bytes,
          planned,
        };
        process.stdout.write(textSummary(command, buildReport(settled), failures));
      }
      return stop.exitCode;
    }
    throw error;
  } finally {
    stop.dispose();
  }
}

/** Options of what sync writes, and the engine (the workflow runs sync alone): hidden in check's and plan's help. */
const WRITE_ONLY = new Set([
  "--verify",
  "--storage-class",
  "--sse",
  "--sse-kms-key-id",
  "--sse-kms-context",
  "--engine",
]);

/** The command tree; exported so that tests can hold the README against its options. */
export function program(): Command {
  const root = new Command("chunksync")
    .description("Challenge-verified, chunk-level delta sync between S3-compatible buckets")
    .version(cliPackage.version, "--version", "print the version of chunksync")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .hook("preAction", (_root, command) => {
      // An error the command ends with is said in JSON too where it was asked for (see main),
      // its options' own refusals included.
      if (command.opts().json === true)
        // `sync --dry-run` is plan's run; cleanup's --dry-run is cleanup's own.
        root.setOptionValue(
          "jsonFor",
          command.name() === "sync" && command.opts().dryRun === true ? "plan" : command.name(),
        );
      refuseEmptyValues(command);
    });
  const describe = {
    check:
      "compare SRC and DST chunk by chunk (an unchanged object from the digest indexes; --full reads all); exit 0 identical, 1 differences, 2 error",
    plan: "dry run: what sync would move, and how many bytes",
    sync: "make DST hold SRC's objects, moving only the chunks that differ",
  } as const;
  for (const name of ["check", "plan", "sync"] as const) {
    const command = addRunOptions(
      root
        .command(name)
        .description(describe[name])
        .argument("<SRC>", "s3://bucket[/prefix] of the source")
        .argument("<DST>", "s3://bucket[/prefix] of the destination")
        .exitOverride(),
    );
    // What only a writing run uses is still taken (one set of flags serves check, plan and
    // sync in a user's scripts) but not shown where it changes nothing.
    if (name !== "sync") {
      for (const option of command.options as Option[])
        if (WRITE_ONLY.has(option.long ?? "")) option.hideHelp();
    }
    if (name === "check") {
      command.option(
        "--full",
        "read every object on both sides, not trusting the digest indexes (which it rebuilds)",
      );
    }
    // rclone's --dry-run and aws s3 sync's --dryrun: the same run, output and exit code as `plan`.
    if (name === "sync") {
      command
        .option("--dry-run", "write nothing: show what sync would move, as plan does")
        .addOption(new Option("--dryrun").hideHelp())
        .on("option:dryrun", () => command.setOptionValue("dryRun", true));
    }
    command
      .addHelpText("after", `${FILTER_HELP}${connectionHelp(["src-", "dst-"])}${examples(name)}`)
      .action(async (src: string, dst: string, flags: RunFlags) => {
        warnIneffectiveIncludes(flags.filters, process.stderr);
        warnTopLevelExclude(flags.filters, process.stderr);
        root.setOptionValue("exitCode", await run(flags.dryRun ? "plan" : name, src, dst, flags));
      });
  }
  addAuditCommands(root);
  addCleanupCommand(root);
  return root;
}

/**
 * An unexpected error with its stack: the first line ("Name: message") escaped, as it may quote a
 * key or a server's text; the frames, which name this program's own files, left on their lines.
 */
function unexpected(error: unknown): string {
  if (!(error instanceof Error)) return printable(String(error));
  const head = String(error);
  const stack = error.stack ?? head;
  return stack.startsWith(head) ? `${printable(head)}${stack.slice(head.length)}` : printable(stack);
}

/** Set when standard output or error failed with more than a closed reader (a full disk). */
let outputLost = false;

/**
 * A reader that stops early (`chunksync sync --help | head -1`) closes the pipe: Node then
 * raises EPIPE on the stream, which unhandled is a crash with a stack. What is left to print is dropped
 * and the run goes on to its end, as its work does not depend on being watched. Any other
 * failure to write there (ENOSPC: `2>>log` on a full disk) drops the rest of that stream's
 * output the same way, but the run then ends with exit code 2: what it printed is incomplete,
 * and a 0 or a 1 (check's "differences") would say the run was whole. Before, it was thrown
 * from the write: a crash with a stack and exit 1, uploads left behind.
 */
function dropOutputToClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount("error") > 0) continue;
    // A terminal that hung up fails writes with EIO: the run goes on stopping (see SignalStop).
    const gone = stream.isTTY ? ["EPIPE", "EIO"] : ["EPIPE"];
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (gone.includes(error.code ?? "") || outputLost) return;
      outputLost = true;
      // Set as the process ends: the last write's error comes after main has returned its code.
      process.once("exit", (code) => {
        if (code < EXIT_ERROR) process.exitCode = EXIT_ERROR;
      });
      // Said on stderr only: stdout may be --json's one document.
      if (stream === process.stdout)
        process.stderr.write(
          `chunksync: error: cannot write to standard output (${printable(error.message)}): the rest of its output is dropped, the run goes on, and it ends with exit code ${EXIT_ERROR}\n`,
        );
    });
  }
}

/**
 * The command whose ending is said in JSON, read from the words as typed, where its options were
 * never parsed: the command named first, with --json among its words (not after `--`).
 */
function typedJsonCommand(root: Command, argv: string[]): string | undefined {
  const [name] = argv;
  const end = argv.indexOf("--");
  const words = end === -1 ? argv : argv.slice(0, end);
  if (name === undefined || !root.commands.some((c) => c.name() === name) || !words.includes("--json"))
    return undefined;
  return name === "sync" && words.includes("--dry-run") ? "plan" : name;
}

/** Runs the CLI and returns its exit code; errors are printed, never thrown. */
export async function main(argv: string[]): Promise<number> {
  dropOutputToClosedPipes();
  closeLostTerminals();
  const code = await runCommandLine(argv);
  endIfHungUp();
  endAs(code);
  return code;
}

async function runCommandLine(argv: string[]): Promise<number> {
  const root = program();
  try {
    await root.parseAsync(argv, { from: "user" });
    return (root.getOptionValue("exitCode") as number | undefined) ?? 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0;
      // A refused command line (said on stderr already) is said in JSON too where --json was given.
      const command = typedJsonCommand(root, argv);
      if (command !== undefined) {
        const told = { code: "VALIDATION_FAILED", message: error.message.replace(/^error: /, "") };
        process.stdout.write(`${jsonText(jsonEnding(command, EXIT_ERROR, { error: told }))}\n`);
      }
      return EXIT_ERROR;
    }
    const known =
      error instanceof ValidationError || error instanceof StorageError || error instanceof ChunksyncError;
    const message = known ? printable(error.message) : `unexpected error: ${unexpected(error)}`;
    process.stderr.write(`chunksync: error: ${message}\n`);
    // An option refused as it was parsed (--profile for --src-profile) comes before preAction.
    const command = (root.getOptionValue("jsonFor") as string | undefined) ?? typedJsonCommand(root, argv);
    if (command !== undefined) {
      const told = known
        ? { code: error.code, message: error.message }
        : { code: "UNEXPECTED", message: String(error) };
      process.stdout.write(`${jsonText(jsonEnding(command, EXIT_ERROR, { error: told }))}\n`);
    }
    return EXIT_ERROR;
  }
}
