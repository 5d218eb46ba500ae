import { type RetryOptions, withRetry } from "../retry.js";
import type { PartSource } from "./write.js";

/**
 * The bytes of `range` read into the two halves of `buffer` in turn, one ranged read per half,
 * and handed over as pieces (views of the half they landed in): while one half is sent, the next
 * bytes land in the other, so an object's read and its write overlap within one buffer and no
 * byte is copied on the way (a range the buffer holds whole is one read). A half is read into
 * again only once the piece after it was asked for, when the consumer is done with it (see the
 * storage port's WriteBody). A half's read that breaks is read again on its own (`retry`) before
 * its piece is handed over, so what was sent stands. `piece` sees each half once it landed
 * whole, while the next is read (the hashing of what is sent: a read that broke half-way must
 * not have been hashed).
 */
export class HalvesReader {
  /** Why a read failed, once one did: the body's consumer fails with it, and the caller tells the two apart. */
  failure: unknown;
  #inFlight: Promise<void> = Promise.resolve();
  readonly #halves: [Buffer, Buffer];
  readonly #stopped = new AbortController();
  /** The reads' retry, given up once the run's signal aborts or {@link stop} is called. */
  readonly #retry: RetryOptions;

  constructor(
    private readonly read: PartSource["readInto"],
    private readonly range: { offset: number; length: number },
    buffer: Buffer,
    retry: RetryOptions,
    private readonly piece?: (bytes: Buffer) => void,
  ) {
    // A range the buffer holds whole is one read: nothing is sent while it lands.
    const half = range.length <= buffer.length ? buffer.length : Math.max(1, Math.floor(buffer.length / 2));
    this.#halves = [buffer.subarray(0, half), buffer.subarray(half, 2 * half)];
    const stopped = this.#stopped.signal;
    this.#retry = { ...retry, signal: retry.signal ? AbortSignal.any([retry.signal, stopped]) : stopped };
  }

  /** The pieces, in order; read once. */
  async *pieces(): AsyncGenerator<Buffer> {
    let at = this.range.offset;
    const end = this.range.offset + this.range.length;
    const next = (n: number): Promise<Buffer> | undefined => {
      if (at >= end) return undefined;
      const into = this.#halves[n % 2]!.subarray(0, Math.min(this.#halves[0].length, end - at));
      const range = { offset: at, length: into.length };
      const reading = withRetry(() => this.read(range, { into }), this.#retry).then(
        () => into,
        (error: unknown) => {
          this.failure ??= error;
          throw error;
        },
      );
      at += into.length;
      // A read the consumer no longer waits for (it gave up) is awaited by `stop`, never left unhandled.
      this.#inFlight = reading.then(
        () => {},
        () => {},
      );
      return reading;
    };
    let reading = next(0);
    for (let n = 1; reading !== undefined; n++) {
      const landed = await reading;
      reading = next(n);
      this.piece?.(landed);
      yield landed;
    }
  }

  /**
   * Tries no read again, and settles once none lands in the buffer any more: before the buffer
   * is given back, once the consumer is done (or gave up).
   */
  stop(): Promise<void> {
    this.#stopped.abort();
    return this.#inFlight;
  }
}
