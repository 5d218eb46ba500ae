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
  readonly #held = new Map<string, { etag: string; reads: { offset: number; data: Buffer }[] }>();
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

  /** Holds `data`, read at `offset` of `key` at `etag`, in room reserved for it. */
  keep(key: string, etag: string, offset: number, data: Buffer): void {
    let entry = this.#held.get(key);
    if (entry !== undefined && !sameEtag(entry.etag, etag)) {
      this.forget(key);
      entry = undefined;
    }
    if (entry === undefined) {
      entry = { etag, reads: [] };
      this.#held.set(key, entry);
    }
    entry.reads.push({ offset, data });
  }

  /** The bytes of `range` of `key` at `etag`, where one held read covers them. */
  get(key: string, etag: string, range: ByteRange): Buffer | undefined {
    const entry = this.#held.get(key);
    if (entry === undefined || !sameEtag(entry.etag, etag)) return undefined;
    for (const { offset, data } of entry.reads) {
      const from = range.offset - offset;
      if (from >= 0 && from + range.length <= data.length) return data.subarray(from, from + range.length);
    }
    return undefined;
  }

  /** Drops what is held of `key`. */
  forget(key: string): void {
    const entry = this.#held.get(key);
    if (entry === undefined) return;
    for (const { data } of entry.reads) this.#size -= data.length;
    this.#held.delete(key);
  }
}
