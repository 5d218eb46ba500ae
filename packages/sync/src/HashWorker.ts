import { Worker } from "node:worker_threads";
import { type BodyDigests, ChunksyncError, type DigestAlgorithm, type FillHasher } from "@chunksync/core";

/**
 * Bytes that arrive before they are handed to the worker: one message per MiB keeps the
 * messages' cost small next to the hashing, and the hashing close behind the body.
 */
const STRETCH = 1 << 20;

/**
 * The worker: per body, an MD5 and a chunk digest fed with stretches of a shared buffer as the
 * body arrives; the digests go back once the body has ended. Plain CommonJS as a string, so the
 * CLI's single bundle carries it without a second file.
 */
const SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const open = new Map();
parentPort.on("message", (m) => {
  if (m.drop) return void open.delete(m.id);
  try {
    let h = open.get(m.id);
    if (h === undefined) {
      h = { md5: createHash("md5"), chunk: m.algorithm && m.algorithm !== "md5" ? createHash(m.algorithm) : undefined };
      open.set(m.id, h);
    }
    if (m.to > m.from) {
      const view = new Uint8Array(m.buffer, m.from, m.to - m.from);
      h.md5.update(view);
      if (h.chunk) h.chunk.update(view);
    }
    if (m.end) {
      open.delete(m.id);
      const md5 = h.md5.digest();
      parentPort.postMessage({ id: m.id, md5, chunk: h.chunk ? h.chunk.digest() : m.algorithm ? md5 : undefined });
    }
  } catch (error) {
    open.delete(m.id);
    parentPort.postMessage({ id: m.id, error: String(error) });
  }
});
`;

interface Reply {
  id: number;
  md5?: Uint8Array;
  chunk?: Uint8Array;
  error?: string;
}

/** The hashing thread failed, or could not hash a body: the part fails. */
export class HashWorkerError extends ChunksyncError {
  constructor(message: string) {
    super("HASH_WORKER_FAILED", message);
  }
}

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);

/**
 * Hashes parts read into shared memory (see PartBuffers) on one worker thread, so the main
 * thread goes on reading and sending while the MD5 and chunk digest of the bytes that arrived
 * are computed: hashing was about half of the main thread's CPU in a large copy, and a thread
 * blocked in it leaves every socket unread meanwhile. One thread: on two cores, the server and
 * the main thread need the other. The thread starts at the first part and holds the process
 * open only while a part waits for its digests.
 */
export class HashWorker {
  #worker: Worker | undefined;
  #next = 0;
  readonly #waiting = new Map<
    number,
    { resolve(d: BodyDigests): void; reject(e: Error): void; length: number }
  >();

  /**
   * A {@link FillHasher} for `data`, or undefined where it is hashed in place: memory the
   * worker cannot see, a part too small to pay for the messages, or crc32c (native and fast).
   */
  readonly hasher = (data: Buffer, algorithm: DigestAlgorithm | undefined): FillHasher | undefined => {
    if (!(data.buffer instanceof SharedArrayBuffer) || data.length < STRETCH || algorithm === "crc32c")
      return undefined;
    const worker = this.#started();
    const id = this.#next++;
    const buffer = data.buffer;
    const base = data.byteOffset;
    let posted = 0;
    let upTo = 0;
    const post = (end: boolean) => {
      worker.postMessage({ id, buffer, from: base + posted, to: base + upTo, algorithm, end });
      posted = upTo;
    };
    return {
      filled: (to) => {
        upTo = to;
        if (upTo - posted >= STRETCH) post(false);
      },
      digests: () =>
        new Promise<BodyDigests>((resolve, reject) => {
          // A thread that stopped since lost what it was given.
          if (this.#worker !== worker) return reject(new HashWorkerError("the hashing thread stopped"));
          this.#waiting.set(id, { resolve, reject, length: upTo });
          worker.ref();
          post(true);
        }),
      drop: () => worker.postMessage({ id, drop: true }),
    };
  };

  #started(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(SOURCE, { eval: true });
    worker.unref();
    worker.on("message", (reply: Reply) => {
      const waiting = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      if (this.#waiting.size === 0) worker.unref();
      if (waiting === undefined) return;
      if (reply.error !== undefined || reply.md5 === undefined) {
        waiting.reject(new HashWorkerError(`hashing a part failed: ${reply.error ?? "no digest"}`));
        return;
      }
      const md5 = asBuffer(reply.md5);
      waiting.resolve({
        length: waiting.length,
        md5,
        ...(reply.chunk ? { chunk: asBuffer(reply.chunk) } : {}),
      });
    });
    const fail = (error: Error | number) => {
      if (this.#worker === worker) this.#worker = undefined;
      const why = typeof error === "number" ? `the hashing thread exited (${error})` : error.message;
      for (const waiting of this.#waiting.values()) waiting.reject(new HashWorkerError(why));
      this.#waiting.clear();
    };
    worker.on("error", fail);
    worker.on("exit", fail);
    this.#worker = worker;
    return worker;
  }
}

/** The process's one hashing thread, shared by every run and step in it. */
export const hashWorker = new HashWorker();
