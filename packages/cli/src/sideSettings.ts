import { readFile } from "node:fs/promises";
import {
  ChunkPlanError,
  ChunksyncError,
  directoryPrefix,
  drawPairingSecret,
  parseByteSize,
  parsePairingSecret,
  planChunks,
  type SideLocation,
  storageOf,
  ValidationError,
} from "@chunksync/core";
import {
  ProfileNotFoundError,
  RequestRefusedError,
  S3Connection,
  S3ObjectStore,
  StorageError,
  type WriteOptions,
} from "@chunksync/storage";
import { readAtMost } from "@chunksync/sync";
import type { Command } from "commander";
import type { S3Location } from "./parseS3Url.js";
import { warnCredentialSources } from "./warnings.js";

/** One side's connection flags, as given on the command line. */
export interface SideFlags {
  profile?: string;
  endpoint?: string;
  region?: string;
  accountId?: string;
  sseCKeyFile?: string;
}

/** Reads a 32-byte SSE-C key file (raw, hex or base64). */
async function readSseCustomerKey(path: string, flag: string): Promise<Buffer> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (error) {
    throw new ValidationError(flag, `a readable file with a 32-byte SSE-C key (${(error as Error).message})`);
  }
  if (raw.length === 32) return raw;
  const text = raw.toString("utf8").trim();
  for (const candidate of [Buffer.from(text, "hex"), Buffer.from(text, "base64")]) {
    if (candidate.length === 32) return candidate;
  }
  throw new ValidationError(
    flag,
    `a 32-byte SSE-C key, raw or as hex or base64, got ${raw.length} bytes that are none of them`,
  );
}

/** A side of a two-sided command (`src`, `dst`), or "" for a command on one side alone (its flags have no prefix). */
export type SideTag = "src" | "dst" | "";

const SIDE_NAME = { src: "source", dst: "destination", "": "URL" } as const;

/** The flag `name` of `side`: `--src-profile`, or `--profile` on a one-side command. */
export function sideFlag(side: SideTag, name: string): string {
  return side === "" ? `--${name}` : `--${side}-${name}`;
}

/** Adds each side's connection flags to `command`. */
export function addSideOptions(command: Command, sides: readonly SideTag[]): Command {
  for (const side of sides) {
    const name = side === "src" ? "the source" : side === "dst" ? "the destination" : "the";
    command
      .option(
        `${sideFlag(side, "profile")} <name>`,
        `AWS shared config profile of ${name} bucket (its endpoint_url is honoured)`,
      )
      .option(`${sideFlag(side, "endpoint")} <url>`, `S3 endpoint of ${name} bucket (MinIO, Ceph RGW, ...)`)
      .option(`${sideFlag(side, "region")} <region>`, `region of ${name} bucket`)
      .option(`${sideFlag(side, "account-id")} <id>`, `expected owner account of ${name} bucket`)
      .option(
        `${sideFlag(side, "sse-c-key-file")} <path>`,
        `SSE-C key (32 bytes) of ${name} bucket's objects`,
      );
  }
  return command;
}

/** One side's connection flags out of commander's parsed flags (`srcProfile`, or `profile` for ""). */
export function sideFlags(flags: object, side: SideTag): SideFlags {
  const pick = (k: string) =>
    (flags as Record<string, unknown>)[side === "" ? k[0]!.toLowerCase() + k.slice(1) : `${side}${k}`] as
      | string
      | undefined;
  const out: SideFlags = {};
  for (const [field, key] of [
    ["profile", "Profile"],
    ["endpoint", "Endpoint"],
    ["region", "Region"],
    ["accountId", "AccountId"],
    ["sseCKeyFile", "SseCKeyFile"],
  ] as const) {
    const v = pick(key);
    if (v !== undefined) out[field] = v;
  }
  return out;
}

/** A whole number from 1 to `max` given as `flag`. */
export function positiveInteger(text: string, flag: string, max: number): number {
  // Digits only: Number() also reads "0x10", "1e2", "8.0" and " 8" as whole numbers.
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new ValidationError(flag, `a whole number from 1 to ${max}, got "${text}"`);
  return n;
}

/** `--chunk-size` held to S3's part size limits, the error naming the flag. */
export function chunkSizeFlag(text: string): number {
  const size = parseByteSize(text, "--chunk-size");
  try {
    planChunks(0, size);
  } catch (error) {
    if (!(error instanceof ChunkPlanError)) throw error;
    throw new ChunkPlanError(error.code, `--chunk-size: ${error.message}`, { details: error.details });
  }
  return size;
}

/** Far above a secret's text (1,024 bytes as wrapped hex), and a bound on what a wrong path reads (`/dev/zero`). */
const SECRET_FILE_MAX_BYTES = 16 * 1024;

/** The pairing secret from `--secret-file`, or one drawn for this run. */
export async function readSecret(path: string | undefined): Promise<Buffer> {
  if (path === undefined) return drawPairingSecret();
  let data: Buffer;
  try {
    data = await readAtMost(path, SECRET_FILE_MAX_BYTES + 1);
  } catch (error) {
    throw new ValidationError("--secret-file", `a readable file (${(error as Error).message})`);
  }
  if (data.length > SECRET_FILE_MAX_BYTES)
    throw new ValidationError(
      "--secret-file",
      `a file of at most ${SECRET_FILE_MAX_BYTES / 1024} KiB holding a pairing secret`,
    );
  return parsePairingSecret(data.toString("utf8").trim(), "--secret-file");
}

/** One side's store, and where its bucket lives (for the overlap check). */
export interface OpenedSide {
  store: S3ObjectStore;
  location: SideLocation;
  /**
   * A store of another bucket reached as this side (its client, owner, encryption and SSE-C key),
   * writing in the bucket's default storage class: its index's.
   */
  storeOf(bucket: string): S3ObjectStore;
}

/**
 * Whether `text` is an endpoint requests can go to: HTTP(S), a host, and no path, query or
 * fragment. A URL parses with any scheme (`localhost:9000` is scheme `localhost:`), and requests
 * go to /bucket/key on the host: a path would be dropped, and every bucket "not found".
 */
function isEndpoint(text: string): boolean {
  try {
    const url = new URL(text);
    // Credentials in the URL are not sent (the side signs with its own), and port 0 is no port.
    const bare = !url.username && !url.password && url.port !== "0";
    return (
      ["http:", "https:"].includes(url.protocol) && url.pathname === "/" && !url.search && !url.hash && bare
    );
  } catch {
    return false;
  }
}

/** A region names a host component and the signature's scope: letters, digits, - and _. */
const REGION = /^[A-Za-z0-9_-]+$/;

/** `text` as an endpoint error quotes it: a password in it is not repeated. */
function quotedEndpoint(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, "$1:***@");
}

const ENDPOINT = "a URL such as http://127.0.0.1:9000 (scheme, host and port; no path, no user)";

/**
 * What each side connects with where no flag says, for the help of a command whose sides' flags
 * start with `prefixes` ("src-", "dst-", or "" for the one side of scrub).
 */
export function connectionHelp(prefixes: readonly string[]): string {
  const flag = (name: string) => prefixes.map((p) => `--${p}${name}`).join("/");
  const text = [
    prefixes.length > 1 ? "Each side connects on its own." : "",
    `Credentials: ${flag("profile")}, else AWS_PROFILE's profile, else the AWS chain`,
    "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the default profile, SSO, the instance role).",
    `Endpoint: ${flag("endpoint")}, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else the`,
    "profile's endpoint_url (scheme, host and port), else AWS.",
    `Region: ${flag("region")}, else a named profile's, else AWS_REGION, else (no profile named)`,
    "AWS_PROFILE's or the default profile's, else us-east-1.",
  ];
  // Filled to 80 columns, as the help around it.
  const lines = [""];
  for (const word of text.join(" ").split(/\s+/).filter(Boolean)) {
    const last = lines.length - 1;
    if (lines[last] !== "" && lines[last]!.length + 1 + word.length > 80) lines.push(word);
    else lines[last] = lines[last] === "" ? word : `${lines[last]} ${word}`;
  }
  return `\n${lines.join("\n")}\n`;
}

/** The connections this process opened (see {@link stopWaiting}). */
const opened = new Set<S3Connection>();

/**
 * Cuts every request this process still waits for, on every side it opened, and sends no
 * more (see S3Connection.cutOff): the end of a stop whose storage no longer answers.
 */
export function stopWaiting(reason: Error): void {
  for (const connection of opened) connection.cutOff(reason);
}

/** Builds one side's store: its own client, endpoint, region and credentials. Sends no request. */
export async function openStore(
  side: SideTag,
  location: S3Location,
  flags: SideFlags,
  write: WriteOptions = {},
): Promise<OpenedSide> {
  // Anything else failed at the first request, naming no flag.
  if (flags.endpoint !== undefined && !isEndpoint(flags.endpoint)) {
    throw new ValidationError(
      sideFlag(side, "endpoint"),
      `${ENDPOINT}, got "${quotedEndpoint(flags.endpoint)}"`,
    );
  }
  if (flags.region !== undefined && !REGION.test(flags.region)) {
    throw new ValidationError(sideFlag(side, "region"), `a region such as eu-west-1, got "${flags.region}"`);
  }
  if (flags.accountId !== undefined && !/^\d{12}$/.test(flags.accountId)) {
    throw new ValidationError(
      sideFlag(side, "account-id"),
      `a 12-digit account ID, got "${flags.accountId}"`,
    );
  }
  warnCredentialSources(flags.profile, process.stderr);
  let connection: S3Connection;
  try {
    connection = await S3Connection.open({
      ...(flags.profile ? { profile: flags.profile } : {}),
      ...(flags.endpoint ? { endpoint: flags.endpoint } : {}),
      ...(flags.region ? { region: flags.region } : {}),
    });
  } catch (error) {
    if (!(error instanceof ProfileNotFoundError)) throw error;
    throw new ChunksyncError(
      error.code,
      `${SIDE_NAME[side]} (${error.fromEnvironment ? "AWS_PROFILE" : sideFlag(side, "profile")}): ${error.message}`,
      {
        cause: error,
        details: { side: SIDE_NAME[side] },
      },
    );
  }
  opened.add(connection);
  // A region from AWS_REGION or a profile is the same setting as the flag: told alike.
  if (connection.regionFrom !== "flag" && !REGION.test(connection.region)) {
    throw new ValidationError(
      connection.regionFrom === "AWS_REGION" ? "AWS_REGION" : `the region of ${connection.regionFrom}`,
      `a region such as eu-west-1, got "${connection.region}"`,
    );
  }
  // An endpoint set by a variable or a profile's endpoint_url is the same setting as the flag: told alike.
  const configured = connection.configured;
  if (flags.endpoint === undefined && configured !== undefined && !isEndpoint(configured.url)) {
    if (!configured.from.startsWith("profile "))
      throw new ValidationError(configured.from, `${ENDPOINT}, got "${quotedEndpoint(configured.url)}"`);
    throw new ValidationError(
      namedProfile(side, flags)?.by ?? "the default profile",
      `a profile whose endpoint_url is ${ENDPOINT}, but ${configured.from} has endpoint_url "${quotedEndpoint(configured.url)}"`,
    );
  }
  const sseCustomerKey = flags.sseCKeyFile
    ? await readSseCustomerKey(flags.sseCKeyFile, sideFlag(side, "sse-c-key-file"))
    : undefined;
  const storeWith = (bucket: string, options: WriteOptions) =>
    new S3ObjectStore({
      connection,
      bucket,
      write: options,
      ...(flags.accountId ? { expectedBucketOwner: flags.accountId } : {}),
      ...(sseCustomerKey ? { sseCustomerKey } : {}),
    });
  const store = storeWith(location.bucket, write);
  // The index keeps the side's encryption but not `--storage-class`: it is read every run, and
  // an archive class (GLACIER, DEEP_ARCHIVE) would leave it unreadable, dropped and rebuilt by
  // reading every object each run; infrequent-access classes would bill each read.
  const { storageClass: _dataOnly, ...indexWrite } = write;
  return {
    store,
    storeOf: (bucket) => storeWith(bucket, indexWrite),
    location: {
      storage: storageOf(await connection.endpointUrl(), connection.region),
      bucket: location.bucket,
      prefix: location.prefix,
      ...(flags.accountId ? { owner: flags.accountId } : {}),
    },
  };
}

/** Server-side copies across the sides need one endpoint and one identity on both. */
export function sameAccount(src: SideFlags, dst: SideFlags): boolean {
  return src.profile === dst.profile && src.endpoint === dst.endpoint && src.region === dst.region;
}

/**
 * The profile a side takes and what named it: its flag, else AWS_PROFILE (as the SDK takes it);
 * none where the AWS chain chooses.
 */
function namedProfile(side: SideTag, flags: SideFlags): { name: string; by: string } | undefined {
  if (flags.profile) return { name: flags.profile, by: sideFlag(side, "profile") };
  const ambient = process.env.AWS_PROFILE;
  return ambient ? { name: ambient, by: "AWS_PROFILE" } : undefined;
}

/** Where a side's credentials came from, and the flag that chooses them, for credential errors. */
function credentialHint(side: SideTag, flags: SideFlags, code: string): string {
  const flag = sideFlag(side, "profile");
  const named = namedProfile(side, flags);
  if (code === "NO_CREDENTIALS") {
    if (named) return `; profile "${named.name}" (${named.by}) holds no usable credentials`;
    return `; the AWS default chain looked at AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the shared files, SSO and the instance role: name a profile with ${flag}`;
  }
  if (code === "INVALID_CREDENTIALS") {
    if (named) return `; they are those of profile "${named.name}" (${named.by})`;
    return `; they came from the AWS default chain: name another profile with ${flag}`;
  }
  return "";
}

/**
 * Lists the first page of each side before any work starts, so that a wrong bucket, endpoint or
 * credential is reported up front and names the side (and the flag) it belongs to. The page is
 * the run's own first page (the store keeps it for the run's listing): no round trip of its own.
 * With `versioning` (a side whose index the run consults, and so asks whether its bucket keeps
 * versions before it lists), the bucket's versioning state is asked beside it, for the run to
 * take (see `S3ObjectStore.prefetchVersioning`): one round trip before the run's listing instead
 * of two. Resolves to whether the side lists any object there.
 */
export async function probe(
  side: SideTag,
  store: S3ObjectStore,
  prefix: string,
  flags: SideFlags,
  versioning = false,
  signal?: AbortSignal,
): Promise<boolean> {
  if (versioning) store.prefetchVersioning();
  try {
    // The prefix read as a directory, as the run reads it: a bare prefix would also match its
    // neighbours (`photos` lists `photos-2019/...`).
    return await store.prefetchList(directoryPrefix(prefix), signal);
  } catch (error) {
    throw sideError(side, flags, error);
  }
}

/**
 * A storage error of one side's first request, said with the side's name and, where the
 * credentials failed, the flag that chose them; any other error as it is.
 */
export function sideError(side: SideTag, flags: SideFlags, error: unknown): unknown {
  if (!(error instanceof StorageError)) return error;
  const name = SIDE_NAME[side];
  return new ChunksyncError(
    error.code,
    `${name}: ${error.message}${credentialHint(side, flags, error.code)}`,
    {
      cause: error,
      details: { side: name },
    },
  );
}

/**
 * {@link probe} of each side at once, one round trip instead of one per side; where several
 * fail, the error of the first side given is the one thrown, as when they ran in turn. Resolves
 * to whether each side lists any object, in the order given.
 */
export async function probeSides(
  sides: ReadonlyArray<
    [side: SideTag, store: S3ObjectStore, prefix: string, flags: SideFlags, versioning?: boolean]
  >,
  signal?: AbortSignal,
): Promise<boolean[]> {
  const probed = await Promise.allSettled(
    sides.map(([side, store, prefix, flags, versioning]) =>
      probe(side, store, prefix, flags, versioning, signal),
    ),
  );
  return probed.map((p) => {
    if (p.status === "rejected") throw p.reason;
    return p.value;
  });
}

/**
 * Refuses a `--storage-class` the destination does not take before any work: otherwise each
 * object's write was refused (RGW answers InvalidArgument, AWS InvalidStorageClass) after its
 * bytes were read. An upload begun under the class and aborted asks the server; no object
 * appears, and a run that may write needs those rights anyway.
 *
 * @throws ValidationError naming --storage-class when the server refuses the upload
 */
export async function probeStorageClass(
  store: S3ObjectStore,
  prefix: string,
  storageClass: string,
): Promise<void> {
  let upload: Awaited<ReturnType<S3ObjectStore["createUpload"]>>;
  try {
    // Under the prefix read as a directory, where a role limited to the synced prefix may write.
    upload = await store.createUpload(`${directoryPrefix(prefix)}.chunksync-storage-class-probe`, {
      metadata: {},
    });
  } catch (error) {
    if (!(error instanceof RequestRefusedError)) throw error;
    throw new ValidationError(
      "--storage-class",
      `a storage class the destination takes, but it refused "${storageClass}" (${error.message})`,
    );
  }
  await upload.abort().catch(() => {});
}
