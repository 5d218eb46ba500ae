import type { ReadTap } from "./blockReads.js";
/**
 * Room for bytes kept from reads, shared by both sides of a run: what they reserve together
 * never passes `capacity` bytes (the run's concurrency times its chunk size, what its part
 * uploads may hold), so keeping the destination's old bytes too costs no more memory than the
 * source's alone did.
 */
export class KeepRoom {
  #reserved = 0;
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

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resolve of waiting) resolve();
  }
}

/** A read's pieces held as they come, in room reserved for them, until its end says whether they are kept. */
export interface KeepTap {
  /**
   * Where the read lands (see `BodySink.into`): the pieces kept are views of it, where a read
   * that does not land in it would hand over views of a buffer its store reuses.
   */
  into: Buffer;
  piece(piece: Uint8Array): void;
  /** Hands every piece to `keep` where given and every byte reserved for came; else gives the room back. */
  end(keep?: (pieces: readonly Uint8Array[]) => void): void;
}

/**
 * Bytes of chunks kept from the read that digested or cut them, by key and version, so that a
 * later step takes them from memory instead of reading its store again: on the source a
 * changed chunk's block cut and its upload (or its assembled part's source pieces), on the
 * destination a block round's old bytes for the next round and the assembled part's old
 * pieces. A chunk is kept as the pieces its read delivered (a stream's reader owns the pieces it
 * is given: nothing writes them again), not copied: fresh pages for a copy cost more to fault in
 * than reading them did. Room is reserved in the run's {@link KeepRoom} before a read starts and
 * given back as soon as its chunk is not kept, or when its object settles.
 */
export class KeptChunks {
  readonly #byKey = new Map<string, { etag: string; chunks: Map<number, Kept>; bytes: number }>();

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
    if (!(await this.room.reserveInFlight(length, signal))) return undefined;
    const pieces: Uint8Array[] = [];
    let at = 0;
    return {
      // Its pages are touched only as the read fills them.
      into: Buffer.allocUnsafe(length),
      piece: (piece) => {
        pieces.push(piece);
        at += piece.length;
      },
      end: (keep) => {
        if (keep !== undefined && at === length) keep(pieces);
        else this.room.release(length);
        this.room.ended(length);
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
        end: (whole) =>
          tap.end(whole ? (pieces) => this.keep(key, etag, range.offset, pieces, range.length) : undefined),
      }
    );
  }

  /**
   * Keeps `pieces`, in order the `length` bytes at `offset` of `key`'s version `etag`, in room
   * reserved for them. What was kept of another version of the key is given back: a key has
   * one version in progress.
   */
  keep(key: string, etag: string, offset: number, pieces: readonly Uint8Array[], length: number): void {
    let kept = this.#byKey.get(key);
    if (kept !== undefined && kept.etag !== etag) {
      this.forget(key);
      kept = undefined;
    }
    if (kept === undefined) {
      kept = { etag, chunks: new Map(), bytes: 0 };
      this.#byKey.set(key, kept);
    }
    kept.chunks.set(offset, { length, pieces });
    kept.bytes += length;
  }

  /**
   * The bytes `[offset, offset + length)` of `key`'s version `etag`, in order, as views of the
   * kept pieces, where kept chunks cover all of them; undefined where any byte is not kept.
   */
  bytes(key: string, etag: string, range: { offset: number; length: number }): Buffer[] | undefined {
    const kept = this.#byKey.get(key);
    if (kept?.etag !== etag || range.length === 0) return undefined;
    const out: Buffer[] = [];
    const end = range.offset + range.length;
    for (let at = range.offset; at < end; ) {
      const found = this.#covering(kept.chunks, at);
      if (found === undefined) return undefined;
      let start = found.offset;
      for (const piece of found.chunk.pieces) {
        const from = Math.max(at, start);
        const to = Math.min(end, start + piece.length);
        if (from < to) out.push(Buffer.from(piece.buffer, piece.byteOffset + from - start, to - from));
        start += piece.length;
      }
      at = found.offset + found.chunk.length;
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
  }

  /** The kept chunk holding byte `at`. A changed object keeps a few chunks: a scan is enough. */
  #covering(chunks: Map<number, Kept>, at: number): { offset: number; chunk: Kept } | undefined {
    for (const [offset, chunk] of chunks)
      if (offset <= at && at < offset + chunk.length) return { offset, chunk };
    return undefined;
  }
}

interface Kept {
  length: number;
  pieces: readonly Uint8Array[];
}
