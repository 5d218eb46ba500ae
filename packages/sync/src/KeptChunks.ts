import type { ReadTap } from "./blockReads.js";
/**
 * Room for bytes kept from reads, shared by both sides of a run: what they reserve together
 * never passes `capacity` bytes (the run's concurrency times its chunk size, what its part
 * uploads may hold), so keeping the destination's old bytes too costs no more memory than the
 * source's alone did. The buffers reads land in are handed out here and given back once their
 * bytes are not kept or no longer needed: a fresh chunk-sized buffer is fresh pages, and
 * faulting them in and collecting them cost an incremental run about a tenth of its CPU. Free
 * ones are held only while they and the room reserved fit the capacity together.
 */
export class KeepRoom {
  #reserved = 0;
  readonly #free: Buffer[] = [];
  #freeBytes = 0;
  /** Of `#reserved`, what reads in flight hold and give back at their end unless they keep it. */
  #inFlight = 0;
  /** Called once when room is given back or a read in flight ends. */
  #waiting: (() => void)[] = [];

  constructor(readonly capacity: number) {}

  /** Reserves room for `length` bytes to keep; false where that would pass the capacity. */
  reserve(length: number): boolean {
    if (this.#reserved + length > this.capacity) return false;
    this.#reserved += length;
    return true;
  }

  /** Gives back room reserved for bytes that are not kept. */
  release(length: number): void {
    this.#reserved -= length;
    this.#wake();
  }

  /**
   * Reserves room for a read in flight that may keep its `length` bytes: where reads in flight
   * hold the room, waits for one to end and tries again (most give their room back: the chunks
   * they read did not change), and gives up once none holds any, or on `signal`. A read of a
   * changed chunk that started while the reads beside it held all the room was read again for
   * its block cut and its upload: a wait of one read's end instead of a second read of the
   * chunk. No wait is for room that only an object's settling frees: a read ends on its own.
   * Settle what it reserved with {@link ended}.
   */
  async reserveInFlight(length: number, signal?: AbortSignal): Promise<boolean> {
    // More than the whole room never fits, however many reads end.
    if (length > this.capacity) return false;
    while (!this.reserve(length)) {
      if (this.#inFlight === 0 || signal?.aborted) return false;
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#inFlight += length;
    return true;
  }

  /** A read whose room {@link reserveInFlight} reserved has ended: its room is kept or given back now. */
  ended(length: number): void {
    this.#inFlight -= length;
    this.#wake();
  }

  /**
   * A buffer of `length` bytes for a read in room reserved for it: one given back earlier where
   * one of that length is free (free ones that no longer fit beside the room reserved are let
   * go), else a fresh one.
   */
  buffer(length: number): Buffer {
    const at = this.#free.findIndex((b) => b.length === length);
    const reused = at >= 0 ? this.#free.splice(at, 1)[0] : undefined;
    if (reused !== undefined) this.#freeBytes -= length;
    while (this.#free.length > 0 && this.#reserved + this.#freeBytes > this.capacity)
      this.#freeBytes -= this.#free.pop()!.length;
    // Its pages are touched only as a read fills them.
    return reused ?? Buffer.allocUnsafeSlow(length);
  }

  /** Takes back a buffer from {@link buffer} whose bytes nothing reads any more, for a later read. */
  recycle(buffer: Buffer): void {
    if (this.#reserved + this.#freeBytes + buffer.length > this.capacity) return;
    this.#free.push(buffer);
    this.#freeBytes += buffer.length;
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resolve of waiting) resolve();
  }
}

/** A read into a buffer in room reserved for it, until its end says whether its bytes are kept. */
export interface KeepTap {
  /**
   * Where the read lands (see `BodySink.into`): what is kept is this buffer, where a read that
   * does not land in it would hand over views of a buffer its store reuses.
   */
  into: Buffer;
  /** Counts a piece that landed in `into`. */
  piece(piece: Uint8Array): void;
  /**
   * Hands `into`, whole, to `keep` where given and every byte reserved for came (the pieces
   * were its views, in order); else gives the room and the buffer back.
   */
  end(keep?: (bytes: Buffer) => void): void;
}

/**
 * Bytes of chunks kept from the read that digested or cut them, by key and version, so that a
 * later step takes them from memory instead of reading its store again: on the source a
 * changed chunk's block cut and its upload (or its assembled part's source pieces), on the
 * destination a block round's old bytes for the next round and the assembled part's old
 * pieces. A chunk is kept as the buffer its read landed in (see `KeepTap.into`), not copied:
 * fresh pages for a copy cost more to fault in than reading them did. Room and buffer come from
 * the run's {@link KeepRoom} before a read starts and go back as soon as its chunk is not kept,
 * or when its object settles.
 */
export class KeptChunks {
  readonly #byKey = new Map<string, { etag: string; chunks: Map<number, Buffer>; bytes: number }>();

  /** `onServed` is told every byte count {@link bytes} hands out in place of a read. */
  constructor(
    readonly room: KeepRoom,
    readonly onServed?: (bytes: number) => void,
  ) {}

  /**
   * A tap for a read of `length` bytes, in room reserved for them, where reads in flight beside
   * it may give the room it needs back: it waits for them (see {@link KeepRoom.reserveInFlight});
   * undefined where none is left.
   */
  async tapInFlight(length: number, signal?: AbortSignal): Promise<KeepTap | undefined> {
    const { room } = this;
    if (!(await room.reserveInFlight(length, signal))) return undefined;
    const into = room.buffer(length);
    let at = 0;
    return {
      into,
      piece: (piece) => {
        at += piece.length;
      },
      end: (keep) => {
        if (keep !== undefined && at === length) keep(into);
        else {
          room.release(length);
          room.recycle(into);
        }
        room.ended(length);
      },
    };
  }

  /**
   * A tap for a read of `range` of `key`'s version `etag` that keeps its pieces where it ends
   * whole (`end(true)`), in room that reads in flight beside it may give back first (see
   * {@link tapInFlight}): the reads a source starts ahead of a challenge reserve room for the
   * chunks they may keep, and most give it back as they end; a block round that found none
   * free at once read its old bytes again for the next round and the assembled part. Undefined
   * where there is no room.
   */
  async keeping(
    key: string,
    etag: string,
    range: { offset: number; length: number },
    signal?: AbortSignal,
  ): Promise<ReadTap | undefined> {
    const tap = await this.tapInFlight(range.length, signal);
    return (
      tap && {
        into: tap.into,
        piece: tap.piece,
        end: (whole) => tap.end(whole ? (bytes) => this.keep(key, etag, range.offset, bytes) : undefined),
      }
    );
  }

  /**
   * Keeps `bytes`, a buffer of the room's (see `KeepRoom.buffer`) holding the bytes at `offset`
   * of `key`'s version `etag`, in room reserved for them. What was kept of another version of
   * the key is given back: a key has one version in progress.
   */
  keep(key: string, etag: string, offset: number, bytes: Buffer): void {
    let kept = this.#byKey.get(key);
    if (kept !== undefined && kept.etag !== etag) {
      this.forget(key);
      kept = undefined;
    }
    if (kept === undefined) {
      kept = { etag, chunks: new Map(), bytes: 0 };
      this.#byKey.set(key, kept);
    }
    kept.chunks.set(offset, bytes);
    kept.bytes += bytes.length;
  }

  /**
   * The bytes `[offset, offset + length)` of `key`'s version `etag`, in order, as views of the
   * kept chunks, where they cover all of them; undefined where any byte is not kept. The views
   * are valid until the key is forgotten: its buffers then serve other reads.
   */
  bytes(key: string, etag: string, range: { offset: number; length: number }): Buffer[] | undefined {
    const kept = this.#byKey.get(key);
    if (kept?.etag !== etag || range.length === 0) return undefined;
    const out: Buffer[] = [];
    const end = range.offset + range.length;
    for (let at = range.offset; at < end; ) {
      const found = this.#covering(kept.chunks, at);
      if (found === undefined) return undefined;
      const { offset, chunk } = found;
      out.push(chunk.subarray(at - offset, Math.min(end, offset + chunk.length) - offset));
      at = offset + chunk.length;
    }
    this.onServed?.(range.length);
    return out;
  }

  /** Gives back the room of what is kept of `key`. */
  forget(key: string): void {
    const kept = this.#byKey.get(key);
    if (kept === undefined) return;
    this.#byKey.delete(key);
    this.room.release(kept.bytes);
    for (const chunk of kept.chunks.values()) this.room.recycle(chunk);
  }

  /** The kept chunk holding byte `at`. A changed object keeps a few chunks: a scan is enough. */
  #covering(chunks: Map<number, Buffer>, at: number): { offset: number; chunk: Buffer } | undefined {
    for (const [offset, chunk] of chunks)
      if (offset <= at && at < offset + chunk.length) return { offset, chunk };
    return undefined;
  }
}
