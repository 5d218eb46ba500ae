import { randomBytes } from "node:crypto";
import { setImmediate as nextTurn } from "node:timers/promises";
import {
  MemoryObjectStore,
  type MultipartUpload,
  type ObjectStore,
  type ObjectSummary,
  S3Connection,
  S3ObjectStore,
} from "@chunksync/storage";
import { RunStats, runSync, type SyncOptions } from "@chunksync/sync";
import { syncWithWorkflow, type WorkflowSyncOptions } from "@chunksync/workflow";
import { type CollectedReport, collectResults } from "./results.js";
import { localS3 } from "./s3.js";

/** A store that lists in its own order of keys (`order`), from after `startAfter` in that order. */
export class ReorderedStore extends MemoryObjectStore {
  constructor(
    bucket: string,
    readonly order: (a: string, b: string) => number,
  ) {
    super({ bucket });
  }

  override async *list(
    prefix: string,
    signal?: AbortSignal,
    startAfter?: string,
  ): AsyncIterable<ObjectSummary> {
    const all: ObjectSummary[] = [];
    for await (const o of super.list(prefix, signal)) all.push(o);
    all.sort((a, b) => this.order(a.key, b.key));
    yield* all.filter((o) => startAfter === undefined || this.order(o.key, startAfter) > 0);
  }
}

/**
 * A store whose listing leaves out the keys in `hidden`, which it still holds: keys written
 * since a run listed them, or listed out of order where the run did not look.
 */
export class UnlistedStore extends MemoryObjectStore {
  readonly hidden = new Set<string>();

  override async *list(prefix: string, signal?: AbortSignal, startAfter?: string) {
    for await (const o of super.list(prefix, signal, startAfter)) if (!this.hidden.has(o.key)) yield o;
  }
}

/** JavaScript's order of strings (UTF-16's), not S3's: "😀" (U+1F600) comes before U+FFFD. */
export const utf16Order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The engine's own store for one of the two users, as the CLI builds it. */
export async function storeFor(user: "source" | "destination", bucket: string): Promise<S3ObjectStore> {
  const s3 = localS3();
  const connection = await S3Connection.open({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: s3.users[user],
  });
  return new S3ObjectStore({ connection, bucket });
}

/** What both engines take in tests: 5 MiB chunks (the smallest) to keep test data small. */
function commonOptions(source: ObjectStore, destination: ObjectStore) {
  return {
    source,
    sourcePrefix: "",
    destination,
    destinationPrefix: "",
    secret: randomBytes(32),
    algorithm: "sha256",
    variant: "encode",
    chunkSize: 5 * 1024 * 1024,
    verify: "changed",
    concurrency: 4,
    filters: [],
    delete: false,
  } as const;
}

/**
 * runSync with the CLI's defaults and {@link commonOptions}; the results it hands over are
 * collected next to its report.
 */
export function syncWith(
  source: ObjectStore,
  destination: ObjectStore,
  overrides: Partial<SyncOptions> = {},
): Promise<CollectedReport> {
  return collectResults(runSync, {
    ...commonOptions(source, destination),
    serverSideCopy: false,
    copyTags: false,
    dryRun: false,
    stats: new RunStats(),
    ...overrides,
  });
}

/** {@link syncWith} through the workflow engine. */
export function workflowWith(
  source: ObjectStore,
  destination: ObjectStore,
  overrides: Partial<WorkflowSyncOptions> = {},
): Promise<CollectedReport> {
  return collectResults(syncWithWorkflow, { ...commonOptions(source, destination), ...overrides });
}

/**
 * A memory store that counts the part bodies being uploaded to it that a part was read into
 * whole (a Buffer): the most at once, and the most bytes of the buffers under them. Each such
 * part waits a few turns of the event loop before it is stored, so that every part a run lets
 * be read into memory with it reaches the store meanwhile.
 */
export class BufferedPartsStore extends MemoryObjectStore {
  /** The most parts in flight at once, each with its own buffer. */
  most = 0;
  /** The most bytes of the buffers (each whole, not only the part's view of it) in flight at once. */
  mostBytes = 0;
  readonly #inFlight = new Set<ArrayBufferLike>();

  override resumeUpload(key: string, uploadId: string): MultipartUpload {
    const upload = super.resumeUpload(key, uploadId);
    return {
      ...upload,
      uploadPart: async (partNumber, body, length, signal, digest) => {
        if (!Buffer.isBuffer(body)) return upload.uploadPart(partNumber, body, length, signal, digest);
        this.#inFlight.add(body.buffer);
        this.most = Math.max(this.most, this.#inFlight.size);
        let bytes = 0;
        for (const b of this.#inFlight) bytes += b.byteLength;
        this.mostBytes = Math.max(this.mostBytes, bytes);
        try {
          for (let turn = 0; turn < 20; turn++) await nextTurn();
          return await upload.uploadPart(partNumber, body, length, signal, digest);
        } finally {
          this.#inFlight.delete(body.buffer);
        }
      },
    };
  }
}

/** The settings both sides' steps share in the workflow's integration runs, at `chunkSize`. */
export function workflowSettings(chunkSize: number) {
  return {
    chunkSize,
    algorithm: "sha256" as const,
    batchChunks: 2,
    batchBytes: 1024 * 1024 * 1024,
    concurrency: 4,
  };
}

/** How many multipart uploads `store` holds in progress. */
export async function uploadsInProgress(store: ObjectStore): Promise<number> {
  let n = 0;
  for await (const _ of store.listUploads("")) n++;
  return n;
}

/** The bytes `store` holds under `key` (none for a missing object). */
export async function bytesOf(store: ObjectStore, key: string): Promise<Buffer> {
  const head = await store.head(key);
  const pieces: Buffer[] = [];
  for await (const p of await store.read(key, { offset: 0, length: head?.size ?? 0 }, head?.etag ?? ""))
    pieces.push(p as Buffer);
  return Buffer.concat(pieces);
}
