import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import {
  type DigestAlgorithm,
  directoryPrefix,
  INDEX_NAME_MAX_BYTES,
  type IndexScope,
  MAX_KEY_BYTES,
  pairingTag,
  type SideLocation,
  scopeName,
  ValidationError,
} from "@chunksync/core";
import {
  DirectoryIndexLocation,
  makeDirectory,
  type SideIndexOptions,
  StoreIndexLocation,
} from "@chunksync/sync";
import type { Command } from "commander";
import { mayOverlap } from "./oneServer.js";
import { parseS3Url } from "./parseS3Url.js";
import type { OpenedSide } from "./sideSettings.js";

/** The index flags as commander parses them. */
export interface IndexFlags {
  srcIndex?: string;
  dstIndex?: string;
  /** False with `--no-index`. */
  index: boolean;
  /** `check --full`: read every object, rebuilding the indexes instead of consulting them. */
  full?: boolean;
  /** `sync --dry-run`: it writes nothing, so the indexes are consulted and left as they were. */
  dryRun?: boolean;
}

export function addIndexOptions(command: Command): Command {
  return command
    .option(
      "--src-index <dir|s3-url>",
      "where the source's digest index is kept: a directory, or s3://bucket/prefix the source's credentials can write (default: a directory in this user's cache)",
    )
    .option(
      "--dst-index <dir|s3-url>",
      "where the destination's digest index is kept, as --src-index (with the destination's credentials)",
    )
    .option("--no-index", "read every object on both sides, and keep no digest index");
}

/**
 * The default index directory: in this user's cache (XDG_CACHE_HOME, else ~/.cache), where a
 * lost index costs one full read and nothing else, and which needs no write access to either
 * bucket. A relative XDG_CACHE_HOME is passed over, as the XDG spec says (it would put the
 * cache wherever the run was started); the bin finds its code cache alike.
 */
export function defaultIndexRoot(env: NodeJS.ProcessEnv = process.env): string {
  const set = env.XDG_CACHE_HOME;
  const cache = set && isAbsolute(set) ? set : join(homedir(), ".cache");
  return join(cache, "chunksync", "index");
}

/** What the run's indexes need from the rest of its settings. */
export interface IndexContext {
  chunkSize: number;
  algorithm: DigestAlgorithm;
  /** The pairing secret, where the user gave one: a drawn one lives for one run only. */
  secret: Buffer | undefined;
}

/** Each side's index for runSync. */
export interface RunIndexes {
  index: { source: SideIndexOptions; destination: SideIndexOptions } | undefined;
}

/**
 * Checks what of `--src-index`, `--dst-index` and `--no-index` needs no request, before any:
 * the flags agree, and a directory is one this user can create and write.
 */
export async function checkIndexFlags(flags: IndexFlags): Promise<void> {
  for (const [flag, value] of [
    ["--src-index", flags.srcIndex],
    ["--dst-index", flags.dstIndex],
  ] as const) {
    if (!flags.index) {
      if (value !== undefined) throw new ValidationError(flag, "no value together with --no-index");
    } else if (!value?.startsWith("s3://")) await indexDirectory(flag, value);
  }
}

/** The scope of `side`'s index in a run of `context`. */
function indexScope(side: OpenedSide, context: IndexContext): IndexScope {
  return {
    storage: side.location.storage,
    bucket: side.location.bucket,
    prefix: directoryPrefix(side.location.prefix),
    chunkSize: context.chunkSize,
    algorithm: context.algorithm,
    pairing: context.secret ? pairingTag(context.secret) : "drawn per run",
  };
}

/**
 * Where an s3:// index location `value` keeps `side`'s index (its scope's folder `name` under
 * the URL's prefix), refused where it may not: a URL that is no S3 location, a prefix inside
 * the `other` side's synced location or the side's synced prefix itself, one that leaves its
 * files' keys no room within S3's 1,024 bytes. No request.
 */
async function bucketIndexAt(
  flag: string,
  value: string,
  side: OpenedSide,
  name: string,
  other: OtherSide | undefined,
): Promise<{ bucket: string; prefix: string }> {
  const url = parseS3Url(value, flag);
  const root = directoryPrefix(url.prefix);
  const at: SideLocation = { ...side.location, bucket: url.bucket, prefix: root };
  if (other !== undefined && (await mayOverlap(at, other.location))) {
    const { bucket, prefix } = other.location;
    throw new ValidationError(
      flag,
      `a location apart from the ${other.name}'s s3://${bucket}/${directoryPrefix(prefix)} (its digests stay on its own side)`,
    );
  }
  // The index's scope directories would lie among the synced keys, where no prefix sets them apart.
  if (url.bucket === side.location.bucket && root === directoryPrefix(side.location.prefix)) {
    throw new ValidationError(
      flag,
      `a prefix apart from the synced objects, not ${value} itself (for example s3://${url.bucket}/${root}.chunksync-index)`,
    );
  }
  // Its keys are the prefix, a folder of the scope's and a file's name: each within S3's limit.
  const room = MAX_KEY_BYTES - INDEX_NAME_MAX_BYTES - Buffer.byteLength(`${name}/`, "utf8");
  const bytes = Buffer.byteLength(root, "utf8");
  if (bytes > room) {
    throw new ValidationError(
      flag,
      `a prefix of at most ${room.toLocaleString("en-US")} bytes of UTF-8 with its trailing "/" (the index keeps its files in a folder of its own under it, ${name}/, named in up to ${INDEX_NAME_MAX_BYTES} bytes, and S3's keys are at most ${MAX_KEY_BYTES.toLocaleString("en-US")} bytes), got ${bytes.toLocaleString("en-US")}`,
    );
  }
  return { bucket: url.bucket, prefix: `${root}${name}/` };
}

/**
 * Checks the s3:// values of `--src-index` and `--dst-index` as {@link resolveIndexes} will take
 * them, before any request: a bad one is refused before the sides are probed.
 */
export async function checkIndexLocations(
  flags: IndexFlags,
  sides: { source: OpenedSide; destination: OpenedSide },
  context: IndexContext,
): Promise<void> {
  if (!flags.index) return;
  const { source, destination } = sides;
  for (const [flag, value, side, other] of [
    ["--src-index", flags.srcIndex, source, { ...destination, name: "destination" }],
    ["--dst-index", flags.dstIndex, destination, { ...source, name: "source" }],
  ] as const) {
    if (value?.startsWith("s3://"))
      await bucketIndexAt(flag, value, side, scopeName(indexScope(side, context)), other);
  }
}

/**
 * The index directory `value` names (the default one when undefined), created if need be, unless
 * `create` is false (a scrub, which only works on an index there is).
 *
 * @throws ValidationError naming `flag` when it is another kind of URL, or a directory this user
 * cannot create or write
 */
async function indexDirectory(flag: string, value: string | undefined, create = true): Promise<string> {
  // `s3:/bucket` and `s3:bucket` too: taken as a path, each made a directory beside the run.
  if (value !== undefined && (/^[A-Za-z][A-Za-z0-9+.-]+:\//.test(value) || /^s3:/i.test(value))) {
    throw new ValidationError(
      flag,
      `a directory or an s3://bucket/prefix URL, got "${value}" (a directory of that name: ./${value})`,
    );
  }
  const root = resolve(value ?? defaultIndexRoot());
  if (!create) return root;
  try {
    await makeDirectory(root);
    await access(root, constants.W_OK);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    // The default was not the user's choice: the message says where it came from and the way out.
    const got =
      value === undefined
        ? `the default index directory "${root}" (under XDG_CACHE_HOME or ~/.cache) could not be used (${why}): name one with ${flag}, or run with --no-index`
        : `got "${root}" (${why})`;
    throw new ValidationError(flag, `a directory this user can create and write; ${got}`);
  }
  return root;
}

/**
 * Resolves `--src-index`, `--dst-index`, `--no-index`, `check --full` and `sync --dry-run`, once
 * {@link checkIndexFlags} passed them. An s3:// location is checked with one listing request by
 * the side that owns it. Call it after both sides answered their probes, so that their
 * credential errors name their own flags. An index's keys inside a synced prefix are passed over
 * by their names (see keySelection).
 */
export async function resolveIndexes(
  flags: IndexFlags,
  sides: { source: OpenedSide; destination: OpenedSide },
  context: IndexContext,
): Promise<RunIndexes> {
  if (!flags.index) return { index: undefined };
  const consult = flags.full !== true;
  const sideIndex = async (
    flag: "--src-index" | "--dst-index",
    value: string | undefined,
    side: OpenedSide,
    other: OtherSide,
  ) => {
    const options = await resolveSideIndex(flag, value, side, context, consult, { other });
    return flags.dryRun === true ? { ...options, keep: false } : options;
  };
  const { source, destination } = sides;
  // Both at once: an index in a bucket is checked with a request of its side's. Where both
  // fail, the source's error is the one thrown, as when they ran in turn.
  const [sourceIndex, destinationIndex] = await Promise.allSettled([
    sideIndex("--src-index", flags.srcIndex, source, { ...destination, name: "destination" }),
    sideIndex("--dst-index", flags.dstIndex, destination, { ...source, name: "source" }),
  ]);
  if (sourceIndex.status === "rejected") throw sourceIndex.reason;
  if (destinationIndex.status === "rejected") throw destinationIndex.reason;
  return { index: { source: sourceIndex.value, destination: destinationIndex.value } };
}

/** The other side of a run, whose synced location an index must stay out of. */
export interface OtherSide {
  name: "source" | "destination";
  location: SideLocation;
}

/**
 * One side's index: `value` is a directory, an s3:// location (checked with one listing request
 * by that side) or undefined for the default directory. A location that is the side's synced
 * prefix itself is refused, and so is one inside the `other` side's synced location: a side's
 * digests stay on its own side (the other side could answer challenges from them without the
 * bytes), as the deployment config requires of the workflow. With `existing` (a scrub, which
 * only works on an index there is), a directory that does not exist is not made.
 */
export async function resolveSideIndex(
  flag: string,
  value: string | undefined,
  side: OpenedSide,
  context: IndexContext,
  consult: boolean,
  { other, existing = false }: { other?: OtherSide; existing?: boolean } = {},
): Promise<SideIndexOptions> {
  const scope = indexScope(side, context);
  const name = scopeName(scope);
  if (value?.startsWith("s3://")) {
    const { bucket, prefix } = await bucketIndexAt(flag, value, side, name, other);
    const location = new StoreIndexLocation(side.storeOf(bucket), prefix);
    try {
      // One request: the bucket exists and this side may read it, before any work.
      await location.check(consult);
    } catch (error) {
      throw new ValidationError(
        flag,
        `a bucket prefix this side can read and write (${(error as Error).message})`,
        {
          cause: error,
        },
      );
    }
    return { location, scope, consult };
  }
  const root = await indexDirectory(flag, value, !existing);
  return { location: new DirectoryIndexLocation(join(root, name)), scope, consult };
}
