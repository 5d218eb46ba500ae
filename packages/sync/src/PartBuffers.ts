/**
 * Buffers that parts are read into whole before their upload (a Content-MD5 goes before the
 * body), reused from one part to the next. A fresh buffer of a chunk's size is fresh pages:
 * faulting them in and collecting them afterwards cost a full copy about a fifth of its CPU.
 * Each part in flight holds its own buffer, so the limiter's concurrency bounds how many are in
 * use; at most `keep` are held between uses, the largest.
 */
export class PartBuffers {
  readonly #free: Buffer[] = [];

  constructor(readonly keep: number) {}

  /** Runs `use` with a buffer of at least `length` bytes, which is its alone until `use` settles. */
  async with<T>(length: number, use: (buffer: Buffer) => Promise<T>): Promise<T> {
    const at = this.#free.findIndex((b) => b.length >= length);
    const buffer = at >= 0 ? this.#free.splice(at, 1)[0]! : Buffer.allocUnsafeSlow(length);
    try {
      return await use(buffer);
    } finally {
      this.#free.push(buffer);
      if (this.#free.length > this.keep) {
        this.#free.sort((a, b) => b.length - a.length);
        this.#free.length = this.keep;
      }
    }
  }
}
