/**
 * Bytes of source chunks kept from the read that digested them, by key and version, so that a
 * changed chunk's block cut and its upload (or its assembled part's source pieces) take them
 * from memory instead of reading the source again. Room is reserved before a read starts and
 * released as soon as the chunk is not kept, or when its object settles: what is held, in
 * flight or kept, never passes `capacity` bytes (the run's concurrency times its chunk size).
 */
export class KeptChunks {
  readonly #byKey = new Map<string, { etag: string; chunks: Map<number, Buffer>; bytes: number }>();
  #reserved = 0;

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
  }

  /**
   * Keeps `data`, the bytes at `offset` of `key`'s version `etag`, in room reserved for it.
   * Bytes of another version of the key are dropped: a key has one version in progress.
   */
  keep(key: string, etag: string, offset: number, data: Buffer): void {
    let kept = this.#byKey.get(key);
    if (kept !== undefined && kept.etag !== etag) {
      this.forget(key);
      kept = undefined;
    }
    if (kept === undefined) {
      kept = { etag, chunks: new Map(), bytes: 0 };
      this.#byKey.set(key, kept);
    }
    kept.chunks.set(offset, data);
    kept.bytes += data.length;
  }

  /**
   * The bytes `[offset, offset + length)` of `key`'s version `etag` where kept chunks cover
   * all of them (one chunk's bytes as a view, bytes across chunks copied once); undefined
   * where any is not kept.
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

  /** Drops what is kept of `key` and gives back its room. */
  forget(key: string): void {
    const kept = this.#byKey.get(key);
    if (kept === undefined) return;
    this.#byKey.delete(key);
    this.release(kept.bytes);
  }

  /** The kept chunk holding byte `at`, with its offset. A changed object keeps a few chunks: a scan is enough. */
  #covering(chunks: Map<number, Buffer>, at: number): [number, Buffer] | undefined {
    for (const [start, data] of chunks) if (start <= at && at < start + data.length) return [start, data];
    return undefined;
  }
}
