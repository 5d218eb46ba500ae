import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import type { Readable } from "node:stream";
import {
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import { S3Connection, S3ObjectStore } from "@chunksync/storage";
import { afterAll, beforeAll } from "vitest";
import { HUNG_UP, STOPPING, TERMINATING } from "../../packages/cli/src/interruptible.js";
import { FaultProxy } from "./faultProxy.js";
import { createBucket, emptyAndDeleteBucket, localS3, readAll, s3Client, uniqueBucketName } from "./s3.js";

const BIN = join(import.meta.dirname, "../../packages/cli/bin/chunksync.js");

/** The engine's store for one user, reaching the server through `endpoint` (a fault proxy). */
export async function storeVia(
  user: "source" | "destination",
  bucket: string,
  endpoint: string,
  settings: { maxAttempts?: number; socketTimeoutMs?: number; plainGets?: boolean } = {},
): Promise<S3ObjectStore> {
  const s3 = localS3();
  const connection = await S3Connection.open({
    endpoint,
    region: s3.region,
    credentials: s3.users[user],
    ...settings,
  });
  return new S3ObjectStore({ connection, bucket });
}

/**
 * A fault proxy in front of the local server for the enclosing describe's tests: started
 * before them, stopped after them.
 */
export function proxiedServer(): { readonly proxy: FaultProxy } {
  const served = {} as { proxy: FaultProxy };
  beforeAll(async () => {
    served.proxy = await FaultProxy.start({ upstream: localS3().endpoint });
  });
  afterAll(async () => {
    await served.proxy.stop();
  });
  return served;
}

/**
 * For one describe block: both users' clients and a fault proxy before the local server, set up
 * before its tests; `pair(seed)` makes a fresh source and destination bucket and the engine's
 * stores for them through the proxy. The proxy stops, and every bucket is emptied and deleted,
 * after the block.
 */
export function proxiedWorld() {
  const served = proxiedServer();
  let clients: { src: S3Client; dst: S3Client; proxy: FaultProxy } | undefined;
  const buckets: [S3Client, string][] = [];
  beforeAll(() => {
    clients = { src: s3Client("source"), dst: s3Client("destination"), proxy: served.proxy };
  });
  afterAll(async () => {
    for (const [client, bucket] of buckets) await emptyAndDeleteBucket(client, bucket);
  });
  const world = () => {
    if (clients === undefined) throw new Error("proxiedWorld is used before its block's set-up ran");
    return clients;
  };
  return {
    get src() {
      return world().src;
    },
    get dst() {
      return world().dst;
    },
    get proxy() {
      return world().proxy;
    },
    async pair(seed: string) {
      const { src, dst, proxy } = world();
      const srcBucket = uniqueBucketName(`src-${seed}`);
      const dstBucket = uniqueBucketName(`dst-${seed}`);
      await createBucket(src, srcBucket);
      await createBucket(dst, dstBucket);
      buckets.push([src, srcBucket], [dst, dstBucket]);
      return {
        srcBucket,
        dstBucket,
        source: await storeVia("source", srcBucket, proxy.url),
        destination: await storeVia("destination", dstBucket, proxy.url),
      };
    },
  };
}

/** Every in-progress multipart upload in `bucket`. */
export async function pendingUploads(
  client: S3Client,
  bucket: string,
): Promise<{ key: string; uploadId: string }[]> {
  const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return (out.Uploads ?? []).map((u) => ({ key: u.Key ?? "", uploadId: u.UploadId ?? "" }));
}

/** What a destination key may hold after a run: its old bytes (absent: undefined) or the new ones. */
export interface Versions {
  key: string;
  old?: Buffer;
  new: Buffer;
}

export interface OldOrNew {
  /** Keys holding the new bytes. */
  updated: string[];
  /** Keys holding the old bytes (or still absent when there were none). */
  kept: string[];
  /** Keys holding anything else: a mixed or half-written object. */
  mixed: string[];
  /** Bytes of the mixed objects: what the run lost. */
  bytesLost: number;
}

/** Reads every key back and sorts it into new, old, or neither. */
export async function oldOrNew(client: S3Client, bucket: string, versions: Versions[]): Promise<OldOrNew> {
  const out: OldOrNew = { updated: [], kept: [], mixed: [], bytesLost: 0 };
  for (const v of versions) {
    let got: Buffer | undefined;
    try {
      got = await readAll(client, bucket, v.key);
    } catch (error) {
      if ((error as { name?: string }).name !== "NoSuchKey") throw error;
    }
    if (got?.equals(v.new)) out.updated.push(v.key);
    else if (got === undefined ? v.old === undefined : v.old?.equals(got)) out.kept.push(v.key);
    else {
      out.mixed.push(v.key);
      out.bytesLost += Math.max(got?.length ?? 0, v.new.length);
    }
  }
  return out;
}

/** A CLI process the test can kill, with its output collected. */
export interface CliProcess {
  pid: number;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  kill(signal: NodeJS.Signals): void;
  /**
   * Sends `by` (Ctrl-C's SIGINT unless given) and settles once the child said on stderr that it
   * took it and is stopping, or has exited.
   */
  interrupt(by?: "SIGINT" | "SIGTERM" | "SIGHUP"): Promise<void>;
}

/**
 * What a child process writes to `stream`, collected as it comes: `text()` so far, and
 * `shows(text)`, which settles once it holds `text` or the child has closed.
 */
export function collected(child: ChildProcess, stream: Readable) {
  let text = "";
  let waiting: { text: string; resolve: () => void }[] = [];
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  stream.on("data", (d: Buffer) => {
    text += d.toString();
    for (const w of waiting) if (text.includes(w.text)) w.resolve();
    waiting = waiting.filter((w) => !text.includes(w.text));
  });
  return {
    text: () => text,
    shows: (wanted: string): Promise<void> =>
      text.includes(wanted)
        ? Promise.resolve()
        : Promise.race([new Promise<void>((resolve) => waiting.push({ text: wanted, resolve })), closed]),
  };
}

/** Starts the real CLI as a child process (without ambient AWS settings) and returns at once. */
export function startCli(args: string[], env: Record<string, string>): CliProcess {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith("AWS_")) clean[k] = v;
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...clean, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout = collected(child, child.stdout);
  const stderr = collected(child, child.stderr);
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve) =>
    child.on("close", (code, signal) =>
      resolve({ code, signal, stdout: stdout.text(), stderr: stderr.text() }),
    ),
  );
  const interrupt = (by: "SIGINT" | "SIGTERM" | "SIGHUP" = "SIGINT") => {
    child.kill(by);
    return stderr.shows(by === "SIGINT" ? STOPPING : by === "SIGTERM" ? TERMINATING : HUNG_UP);
  };
  return { pid: child.pid ?? -1, done, kill: (signal) => child.kill(signal), interrupt };
}

/** Every key under `prefix`, as stored: listed URL-encoded, as a key may hold characters XML 1.0 cannot carry. */
export async function listKeys(client: S3Client, bucket: string, prefix = ""): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ContinuationToken: token,
        EncodingType: "url",
      }),
    );
    // The url encoding is a form's: a space comes as `+`.
    for (const o of page.Contents ?? []) keys.push(decodeURIComponent((o.Key ?? "").replaceAll("+", " ")));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys;
}

/**
 * How the destination bucket differs from the source, read from both with plain GETs: keys on
 * one side only, and per key the bytes, Content-Type, the other content headers and user metadata.
 * Empty when the destination mirrors the source.
 */
export async function mirrorDifferences(
  source: { client: S3Client; bucket: string },
  destination: { client: S3Client; bucket: string },
): Promise<string[]> {
  const out: string[] = [];
  const [srcKeys, dstKeys] = await Promise.all([
    listKeys(source.client, source.bucket),
    listKeys(destination.client, destination.bucket),
  ]);
  const onDestination = new Set(dstKeys);
  for (const key of dstKeys) if (!srcKeys.includes(key)) out.push(`${JSON.stringify(key)}: destination only`);
  const read = async (side: { client: S3Client; bucket: string }, key: string) => {
    const r = await side.client.send(new GetObjectCommand({ Bucket: side.bucket, Key: key }));
    const { ContentType, ContentEncoding, ContentLanguage, ContentDisposition, CacheControl, Metadata } = r;
    return {
      body: Buffer.from((await r.Body?.transformToByteArray()) ?? []),
      attributes: JSON.stringify({
        ContentType,
        ContentEncoding,
        ContentLanguage,
        ContentDisposition,
        CacheControl,
        Metadata,
      }),
    };
  };
  for (const key of srcKeys) {
    if (!onDestination.has(key)) {
      out.push(`${JSON.stringify(key)}: missing`);
      continue;
    }
    const [a, b] = await Promise.all([read(source, key), read(destination, key)]);
    if (!a.body.equals(b.body)) out.push(`${JSON.stringify(key)}: bytes differ`);
    if (a.attributes !== b.attributes)
      out.push(`${JSON.stringify(key)}: ${a.attributes} became ${b.attributes}`);
  }
  return out;
}
