/**
 * Bytes of source chunks kept from the read that digested them, by key and version, so that a
 * changed chunk's block cut and its upload (or its assembled part's source pieces) take them
 * from memory instead of reading the source again. A read copies into a buffer it takes here
 * and gives it back as soon as its chunk is not kept, or when its object settles; buffers are
 * reused (fresh pages cost more to fault in and collect than the copy itself), and all of them
 * together, in use, kept or free, never pass `capacity` bytes (the run's concurrency times its
 * chunk size).
 */
export class KeptChunks {
  readonly #byKey = new Map<string, { etag: string; chunks: Map<number, Buffer>; buffers: Buffer[] }>();
  readonly #free: Buffer[] = [];
  /** Bytes of every buffer made and not dropped. */
  #held = 0;

  constructor(readonly capacity: number) {}

  /** A buffer of at least `length` bytes to read into; undefined where none is free and there is no room for one. */
  take(length: number): Buffer | undefined {
    let fit = -1;
    for (const [i, b] of this.#free.entries())
      if (b.length >= length && (fit < 0 || b.length < this.#free[fit]!.length)) fit = i;
    if (fit >= 0) return this.#free.splice(fit, 1)[0];
    // Free buffers too small for this read make room for it.
    while (this.#held + length > this.capacity && this.#free.length > 0)
      this.#held -= this.#free.pop()!.length;
    if (this.#held + length > this.capacity) return undefined;
    this.#held += length;
    return Buffer.allocUnsafeSlow(length);
  }

  /** Gives back a buffer taken and not kept. */
  give(buffer: Buffer): void {
    this.#free.push(buffer);
  }

  /**
   * Keeps the first `length` bytes of `buffer` (taken here) as the bytes at `offset` of `key`'s
   * version `etag`. What was kept of another version of the key is given back: a key has one
   * version in progress.
   */
  keep(key: string, etag: string, offset: number, buffer: Buffer, length: number): void {
    let kept = this.#byKey.get(key);
    if (kept !== undefined && kept.etag !== etag) {
      this.forget(key);
      kept = undefined;
    }
    if (kept === undefined) {
      kept = { etag, chunks: new Map(), buffers: [] };
      this.#byKey.set(key, kept);
    }
    kept.chunks.set(offset, buffer.subarray(0, length));
    kept.buffers.push(buffer);
  }

  /**
   * The bytes `[offset, offset + length)` of `key`'s version `etag` where kept chunks cover
   * all of them (one chunk's bytes as a view, bytes across chunks copied once); undefined
   * where any is not kept. A view is valid until the key is forgotten.
   */
  bytes(key: string, etag: string, range: { offset: number; length: number }): Buffer | undefined {
    const kept = this.#byKey.get(key);
    if (kept?.etag !== etag) return undefined;
    const pieces: Buffer[] = [];
    const end = range.offset + range.length;
    for (let at = range.offset; at < end; ) {
      const found = this.#covering(kept.chunks, at);
      if (found === undefined) return undefined;
      const [start, data] = found;
      pieces.push(data.subarray(at - start, Math.min(data.length, end - start)));
      at = start + data.length;
    }
    return pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, range.length);
  }

  /** Gives back what is kept of `key`. */
  forget(key: string): void {
    const kept = this.#byKey.get(key);
    if (kept === undefined) return;
    this.#byKey.delete(key);
    for (const buffer of kept.buffers) this.give(buffer);
  }

  /** The kept chunk holding byte `at`, with its offset. A changed object keeps a few chunks: a scan is enough. */
  #covering(chunks: Map<number, Buffer>, at: number): [number, Buffer] | undefined {
    for (const [start, data] of chunks) if (start <= at && at < start + data.length) return [start, data];
    return undefined;
  }
}
