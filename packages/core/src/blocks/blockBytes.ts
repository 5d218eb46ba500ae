/**
 * Buffers that held a block's bytes, kept for the next block: a round digests up to hundreds
 * of thousands of ranges, only a few at a time, and a buffer each would be churn the allocator
 * frees late (issue 12's memory bound). Small ones only, and a few.
 */
const spare: Buffer[] = [];
const MAX_SPARE = 16;
const MAX_SPARE_BYTES = 1024 * 1024;

/**
 * The bytes of one block as they arrive in pieces, so that the block is digested in one call
 * (no hash object per block, whose native state outlived it until the collector ran). Holds at
 * most `longest` bytes: the caller's longest block.
 */
export class BlockBytes {
  readonly #longest: number;
  #held: Buffer | undefined;
  #length = 0;

  constructor(longest: number) {
    this.#longest = longest;
  }

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Copies `bytes` after those held. */
  keep(bytes: Uint8Array): void {
    const length = this.#length + bytes.length;
    if (this.#held === undefined || this.#held.length < length) this.#grow(length);
    (this.#held as Buffer).set(bytes, this.#length);
    this.#length = length;
  }

  /**
   * The whole block: those held and then `tail` (`tail` itself, not copied, where none are
   * held). Empties this for the next block; the view returned is valid until then.
   */
  take(tail: Uint8Array): Uint8Array {
    if (this.#length === 0) return tail;
    this.keep(tail);
    const bytes = (this.#held as Buffer).subarray(0, this.#length);
    this.#length = 0;
    return bytes;
  }

  /** Gives the buffer back for other blocks: call once done with every block. */
  release(): void {
    giveBack(this.#held);
    this.#held = undefined;
    this.#length = 0;
  }

  /**
   * A buffer of at least `length` bytes holding those held: at first one for the longest block
   * (up to the size kept spare), so that a block seldom moves, and a spare one where one fits.
   */
  #grow(length: number): void {
    const first = Math.min(this.#longest, MAX_SPARE_BYTES);
    const size = Math.max(length, this.#held === undefined ? first : 2 * this.#held.length);
    const reused = spare.findIndex((b) => b.length >= size);
    const grown = reused >= 0 ? (spare.splice(reused, 1)[0] as Buffer) : Buffer.allocUnsafe(size);
    this.#held?.copy(grown, 0, 0, this.#length);
    giveBack(this.#held);
    this.#held = grown;
  }
}

function giveBack(buffer: Buffer | undefined): void {
  if (buffer !== undefined && buffer.length <= MAX_SPARE_BYTES && spare.length < MAX_SPARE)
    spare.push(buffer);
}
