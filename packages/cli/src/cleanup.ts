import { directoryPrefix, jsonText, ValidationError } from "@chunksync/core";
import type { PendingUpload } from "@chunksync/storage";
import { describeError, type FailureDescription, RunAbortedError } from "@chunksync/sync";
import { type Command, Option } from "commander";
import { examples } from "./examples.js";
import { EXIT_ERROR, EXIT_OK } from "./exitCodes.js";
import { interruptedExitCode, interruptible } from "./interruptible.js";
import { addOptionPointers } from "./optionPointers.js";
import { locationText, parseS3Url } from "./parseS3Url.js";
import { printable } from "./printable.js";
import { connectionHelp, openStore, type SideFlags, sideError } from "./sideSettings.js";

interface CleanupFlags {
  dstProfile?: string;
  dstEndpoint?: string;
  dstRegion?: string;
  dstAccountId?: string;
  olderThan: string;
  startedBefore?: string;
  dryRun: boolean;
  json: boolean;
}

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** An ISO 8601 time with its zone: date, hours and minutes, then seconds and their fraction if given. */
const ISO_TIME = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)$/i;

/** Whether the fields of a time name one that exists (JavaScript rolls 2026-02-30 over to 2026-03-02). */
function calendarTime([y, mo, d, h, mi, s = "0"]: string[]): boolean {
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  return (
    day.getUTCFullYear() === Number(y) &&
    day.getUTCMonth() === Number(mo) - 1 &&
    day.getUTCDate() === Number(d) &&
    Number(h) < 24 &&
    Number(mi) < 60 &&
    Number(s) < 60
  );
}

/** An ISO 8601 time with its zone ("2026-12-05T12:26:03Z") -> ms since the epoch. */
export function parseTime(text: string, flag: string): number {
  const fields = ISO_TIME.exec(text.trim());
  const ms = fields && calendarTime(fields.slice(1)) ? Date.parse(text.trim()) : Number.NaN;
  if (Number.isNaN(ms))
    throw new ValidationError(
      flag,
      `an ISO 8601 time with its zone such as 2026-12-05T12:26:03Z, got "${text}"`,
    );
  return ms;
}

/** "90s", "15m", "1h", "2d", "0s" (or a bare "0") -> milliseconds. */
export function parseAge(text: string, flag: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  const unit = match?.[2] as keyof typeof UNIT_MS | undefined;
  if (!match || (unit === undefined && match[1] !== "0")) {
    throw new ValidationError(flag, `an age such as 0s, 90s, 15m, 1h or 2d, got "${text}"`);
  }
  return Number(match[1]) * UNIT_MS[unit ?? "ms"];
}

const HELP = `
Which uploads are chunksync's: S3 lists in-progress multipart uploads without
their metadata, and metadata given to CreateMultipartUpload ends up on the
finished object (where it would differ from the source's), so chunksync marks
nothing. cleanup therefore treats every in-progress upload under DST that was
started more than --older-than ago as abandoned, whoever started it. chunksync
aborts its own uploads on every failure it survives and when stopped (Ctrl-C,
SIGTERM, a hangup); only a killed process (or a second signal) leaves one behind, which
the next sync names, with a cleanup whose --started-before is that sync's start,
so that it aborts no upload begun since. Ages and times are by the server's clock. Keep --older-than above the longest upload any other writer
of this prefix runs, chunksync included (the default is 1h: raise it for huge
objects on slow links); use --dry-run to see the list first.
`;

/** An upload as a line names it: key and id escaped, with its start. */
function named(upload: PendingUpload): string {
  return `${printable(upload.key)} (upload ${printable(upload.uploadId)}, started ${upload.initiated?.toISOString() ?? "?"})`;
}

/** Registers `chunksync cleanup DST`: lists and aborts abandoned multipart uploads. */
export function addCleanupCommand(root: Command): void {
  addOptionPointers(
    root
      .command("cleanup")
      .description("abort multipart uploads under DST left behind by a killed run (see --help)")
      .argument("<DST>", "s3://bucket[/prefix] of the destination"),
    ["dst"],
  )
    .option(
      "--dst-profile <name>",
      "AWS shared config profile of the destination (its endpoint_url is honoured)",
    )
    .option("--dst-endpoint <url>", "S3 endpoint of the destination (MinIO, Ceph RGW, ...)")
    .option("--dst-region <region>", "region of the destination bucket")
    .option("--dst-account-id <id>", "expected owner account of the destination bucket")
    .addOption(
      new Option("--older-than <age>", "abort only uploads started longer ago than this (0s: all)").default(
        "1h",
      ),
    )
    .option(
      "--started-before <time>",
      "abort only uploads started before this time (ISO 8601, by the server's clock), as well as older than --older-than",
    )
    .option("--dry-run", "list what would be aborted, abort nothing", false)
    .option("--json", "print one JSON summary on stdout", false)
    .addHelpText("after", `${HELP}${connectionHelp(["dst-"])}${examples("cleanup")}`)
    .exitOverride()
    .action(async (dst: string, flags: CleanupFlags) => {
      root.setOptionValue(
        "exitCode",
        await interruptible((signal) => cleanup(dst, flags, signal), {
          stopped: "no upload was aborted",
          again: "uploads not yet aborted are left: run cleanup again",
          ...(flags.json ? { json: "cleanup" } : {}),
        }),
      );
    });
}

async function cleanup(dst: string, flags: CleanupFlags, signal: AbortSignal): Promise<number> {
  const location = parseS3Url(dst, "DST");
  const olderThanMs = parseAge(flags.olderThan, "--older-than");
  const startedBefore =
    flags.startedBefore === undefined ? undefined : parseTime(flags.startedBefore, "--started-before");
  const side: SideFlags = {
    ...(flags.dstProfile !== undefined ? { profile: flags.dstProfile } : {}),
    ...(flags.dstEndpoint !== undefined ? { endpoint: flags.dstEndpoint } : {}),
    ...(flags.dstRegion !== undefined ? { region: flags.dstRegion } : {}),
    ...(flags.dstAccountId !== undefined ? { accountId: flags.dstAccountId } : {}),
  };
  const { store } = await openStore("dst", location, side);
  const prefix = directoryPrefix(location.prefix);
  const aborted: PendingUpload[] = [];
  const kept: PendingUpload[] = [];
  /** Old enough, but gone when its abort came: its own process completed or aborted it meanwhile. */
  const gone: PendingUpload[] = [];
  /** Old enough, but the server refused or failed its abort: the others are still tried. */
  const failed: (PendingUpload & FailureDescription)[] = [];
  /** Old enough, but not aborted: Ctrl-C came first. */
  const left: PendingUpload[] = [];
  // Listed in full first: aborting while paging would move the listing's markers.
  const pending: PendingUpload[] = [];
  try {
    for await (const upload of store.listUploads(prefix, signal)) pending.push(upload);
  } catch (error) {
    // Its first request: a wrong bucket or credential is told as a sync's would be.
    throw sideError("dst", side, error);
  }
  if (signal.aborted) throw new RunAbortedError();
  // Ages by the server's clock, which stamped the start times: this machine's may be off.
  const cutoff = (store.serverTime() ?? Date.now()) - olderThanMs;
  const verb = flags.dryRun ? "would abort" : "aborted";
  for (const upload of pending) {
    // An upload without a start time is only taken when every age is (0s).
    const started = upload.initiated?.getTime();
    const old =
      (olderThanMs === 0 || (started !== undefined && started <= cutoff)) &&
      (startedBefore === undefined || (started !== undefined && started < startedBefore));
    if (!old) kept.push(upload);
    else if (signal.aborted) left.push(upload);
    else {
      let done: boolean;
      try {
        done = flags.dryRun || (await store.abortUpload(upload.key, upload.uploadId));
      } catch (error) {
        const failure = describeError(error);
        failed.push({ ...upload, ...failure });
        if (!flags.json)
          process.stdout.write(`failed ${named(upload)}: ${printable(failure.message)} (${failure.code})\n`);
        continue;
      }
      (done ? aborted : gone).push(upload);
      // Said as it is done, so that a run cut short (a second Ctrl-C) has said what it aborted.
      if (!flags.json)
        process.stdout.write(
          `${done ? verb : "gone"} ${named(upload)}${done ? "" : ": completed or aborted by another meanwhile"}\n`,
        );
    }
  }
  const describe = (u: PendingUpload) => ({
    key: u.key,
    uploadId: u.uploadId,
    ...(u.initiated ? { initiated: u.initiated.toISOString() } : {}),
  });
  const exitCode = signal.aborted ? interruptedExitCode(signal) : failed.length > 0 ? EXIT_ERROR : EXIT_OK;
  if (flags.json) {
    process.stdout.write(
      `${jsonText({
        command: "cleanup",
        exitCode,
        dryRun: flags.dryRun,
        olderThanMs,
        ...(startedBefore !== undefined ? { startedBefore: new Date(startedBefore).toISOString() } : {}),
        interrupted: signal.aborted,
        // A dry run aborted none: what it would abort has its own name, lest a script count it.
        [flags.dryRun ? "wouldAbort" : "aborted"]: aborted.map(describe),
        kept: kept.map(describe),
        gone: gone.map(describe),
        failed: failed.map((f) => ({ ...describe(f), code: f.code, message: f.message })),
        left: left.map(describe),
      })}\n`,
    );
  } else {
    process.stdout.write(
      `cleanup ${locationText(location)}: ${verb} ${aborted.length}, kept ${kept.length} younger than ${flags.olderThan}` +
        `${startedBefore !== undefined ? ` or started from ${new Date(startedBefore).toISOString()}` : ""}` +
        `${gone.length > 0 ? `, ${gone.length} gone meanwhile` : ""}${failed.length > 0 ? `, ${failed.length} failed` : ""}` +
        `${signal.aborted ? `, left ${left.length} (interrupted)` : ""}\n`,
    );
  }
  if (signal.aborted)
    process.stderr.write(
      `chunksync: interrupted; ${verb} ${aborted.length}, left ${left.length} old enough to abort: run cleanup again\n`,
    );
  return exitCode;
}
