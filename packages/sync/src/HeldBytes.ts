import { type ByteRange, sameEtag } from "@chunksync/storage";

/**
 * Most bytes one side holds. A block exchange reads a changed chunk's bytes on each side for
 * its first round; its later rounds and the assembly of the chunk's part read the same chunk
 * again. Held, those bytes serve them from memory: a few chunks, for the objects in flight.
 */
export const HELD_BYTES = 32 * 1024 * 1024;

/**
 * Bytes a side read of its own objects, kept within a budget until the object's sync settles
 * (`forget`), so that later reads of the same ranges cost no request. Each read is held under
 * the version (ETag) it was pinned to: a version's bytes never change, and another version's
 * never serve.
 */
export class HeldBytes {
  readonly #held = new Map<string, { etag: string; reads: HeldRead[] }>();
  /** Bytes held and reserved for reads in flight. */
  #size = 0;

  constructor(readonly budget: number = HELD_BYTES) {}

  /**
   * Room for a read of `length` bytes, taken now: true when the caller is to `keep` (or
   * `release`) that many bytes once the read ends.
   */
  reserve(length: number): boolean {
    if (this.#size + length > this.budget) return false;
    this.#size += length;
    return true;
  }

  /** Gives back room reserved for a read that failed. */
  release(length: number): void {
    this.#size -= length;
  }

  /**
   * Holds the bytes read at `offset` of `key` at `etag`, in room reserved for them: the pieces
   * the read gave, in order, kept as they are (no copy).
   */
  keep(key: string, etag: string, offset: number, pieces: readonly Uint8Array[]): void {
    let entry = this.#held.get(key);
    if (entry !== undefined && !sameEtag(entry.etag, etag)) {
      this.forget(key);
      entry = undefined;
    }
    if (entry === undefined) {
      entry = { etag, reads: [] };
      this.#held.set(key, entry);
    }
    const length = pieces.reduce((n, p) => n + p.length, 0);
    entry.reads.push({ offset, length, pieces });
  }

  /** The bytes of `range` of `key` at `etag`, in pieces in order, where one held read covers them. */
  get(key: string, etag: string, range: ByteRange): Uint8Array[] | undefined {
    const entry = this.#held.get(key);
    if (entry === undefined || !sameEtag(entry.etag, etag)) return undefined;
    const read = entry.reads.find(
      (r) => range.offset >= r.offset && range.offset + range.length <= r.offset + r.length,
    );
    if (read === undefined) return undefined;
    const out: Uint8Array[] = [];
    const end = range.offset + range.length;
    let at = read.offset;
    for (const piece of read.pieces) {
      const from = Math.max(at, range.offset);
      const to = Math.min(at + piece.length, end);
      if (from < to) out.push(piece.subarray(from - at, to - at));
      at += piece.length;
      if (at >= end) break;
    }
    return out;
  }

  /** Drops what is held of `key`. */
  forget(key: string): void {
    const entry = this.#held.get(key);
    if (entry === undefined) return;
    for (const { length } of entry.reads) this.#size -= length;
    this.#held.delete(key);
  }
}

/** One read held: its pieces, in order, from `offset`. */
interface HeldRead {
  offset: number;
  length: number;
  pieces: readonly Uint8Array[];
}
