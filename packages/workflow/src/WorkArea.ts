import { hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
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
  /**
   * Appends the records at `keys` that exist, in order, to the array at `into` (made where
   * none), and drops them: a settled page's results kept as one record.
   */
  fold?(keys: readonly string[], into: string): Promise<void>;
}

/**
 * Where a work area in memory keeps some records on disk instead, one file each: those `keys`
 * selects (a run's settled pages' results and ranges, which it holds to its end), and every
 * record of lines (the report), in `directory`.
 */
export interface SpillOptions {
  directory: string;
  keys: (key: string) => boolean;
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
  /** Records on disk (see {@link SpillOptions}): their files by key. */
  readonly #spilled = new Map<string, string>();

  constructor(readonly spill?: SpillOptions) {}

  readonly #items = new Map<string, string>();
  // Kept as lines: one string of a large report would pass V8's string limit.
  readonly #lines = new Map<string, string[]>();
  /** The keys of `#items` by folder (up to their last `/`), and each folder's subfolders: a folder is forgotten without a scan of every key. */
  readonly #folders = new Map<string, { keys: Set<string>; children: Set<string> }>();

  async put(key: string, value: unknown): Promise<void> {
    // Stored as JSON text so a reader gets a copy, as it would from S3.
    const text = JSON.stringify(value);
    if (this.spill?.keys(key)) {
      await writeFile(this.#spillFile(key), text);
      return;
    }
    this.#items.set(key, text);
    this.#folder(key.slice(0, key.lastIndexOf("/") + 1)).keys.add(key);
  }

  /** The file of spilled record `key`, now kept there. */
  #spillFile(key: string): string {
    const file = join(this.spill?.directory ?? "", hash("sha256", key, "hex"));
    this.#spilled.set(key, file);
    return file;
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
    const file = this.#spilled.get(key);
    const text = file === undefined ? this.#items.get(key) : await readFile(file, "utf8");
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  async *list(prefix: string): AsyncIterable<string> {
    yield* [...this.#items.keys(), ...this.#lines.keys(), ...this.#spilled.keys()]
      .filter((k) => k.startsWith(prefix))
      .sort();
  }

  async putLines(key: string, lines: AsyncIterable<string>): Promise<void> {
    this.#items.delete(key);
    if (this.spill) {
      await pipeline(Readable.from(lines), createWriteStream(this.#spillFile(key)));
      return;
    }
    const stored: string[] = [];
    for await (const line of lines) stored.push(line);
    this.#lines.set(key, stored);
  }

  async *getLines<T>(key: string): AsyncIterable<T> {
    const file = this.#spilled.get(key);
    const lines =
      file === undefined ? (this.#lines.get(key) ?? []) : createInterface({ input: createReadStream(file) });
    for await (const line of lines) if (line !== "") yield JSON.parse(line) as T;
  }

  async fold(keys: readonly string[], into: string): Promise<void> {
    const values = keys.flatMap((key) => {
      const text = this.#items.get(key);
      return text === undefined ? [] : [JSON.parse(text) as unknown];
    });
    if (values.length === 0) return;
    await this.put(into, [...((await this.get<unknown[]>(into)) ?? []), ...values]);
    await this.forget(keys);
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
      const file = this.#spilled.get(key);
      if (file !== undefined) {
        this.#spilled.delete(key);
        await rm(file, { force: true });
      }
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
