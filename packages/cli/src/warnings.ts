import { type DigestAlgorithm, directoryPrefix, wholeSecond } from "@chunksync/core";
import type { ObjectStore, PendingUpload } from "@chunksync/storage";
import {
  describeError,
  ineffectiveIncludes,
  isNotWrittenNote,
  type KeyRule,
  type RunReport,
} from "@chunksync/sync";
import { locationText, type S3Location } from "./parseS3Url.js";
import { printable } from "./printable.js";

/** Before a run: an --include that no --exclude precedes selects nothing more than the default. */
export function warnIneffectiveIncludes(filters: readonly KeyRule[], out: NodeJS.WritableStream): void {
  for (const glob of ineffectiveIncludes(filters)) {
    out.write(
      `chunksync: warning: --include '${glob}' comes before any --exclude, so it changes nothing ` +
        `(every key is selected by default); to select only these keys, put --exclude '**' before it\n`,
    );
  }
}

/**
 * Before a run: `--exclude '*'` is how `aws s3 sync` leaves out every key, but its `*` crosses
 * "/" and ours does not, so here it leaves out top-level keys only and every nested key
 * stays selected (and, with --delete, its destination-only copies deleted).
 */
export function warnTopLevelExclude(filters: readonly KeyRule[], out: NodeJS.WritableStream): void {
  if (!filters.some((r) => r.kind === "exclude" && r.glob === "*")) return;
  out.write(
    "chunksync: warning: --exclude '*' leaves out top-level keys only (* stops at /, unlike in aws s3 sync); " +
      "write --exclude '**' to leave out every key\n",
  );
}

/**
 * Before a run: a chunk digest that is a checksum, not a cryptographic digest, lets a changed
 * chunk pass as identical: by chance once in 2^32 changed chunks, and whenever an edit is made
 * to keep the checksum (CRC-32C is linear: a few bytes set it to any value).
 */
export function warnWeakDigest(algorithm: DigestAlgorithm, out: NodeJS.WritableStream): void {
  if (algorithm !== "crc32c") return;
  out.write(
    "chunksync: warning: --algorithm crc32c is a 32-bit checksum, not a cryptographic digest: about one changed " +
      "chunk in 4 billion keeps its CRC-32C by chance, and an edit can be made to keep it, so such a chunk is " +
      "called identical and not copied; use sha256 (the default) for data you must be able to trust\n",
  );
}

/**
 * After a run printed with --quiet, whose summary and its index notes are not printed: a side's
 * index that could not be written costs every later run a read of every object, so it is said.
 */
export function warnIndexNotWritten(report: RunReport, out: NodeJS.WritableStream): void {
  for (const [side, index] of [
    ["source", report.index?.source],
    ["destination", report.index?.destination],
  ] as const) {
    for (const note of index?.notes ?? [])
      if (isNotWrittenNote(note))
        out.write(`chunksync: warning: ${side} index at ${printable(index!.location)}: ${printable(note)}\n`);
  }
}

let toldCredentialSources = false;

/**
 * Once a run: a side that names no profile while both AWS_PROFILE and keys in the environment
 * are set takes the profile, as the AWS SDK does (which says so in a block of its own, silenced).
 */
export function warnCredentialSources(namedProfile: string | undefined, out: NodeJS.WritableStream): void {
  const env = process.env;
  if (toldCredentialSources || namedProfile || !env.AWS_PROFILE) return;
  if (!env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) return;
  toldCredentialSources = true;
  out.write(
    `chunksync: warning: both AWS_PROFILE and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are set: a side whose profile no flag names ` +
      `takes profile "${printable(env.AWS_PROFILE)}", as the AWS SDK does, not the keys\n`,
  );
}

/** The objects a run (sync, check, plan, audit) selected: on the source, and on the destination alone. */
export interface Selected {
  source: number;
  destinationOnly: number;
}

/**
 * After a run: no side had a selected object, or the source none while the destination has
 * some, which is almost always a wrong prefix or filter rather than an empty bucket pair (and
 * an audit of nothing exits 0, having proved nothing). On stderr, so `--json` stdout stays one
 * document. Without a `destination`, of the one side a scrub reads.
 */
export function warnNoObjects(
  selected: Selected,
  source: S3Location,
  destination: S3Location | undefined,
  filters: readonly KeyRule[],
  out: NodeJS.WritableStream,
): void {
  if (selected.source > 0) return;
  const { destinationOnly } = selected;
  // The sides that selected nothing: the source, and the destination too where it has none.
  const empty = destinationOnly === 0 && destination ? [source, destination] : [source];
  const where = empty
    .map((l, i) => `${locationText(l)}${destination ? ` (${i === 0 ? "source" : "destination"})` : ""}`)
    .join(" or ");
  const prefixes = empty.some((l) => l.prefix !== "" && !l.prefix.endsWith("/"))
    ? "; a prefix names a directory (s3://b/photos reads photos/...)"
    : "";
  const matching = filters.length > 0 ? " matches the filters" : "";
  const rest =
    destinationOnly === 0
      ? ""
      : `, while ${destinationOnly} under ${locationText(destination!)} (destination) ${destinationOnly === 1 ? "is" : "are"} there alone`;
  out.write(`chunksync: warning: no object under ${where}${matching}${rest}${prefixes}\n`);
}

/** Uploads counted at most by {@link warnLeftUploads}: past this, "or more". */
const LEFT_UPLOADS_COUNTED = 1000;

/**
 * How many multipart uploads under the destination prefix started in the time `started` takes
 * (by the server's clock, whole seconds), and never ended; the listing's error where the store
 * could not list them.
 */
async function leftUploads(
  store: Pick<ObjectStore, "listUploads">,
  destination: S3Location,
  started: (time: number, upload: PendingUpload) => boolean,
  signal?: AbortSignal,
): Promise<{ count: string; left: number } | { error: unknown }> {
  let left = 0;
  try {
    for await (const upload of store.listUploads(directoryPrefix(destination.prefix), signal)) {
      if (upload.initiated !== undefined && started(upload.initiated.getTime(), upload)) left++;
      if (left >= LEFT_UPLOADS_COUNTED) break;
    }
  } catch (error) {
    return { error };
  }
  return { count: left >= LEFT_UPLOADS_COUNTED ? `${left} or more` : String(left), left };
}

/** The `chunksync cleanup` command line for the destination as the run reached it, with `bounds`. */
function cleanupCommand(destination: S3Location, side: DestinationFlags, bounds: string): string {
  return [
    "chunksync cleanup",
    shellWord(locationText(destination)),
    ...Object.entries({
      "--dst-profile": side.dstProfile,
      "--dst-endpoint": side.dstEndpoint,
      "--dst-region": side.dstRegion,
      "--dst-account-id": side.dstAccountId,
    })
      .filter(([, value]) => value !== undefined)
      .map(([flag, value]) => `${flag} ${shellWord(value!)}`),
    bounds,
  ].join(" ");
}

/** What {@link uploadsBefore} found, and the run's first second it counted from; or the listing's error. */
type LeftBefore = { count: string; left: number; unsure: number; second: number } | { error: unknown };

/**
 * Uploads under the destination prefix begun before the run's second (that of `before()`, the
 * server's time as the run began, read once the listing's first page came) and never ended, and
 * those of that second not in `ours` (see {@link warnLeftUploads}).
 */
async function uploadsBefore(
  store: Pick<ObjectStore, "listUploads">,
  destination: S3Location,
  before: () => number,
  ours: ReadonlySet<string>,
  signal?: AbortSignal,
): Promise<LeftBefore> {
  // Servers may state an upload's start to the second, so one stated in the run's first second
  // may have begun after the run, another writer's: counted apart, where it is not this run's.
  let second: number | undefined;
  let unsure = 0;
  const found = await leftUploads(
    store,
    destination,
    (time, upload) => {
      second ??= wholeSecond(before());
      if (time >= second && time < second + 1000 && !ours.has(upload.uploadId)) unsure++;
      return time < second;
    },
    signal,
  );
  return "error" in found ? found : { ...found, unsure, second: second ?? wholeSecond(before()) };
}

/**
 * The listing {@link warnLeftUploads} needs, asked for with a sync's first requests (beside the
 * probes of its sides), so that the warning costs the run no round trip at its end. The run's
 * start it counts from is the server's time as it was answered. It stands only where the store
 * had sent no CreateMultipartUpload by then (none of the run's own uploads can be in it); else it
 * resolves to undefined, and the uploads are listed again after the run.
 */
export async function leftUploadsAhead(
  store: Pick<ObjectStore, "listUploads" | "uploadsCreated" | "serverTime">,
  destination: S3Location,
  signal?: AbortSignal,
): Promise<LeftBefore | undefined> {
  if (store.uploadsCreated === undefined) return undefined;
  const now = () => store.serverTime() ?? Date.now();
  const found = await uploadsBefore(store, destination, now, new Set(), signal);
  return store.uploadsCreated() === 0 ? found : undefined;
}

/**
 * After a sync: multipart uploads under the destination prefix that began before the run
 * (`before`, by the server's clock) and were never completed or aborted. chunksync aborts its
 * own on every failure it survives and when stopped; a run killed outright leaves its own behind,
 * which the next run should say, with the cleanup that aborts those and no newer one. Those
 * stated in the run's first second that it did not begin (a restart within the second of a kill)
 * are said apart, with a cleanup that lists them. Nothing is said where the store may not list
 * uploads, nor once `signal` stopped the run. `ahead` is the listing {@link leftUploadsAhead}
 * made as the run began, where it stands.
 */
export async function warnLeftUploads(
  store: Pick<ObjectStore, "listUploads" | "begunUploads">,
  destination: S3Location,
  side: DestinationFlags,
  before: number,
  out: NodeJS.WritableStream,
  signal?: AbortSignal,
  ahead?: Promise<LeftBefore | undefined>,
): Promise<void> {
  const listed = await ahead;
  if (signal?.aborted) return;
  const found =
    listed ??
    (await uploadsBefore(
      store,
      destination,
      () => before,
      new Set((store.begunUploads?.() ?? []).map((u) => u.uploadId)),
      signal,
    ));
  if ("error" in found) return;
  const { second } = found;
  // As it can be pasted, now or later: a bound no upload begun since passes.
  const at = (time: number) =>
    `--older-than 0s --started-before ${new Date(time).toISOString().replace(".000Z", "Z")}`;
  const under = `under ${locationText(destination)}`;
  if (found.left > 0)
    out.write(
      `chunksync: warning: ${found.count} multipart upload${found.left === 1 ? "" : "s"} ${under} ` +
        "began before this run and never ended (a run killed outright leaves its own): " +
        `${cleanupCommand(destination, side, at(second))} aborts them, unless another writer is still uploading\n`,
    );
  // A run killed just before this one began (a restart within the second) leaves these.
  if (found.unsure > 0)
    out.write(
      `chunksync: warning: ${found.unsure} multipart upload${found.unsure === 1 ? "" : "s"} ${under} that this run did not begin ` +
        "began in the second it started (a run killed just before it, or another writer): " +
        `${cleanupCommand(destination, side, at(second + 1000))} --dry-run lists them\n`,
    );
}

/**
 * After a stopped sync, which aborted the uploads it began: what is said of them, checked by
 * listing the uploads under the destination prefix begun since the run started (`begun`). An
 * abort the server refused or never answered leaves its upload; so may another writer's.
 */
export async function stoppedUploads(
  store: Pick<ObjectStore, "listUploads" | "begunUploads">,
  destination: S3Location,
  side: DestinationFlags,
  begun: number,
): Promise<string> {
  const found = await leftUploads(store, destination, (time) => time >= wholeSecond(begun));
  const cleanup = cleanupCommand(destination, side, "--older-than 0s");
  if ("error" in found) {
    // What this run began and never saw end is known without the server: named.
    const open = store.begunUploads?.() ?? [];
    const named =
      open.length === 0
        ? ""
        : `; this run began ${open.length} it never saw completed or aborted: ${open
            .slice(0, 5)
            .map((u) => `${printable(u.key)} (upload ${printable(u.uploadId)})`)
            .join(", ")}${open.length > 5 ? ", …" : ""}`;
    return `uploads begun could not be listed to check they were aborted (${printable(describeError(found.error).message)})${named}: once the storage answers, ${cleanup} --dry-run lists what is left`;
  }
  if (found.left === 0) return "started uploads were aborted, no object was half-written";
  return (
    `${found.count} multipart upload${found.left === 1 ? "" : "s"} begun since the run started ${found.left === 1 ? "is" : "are"} left (an abort failed, or another writer's), no object was half-written: ` +
    `${cleanup} aborts them once no other writer is uploading there`
  );
}

/** How the destination was reached: the flags a command given to the user must repeat. */
export interface DestinationFlags {
  dstProfile?: string | undefined;
  dstEndpoint?: string | undefined;
  dstRegion?: string | undefined;
  dstAccountId?: string | undefined;
}

/** `text` as one word of a POSIX shell command line. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}
