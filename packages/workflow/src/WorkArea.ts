import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import {
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { translateS3Error } from "@chunksync/storage";
import type { z } from "zod";
import { WorkItemMissingError } from "./errors.js";
import { parseEvent } from "./events.js";

/**
 * A small key/JSON store where the workflow keeps what does not fit in a state
 * (256 KiB): challenge requests and responses, part lists, per-object results.
 * Keys under `source/` hold what must stay on the source side (expectations);
 * keys under `shared/` are readable by both sides. IAM enforces the split.
 */
export interface WorkArea {
  put(key: string, value: unknown): Promise<void>;
  /** The stored value, or undefined when the key does not exist. */
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** Every key under `prefix`, in key order. */
  list(prefix: string): AsyncIterable<string>;
  /**
   * Stores JSON Lines text (each item one line, ending in a newline) as it is produced, so
   * that a run's report is never one string or one array, however many objects it covers.
   */
  putLines(key: string, lines: AsyncIterable<string>): Promise<void>;
  /** The parsed lines stored by `putLines`, one at a time; nothing when the key does not exist. */
  getLines<T = unknown>(key: string): AsyncIterable<T>;
  /**
   * Drops records no later step reads, where keeping them costs the run (memory, in-process); a
   * bucket leaves them to its lifecycle rule. A key ending in `/` drops every record under it.
   */
  forget?(keys: readonly string[]): Promise<void>;
}

/** The value at `key`, which an earlier step wrote: its absence is a {@link WorkItemMissingError}. */
export async function need<T>(work: WorkArea, key: string): Promise<T> {
  const value = await work.get<T>(key);
  if (value === undefined) throw new WorkItemMissingError(key);
  return value;
}

/** The record at `key`, which an earlier step wrote, checked against `schema` (a mismatch names `what`). */
export async function needRecord<T>(
  work: WorkArea,
  key: string,
  schema: z.ZodType<T>,
  what: string,
): Promise<T> {
  return parseEvent(schema, await need<unknown>(work, key), what);
}

/** Work area in memory: for in-process runs and tests. */
export class MemoryWorkArea implements WorkArea {
  readonly #items = new Map<string, string>();
  // Kept as lines: one string of a large report would pass V8's string limit.
  readonly #lines = new Map<string, string[]>();
  /** The keys of `#items` by folder (up to their last `/`), and each folder's subfolders: a folder is forgotten without a scan of every key. */
  readonly #folders = new Map<string, { keys: Set<string>; children: Set<string> }>();

  async put(key: string, value: unknown): Promise<void> {
    // Stored as JSON text so a reader gets a copy, as it would from S3.
    this.#items.set(key, JSON.stringify(value));
    this.#folder(key.slice(0, key.lastIndexOf("/") + 1)).keys.add(key);
  }

  /** The folder `path` (ending in `/`, or "" for the top), made with its parents where new. */
  #folder(path: string) {
    let folder = this.#folders.get(path);
    if (folder === undefined) {
      folder = { keys: new Set(), children: new Set() };
      this.#folders.set(path, folder);
      if (path !== "") this.#folder(parentFolder(path)).children.add(path);
    }
    return folder;
  }

  /** Drops folder `path` with its records and subfolders. */
  #drop(path: string): void {
    const folder = this.#folders.get(path);
    if (folder === undefined) return;
    for (const key of folder.keys) this.#items.delete(key);
    for (const child of folder.children) this.#drop(child);
    this.#folders.delete(path);
    if (path !== "") this.#folders.get(parentFolder(path))?.children.delete(path);
  }

  async get<T>(key: string): Promise<T | undefined> {
    const text = this.#items.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  async *list(prefix: string): AsyncIterable<string> {
    yield* [...this.#items.keys(), ...this.#lines.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async putLines(key: string, lines: AsyncIterable<string>): Promise<void> {
    const stored: string[] = [];
    for await (const line of lines) stored.push(line);
    this.#items.delete(key);
    this.#lines.set(key, stored);
  }

  async *getLines<T>(key: string): AsyncIterable<T> {
    for (const line of this.#lines.get(key) ?? []) yield JSON.parse(line) as T;
  }

  async forget(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      if (key.endsWith("/")) {
        this.#drop(key);
        continue;
      }
      this.#items.delete(key);
      this.#lines.delete(key);
      this.#folders.get(key.slice(0, key.lastIndexOf("/") + 1))?.keys.delete(key);
    }
  }
}

/** The folder holding folder `path` ("a/b/" in "a/b/c/"; "" at the top). */
function parentFolder(path: string): string {
  return path.slice(0, path.lastIndexOf("/", path.length - 2) + 1);
}

/** Work area in an S3 bucket (a lifecycle rule expires old runs). */
export class S3WorkArea implements WorkArea {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async put(key: string, value: unknown): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: JSON.stringify(value),
          ContentType: "application/json",
        }),
      );
    } catch (error) {
      throw translateS3Error(error, { operation: "put", bucket: this.bucket, key });
    }
  }

  async get<T>(key: string): Promise<T | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return JSON.parse((await out.Body?.transformToString("utf8")) ?? "null") as T;
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404) return undefined;
      throw translateS3Error(error, { operation: "get", bucket: this.bucket, key });
    }
  }

  async putLines(key: string, lines: AsyncIterable<string>): Promise<void> {
    try {
      // A multipart upload of parts filled as the lines come: memory holds a few parts.
      await new Upload({
        client: this.client,
        params: {
          Bucket: this.bucket,
          Key: key,
          Body: Readable.from(lines),
          ContentType: "application/jsonl",
        },
      }).done();
    } catch (error) {
      throw translateS3Error(error, { operation: "put", bucket: this.bucket, key });
    }
  }

  async *getLines<T>(key: string): AsyncIterable<T> {
    let body: Readable;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      body = out.Body as Readable;
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404) return;
      throw translateS3Error(error, { operation: "get", bucket: this.bucket, key });
    }
    for await (const line of createInterface({ input: body, crlfDelay: Number.POSITIVE_INFINITY })) {
      if (line !== "") yield JSON.parse(line) as T;
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
      } catch (error) {
        throw translateS3Error(error, { operation: "list", bucket: this.bucket, key: prefix });
      }
      for (const o of page.Contents ?? []) if (o.Key) yield o.Key;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}
