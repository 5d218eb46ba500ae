import { Worker } from "node:worker_threads";
import type { BodyDigests, DigestAlgorithm } from "@chunksync/core";

/**
 * Parts at least this large are hashed on a worker thread: the MD5 and the chunk digest of a
 * large copy took about half the CPU of the process's one JavaScript thread, which also drives
 * every socket. Below it, a round trip to the worker costs more than the hash.
 */
export const OFF_THREAD_MIN_BYTES = 1024 * 1024;

/** The algorithms the worker hashes with node:crypto; others (crc32c) stay on the main thread. */
const WORKER_ALGORITHMS: ReadonlySet<DigestAlgorithm> = new Set(["md5", "sha1", "sha256"]);

// The worker is a few lines run from this string: no file of its own to find beside a bundle.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
parentPort.on("message", ({ id, buffer, offset, length, algorithm }) => {
  const data = new Uint8Array(buffer, offset, length);
  const md5 = createHash("md5").update(data).digest();
  const chunk = algorithm === undefined ? undefined : algorithm === "md5" ? md5 : createHash(algorithm).update(data).digest();
  parentPort.postMessage({ id, md5, chunk });
});
`;

interface Reply {
  id: number;
  md5: Uint8Array;
  chunk?: Uint8Array;
}

/**
 * One worker thread, started at the first part that needs it, that hashes bytes held in shared
 * memory (see PartBuffers) without copying them. It keeps the process alive only while a hash is
 * pending. A worker that fails rejects what was pending and is replaced at the next call.
 */
class DigestWorker {
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: unknown) => void }>();

  digest(data: Buffer, algorithm: DigestAlgorithm | undefined): Promise<BodyDigests> {
    const worker = this.#start();
    const id = this.#next++;
    if (this.#pending.size === 0) worker.ref();
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({
        id,
        buffer: data.buffer,
        offset: data.byteOffset,
        length: data.length,
        algorithm,
      });
    }).then((reply) => {
      const md5 = Buffer.from(reply.md5.buffer, reply.md5.byteOffset, reply.md5.length);
      const chunk =
        reply.chunk && Buffer.from(reply.chunk.buffer, reply.chunk.byteOffset, reply.chunk.length);
      return { length: data.length, md5, ...(chunk ? { chunk } : {}) };
    });
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on("message", (reply: Reply) => {
      const job = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) worker.unref();
      job?.resolve(reply);
    });
    const fail = (error: unknown) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      for (const job of this.#pending.values()) job.reject(error);
      this.#pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the digest worker exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }
}

const shared = new DigestWorker();

/**
 * Whether {@link digestOffThread} takes `data`: held in shared memory, at least
 * {@link OFF_THREAD_MIN_BYTES}, and `algorithm` (if any) one the worker computes.
 */
export function fitsOffThread(data: Buffer, algorithm: DigestAlgorithm | undefined): boolean {
  return (
    data.length >= OFF_THREAD_MIN_BYTES &&
    data.buffer instanceof SharedArrayBuffer &&
    (algorithm === undefined || WORKER_ALGORITHMS.has(algorithm))
  );
}

/**
 * The MD5 and the chunk digest (by `algorithm`, if given) of `data`, which
 * {@link fitsOffThread}, computed on the worker thread. `data` must not change until the
 * promise settles.
 */
export function digestOffThread(data: Buffer, algorithm: DigestAlgorithm | undefined): Promise<BodyDigests> {
  return shared.digest(data, algorithm);
}
