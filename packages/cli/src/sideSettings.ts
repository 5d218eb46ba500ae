import { readFile } from "node:fs/promises";
import {
  ChunksyncError,
  directoryPrefix,
  type SideLocation,
  storageOf,
  ValidationError,
} from "@chunksync/core";
import {
  createS3Client,
  type ObjectStore,
  ProfileNotFoundError,
  S3ObjectStore,
  StorageError,
  type WriteOptions,
} from "@chunksync/storage";
import type { S3Location } from "./parseS3Url.js";

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
  throw new ValidationError(flag, "a 32-byte SSE-C key, raw or as hex or base64");
}

const SIDE_NAME = { src: "source", dst: "destination" } as const;

/** One side's store, and where its bucket lives (for the overlap check). */
export interface OpenedSide {
  store: S3ObjectStore;
  location: SideLocation;
  /** A store of another bucket reached as this side (its client, owner and SSE-C key): its index's. */
  storeOf(bucket: string): S3ObjectStore;
}

/** Builds one side's store: its own client, endpoint, region and credentials. Sends no request. */
export async function openStore(
  side: "src" | "dst",
  location: S3Location,
  flags: SideFlags,
  write: WriteOptions = {},
): Promise<OpenedSide> {
  if (flags.endpoint !== undefined) {
    try {
      new URL(flags.endpoint);
    } catch {
      throw new ValidationError(
        `--${side}-endpoint`,
        `a URL such as http://127.0.0.1:9000, got "${flags.endpoint}"`,
      );
    }
  }
  let client: Awaited<ReturnType<typeof createS3Client>>;
  try {
    client = await createS3Client({
      ...(flags.profile ? { profile: flags.profile } : {}),
      ...(flags.endpoint ? { endpoint: flags.endpoint } : {}),
      ...(flags.region ? { region: flags.region } : {}),
    });
  } catch (error) {
    if (!(error instanceof ProfileNotFoundError)) throw error;
    throw new ChunksyncError(error.code, `${SIDE_NAME[side]} (--${side}-profile): ${error.message}`, {
      cause: error,
      details: { side: SIDE_NAME[side] },
    });
  }
  const sseCustomerKey = flags.sseCKeyFile
    ? await readSseCustomerKey(flags.sseCKeyFile, `--${side}-sse-c-key-file`)
    : undefined;
  const storeOf = (bucket: string) =>
    new S3ObjectStore({
      client,
      bucket,
      write,
      ...(flags.accountId ? { expectedBucketOwner: flags.accountId } : {}),
      ...(sseCustomerKey ? { sseCustomerKey } : {}),
    });
  const store = storeOf(location.bucket);
  // The endpoint the client will send to: a custom one (the flag or the profile's endpoint_url),
  // else AWS_ENDPOINT_URL_S3/AWS_ENDPOINT_URL or the default profile's, else AWS's own. Read from
  // the client's resolved settings, so the overlap check cannot disagree with what it does.
  const custom = await client.config.endpoint?.();
  const endpoint = custom
    ? `${custom.protocol}//${custom.hostname}${custom.port === undefined ? "" : `:${custom.port}`}${custom.path}`
    : await client.config.serviceConfiguredEndpoint?.();
  return {
    store,
    storeOf,
    location: {
      storage: storageOf(endpoint, await client.config.region()),
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

/** Where a side's credentials came from, and the flag that chooses them, for credential errors. */
function credentialHint(side: "src" | "dst", flags: SideFlags, code: string): string {
  const flag = `--${side}-profile`;
  if (code === "NO_CREDENTIALS") {
    return flags.profile
      ? `; profile "${flags.profile}" (${flag}) holds no usable credentials`
      : `; the AWS default chain looked at AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the shared files, SSO and the instance role: name a profile with ${flag}`;
  }
  if (code === "INVALID_CREDENTIALS") {
    return flags.profile
      ? `; they are those of profile "${flags.profile}" (${flag})`
      : `; they came from the AWS default chain: name another profile with ${flag}`;
  }
  return "";
}

/**
 * Lists one key of each side before any work starts, so that a wrong bucket, endpoint or
 * credential is reported up front and names the side (and the flag) it belongs to.
 */
export async function probe(
  side: "src" | "dst",
  store: ObjectStore,
  prefix: string,
  flags: SideFlags,
): Promise<void> {
  const name = SIDE_NAME[side];
  try {
    // One key of the prefix read as a directory, as the run reads it: a bare prefix would
    // also match its neighbours (`photos` lists `photos-2019/...`), and a page holds 1,000 keys.
    for await (const _ of store.list(directoryPrefix(prefix), undefined, undefined, 1)) break;
  } catch (error) {
    if (!(error instanceof StorageError)) throw error;
    throw new ChunksyncError(
      error.code,
      `${name}: ${error.message}${credentialHint(side, flags, error.code)}`,
      {
        cause: error,
        details: { side: name },
      },
    );
  }
}
