import { admitsBuffer, type MemoryBudget } from "@chunksync/core";

/**
 * Buffers that parts are read into whole before their upload (a Content-MD5 goes before the
 * body), one of its object's chunk size each, reused from one part to the next: a fresh buffer
 * of a chunk's size is fresh pages, and faulting them in and collecting them afterwards cost a
 * full copy about a fifth of its CPU. Every buffer held, in use or kept for the next part,
 * counts against the budget (see `admitsBuffer`), so a part waits for room: the chunks of a
 * very large object, grown to keep it within 10,000 parts, are read fewer at a time instead of
 * past the memory there is. Parts waiting are served in the order they came.
 */
export class PartBuffers {
  readonly #free: Buffer[] = [];
  readonly #waiting: { size: number; take: (buffer: Buffer) => void }[] = [];
  /** Bytes of every buffer held, in use and free. */
  #held = 0;

  constructor(readonly budget: MemoryBudget) {}

  /** Runs `use` with a buffer of `size` bytes, its alone until `use` settles, once there is room for it. */
  async with<T>(size: number, use: (buffer: Buffer) => Promise<T>): Promise<T> {
    const buffer =
      (this.#waiting.length === 0 ? this.#take(size) : undefined) ??
      (await new Promise<Buffer>((take) => this.#waiting.push({ size, take })));
    try {
      return await use(buffer);
    } finally {
      this.#free.push(buffer);
      this.#serve();
    }
  }

  /** Hands buffers to the parts waiting, first come first, while there is room for the first. */
  #serve(): void {
    for (let next = this.#waiting[0]; next !== undefined; next = this.#waiting[0]) {
      const buffer = this.#take(next.size);
      if (buffer === undefined) return;
      this.#waiting.shift();
      next.take(buffer);
    }
  }

  /**
   * A free buffer of `size` bytes, or a new one where the budget has room for it once free ones
   * of other sizes are dropped; undefined where it has none.
   */
  #take(size: number): Buffer | undefined {
    const at = this.#free.findIndex((b) => b.length === size);
    if (at >= 0) return this.#free.splice(at, 1)[0];
    let free = 0;
    for (const b of this.#free) free += b.length;
    if (!admitsBuffer(this.budget, this.#held - free, size)) return undefined;
    while (!admitsBuffer(this.budget, this.#held, size)) this.#held -= this.#free.pop()!.length;
    this.#held += size;
    return Buffer.allocUnsafeSlow(size);
  }
}
