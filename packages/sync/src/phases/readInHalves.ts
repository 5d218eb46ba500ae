import type { BodySink } from "@chunksync/storage";
import { type RetryOptions, withRetry } from "../retry.js";
import type { PartSource } from "./write.js";

/** Why a read waiting for room gave up: its attempt ended, or the reader was stopped. */
function gaveUp(why: string): Error {
  return Object.assign(new Error(why), { name: "AbortError", code: "ABORT_ERR" });
}

/**
 * The bytes of `range` read by one read into the two halves of `buffer` in turn, and handed
 * over as pieces (views of the half they landed in): while one half is sent, the next bytes land
 * in the other, and where neither is free the read waits (over plain HTTP its socket pauses), so
 * an object's read and its write overlap within one buffer, no byte is copied on the way, and a
 * store far away costs one round trip per object, not one per half. A half is landed into again
 * only once the piece after it was asked for, when the consumer is done with it (see the storage
 * port's WriteBody). A read that breaks is read again (`retry`) from the first half not yet
 * handed over, so what was sent stands; a read that handed a half over since its last failure
 * has its attempts afresh. `piece` sees each half as it is handed over (the hashing of what is
 * sent: bytes of a read that broke before its half was whole are never hashed). A range the
 * buffer holds whole is one piece, unless `pieceSize` sets the pieces' size (the last shorter):
 * a body sent in signed chunks, each piece one chunk, in halves of that size, or in a buffer of
 * one piece where a strict memory budget has room for no more (each piece then read once the
 * one before it was sent).
 */
export class HalvesReader {
  /** Why the read failed, once it did: the body's consumer fails with it, and the caller tells the two apart. */
  failure: unknown;
  /** The read, settled once no attempt lands in the buffer any more (it never rejects). */
  #reading: Promise<void> = Promise.resolve();
  readonly #halves: [Buffer, Buffer];
  readonly #half: number;
  /** The halves pieces land in, in turn: one where the buffer holds one piece only. */
  readonly #slots: 1 | 2;
  readonly #stopped = new AbortController();
  /** Takes the listener off the run's signal. */
  readonly #unlink: (() => void) | undefined;
  /** The read's retry, given up once the run's signal aborts or {@link stop} is called. */
  readonly #retry: RetryOptions;
  /** Halves handed over, and of those the ones the consumer gave back (it asked for the next). */
  #handed = 0;
  #released = 0;
  /** Bytes of the range landed so far, by the attempt under way. */
  #landed = 0;
  /** The attempt under way: a room asked for by another is refused. */
  #attempt: object | undefined;
  #ended = false;
  /** Rooms asked for while neither half was free. */
  #waiting: { at: number; resolve(room: Buffer): void; reject(error: Error): void }[] = [];
  /** The consumer, waiting for bytes to land or the read to end. */
  #wake: (() => void) | undefined;

  constructor(
    private readonly read: PartSource["readInto"],
    private readonly range: { offset: number; length: number },
    buffer: Buffer,
    retry: RetryOptions,
    private readonly piece?: (bytes: Buffer) => void,
    pieceSize?: number,
  ) {
    // A range the buffer holds whole is one piece: nothing is sent while it lands.
    this.#half =
      pieceSize ??
      (range.length <= buffer.length ? buffer.length : Math.max(1, Math.floor(buffer.length / 2)));
    this.#halves = [buffer.subarray(0, this.#half), buffer.subarray(this.#half, 2 * this.#half)];
    // A second half shorter than a piece serves where it holds the last piece, the second.
    const two = buffer.length > this.#half && buffer.length >= Math.min(2 * this.#half, range.length);
    this.#slots = two ? 2 : 1;
    // The run's signal stops the read through a listener taken off at stop, not AbortSignal.any:
    // Node keeps an entry on the long-lived signal for every signal combined with it
    // (nodejs/node#55351), one per part streamed for the whole run.
    const run = retry.signal;
    const stopped = this.#stopped;
    if (run?.aborted) stopped.abort(run.reason);
    else if (run) {
      const onAbort = () => stopped.abort(run.reason);
      run.addEventListener("abort", onAbort, { once: true });
      this.#unlink = () => run.removeEventListener("abort", onAbort);
    }
    this.#retry = { ...retry, signal: stopped.signal };
  }

  /** The pieces, in order; read once. */
  async *pieces(): AsyncGenerator<Buffer> {
    const { length } = this.range;
    if (length === 0) return;
    this.#reading = this.#readAll();
    for (let k = 0; k * this.#half < length; k++) {
      const end = Math.min(length, (k + 1) * this.#half);
      while (this.#landed < end) {
        if (this.#ended) throw this.failure ?? gaveUp("the read ended before its range");
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
      const piece = this.#halves[k % this.#slots]!.subarray(0, end - k * this.#half);
      this.#handed = k + 1;
      this.piece?.(piece);
      yield piece;
      // Asked for the next piece: the consumer is done with this one, whose half is free again.
      this.#released = k + 1;
      this.#grant();
    }
  }

  /**
   * Tries no read again, and settles once none lands in the buffer any more: before the buffer
   * is given back, once the consumer is done (or gave up).
   */
  stop(): Promise<void> {
    this.#unlink?.();
    this.#stopped.abort();
    this.#refuse(gaveUp("the body's consumer stopped"));
    return this.#reading;
  }

  async #readAll(): Promise<void> {
    try {
      for (;;) {
        const handed = this.#handed;
        try {
          await withRetry(() => this.#readFrom(this.#handed * this.#half), this.#retry);
          return;
        } catch (error) {
          // Attempts afresh for a read that got further since its last failure.
          if (this.#handed === handed || this.#stopped.signal.aborted) throw error;
        }
      }
    } catch (error) {
      // A read given up because the consumer stopped is not why the body failed.
      if (!this.#stopped.signal.aborted) this.failure ??= error;
    } finally {
      this.#ended = true;
      this.#wake?.();
    }
  }

  /** One attempt: the range from its byte `from` on (the first half not handed over). */
  async #readFrom(from: number): Promise<void> {
    const attempt = {};
    this.#attempt = attempt;
    this.#landed = from;
    const sink: BodySink = {
      room: (at) => this.#room(attempt, from + at),
      piece: (bytes) => {
        this.#landed += bytes.length;
        this.#wake?.();
      },
    };
    try {
      await this.read({ offset: this.range.offset + from, length: this.range.length - from }, sink);
    } finally {
      this.#attempt = undefined;
      this.#refuse(gaveUp("the read's attempt ended"));
    }
  }

  /** Where the range's byte `at` lands: in its half, once that half is free (see BodySink.room). */
  #room(attempt: object, at: number): Buffer | Promise<Buffer> {
    if (attempt !== this.#attempt || this.#stopped.signal.aborted) {
      const refused = Promise.reject(gaveUp("the read's attempt ended"));
      refused.catch(() => {});
      return refused;
    }
    // Past the range: the body is longer than asked for (the store fails it).
    if (at >= this.range.length) return Buffer.alloc(0);
    return this.#free(at) ?? this.#later(at);
  }

  /** The room for byte `at` where its half is free: the half that held the piece two (or one) before it was given back. */
  #free(at: number): Buffer | undefined {
    const k = Math.floor(at / this.#half);
    if (k >= this.#released + this.#slots) return undefined;
    const end = Math.min(this.#half, this.range.length - k * this.#half);
    return this.#halves[k % this.#slots]!.subarray(at - k * this.#half, end);
  }

  #later(at: number): Promise<Buffer> {
    const later = new Promise<Buffer>((resolve, reject) => this.#waiting.push({ at, resolve, reject }));
    // A store may ask before its read needs the room, and not wait for it (see PlainGets).
    later.catch(() => {});
    return later;
  }

  /** Hands the rooms asked for to their reads, where their halves are free now. */
  #grant(): void {
    this.#waiting = this.#waiting.filter((w) => {
      const room = this.#free(w.at);
      if (room !== undefined) w.resolve(room);
      return room === undefined;
    });
  }

  #refuse(error: Error): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const w of waiting) w.reject(error);
  }
}
