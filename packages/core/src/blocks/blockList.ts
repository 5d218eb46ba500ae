import { ValidationError } from "../errors.js";

/** A content-defined block: its place in the object and the digest of its bytes. */
export interface Block {
  readonly offset: number;
  readonly length: number;
  readonly digest: Buffer;
}

/** A block list as JSON keeps it: each array base64url, big-endian. */
export interface StoredBlockList {
  width: number;
  offsets: string;
  lengths: string;
  digests: string;
}

const INITIAL_CAPACITY = 64;

/**
 * Blocks held as arrays, not objects: an object of a million blocks cannot afford a JS object
 * and a Buffer per block (about 0.6 KB each, issue 12), so each block is 8 bytes of offset, 4
 * of length and `width` of digest (32 for a raw SHA-256, 16 for a tag) in growable typed arrays.
 * Digests are compared in place ({@link sameDigest}); a Buffer is made for one only on request.
 */
export class BlockList {
  /** Bytes of each digest. */
  readonly width: number;
  #offsets: Float64Array;
  #lengths: Uint32Array;
  #digests: Buffer;
  #count = 0;

  constructor(width: number, capacity = INITIAL_CAPACITY) {
    if (!Number.isSafeInteger(width) || width < 0)
      throw new ValidationError("width", "a whole number of bytes per digest");
    this.width = width;
    this.#offsets = new Float64Array(capacity);
    this.#lengths = new Uint32Array(capacity);
    this.#digests = Buffer.alloc(capacity * width);
  }

  /**
   * A list over `offsets`, `lengths` and `digests` themselves (not copied), each holding
   * `lengths.length` blocks: a response's tags become a list without a second copy.
   *
   * @throws ValidationError where the arrays do not hold the same number of blocks
   */
  static over(width: number, offsets: Float64Array, lengths: Uint32Array, digests: Buffer): BlockList {
    const count = lengths.length;
    if (offsets.length !== count || digests.length !== count * width)
      throw new ValidationError("blocks", "offsets, lengths and digests of as many blocks");
    const list = new BlockList(width, 0);
    list.#offsets = offsets;
    list.#lengths = lengths;
    list.#digests = digests;
    list.#count = count;
    return list;
  }

  /** Number of blocks. */
  get count(): number {
    return this.#count;
  }

  offset(i: number): number {
    return this.#offsets[i] as number;
  }

  length(i: number): number {
    return this.#lengths[i] as number;
  }

  /** Block `i`'s digest: a view of the list's own bytes, valid until the list grows. */
  digest(i: number): Buffer {
    return this.#digests.subarray(i * this.width, (i + 1) * this.width);
  }

  /** The first 4 bytes of block `i`'s digest (of at least 4) as a number: a hash key, as digests are uniform. */
  digestKey(i: number): number {
    return this.#digests.readUInt32LE(i * this.width);
  }

  /** Whether block `i` here and block `j` of `other` have the same length and digest. */
  sameBlock(i: number, other: BlockList, j: number): boolean {
    const w = this.width;
    return (
      this.length(i) === other.length(j) &&
      w === other.width &&
      this.#digests.compare(other.#digests, j * w, (j + 1) * w, i * w, (i + 1) * w) === 0
    );
  }

  /** Block `i` as an object (for tests and reports; the lists exist so that hot paths need none). */
  at(i: number): Block {
    return { offset: this.offset(i), length: this.length(i), digest: Buffer.from(this.digest(i)) };
  }

  /** Each block as an object, in order (for tests and reports). */
  *[Symbol.iterator](): IterableIterator<Block> {
    for (let i = 0; i < this.#count; i++) yield this.at(i);
  }

  /** Appends a block; `digest` is copied. */
  push(offset: number, length: number, digest: Uint8Array): void {
    if (digest.length !== this.width) throw new ValidationError("digest", `a digest of ${this.width} bytes`);
    if (this.#count === this.#lengths.length) this.#grow(Math.max(INITIAL_CAPACITY, 2 * this.#count));
    const i = this.#count++;
    this.#offsets[i] = offset;
    this.#lengths[i] = length;
    this.#digests.set(digest, i * this.width);
  }

  /** Appends blocks `from` to `to` (excluded) of `other`, in order: all of them by default. */
  append(other: BlockList, from = 0, to = other.#count): void {
    if (other.width !== this.width) throw new ValidationError("digest", `digests of ${this.width} bytes`);
    const w = this.width;
    const n = this.#count + to - from;
    if (n > this.#lengths.length) this.#grow(Math.max(n, 2 * this.#lengths.length));
    this.#offsets.set(other.#offsets.subarray(from, to), this.#count);
    this.#lengths.set(other.#lengths.subarray(from, to), this.#count);
    this.#digests.set(other.#digests.subarray(from * w, to * w), this.#count * w);
    this.#count = n;
  }

  /** Drops every block from `count` on (a read that broke leaves blocks it must cut again). */
  truncate(count: number): void {
    if (count < this.#count) this.#count = Math.max(0, count);
  }

  /** Every digest, concatenated in order (a view). */
  digests(): Buffer {
    return this.#digests.subarray(0, this.#count * this.width);
  }

  /** Each length as a big-endian u32, concatenated in order. */
  lengthBytes(): Buffer {
    const out = Buffer.alloc(this.#count * 4);
    for (let i = 0; i < this.#count; i++) out.writeUInt32BE(this.length(i), i * 4);
    return out;
  }

  /** Index of the block at `offset`, or -1; the offsets must be ascending. */
  find(offset: number): number {
    let lo = 0;
    let hi = this.#count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.#offsets[mid] as number;
      if (at === offset) return mid;
      if (at < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** The byte ranges the blocks cover, neighbours joined. */
  ranges(): { offset: number; length: number }[] {
    const out: { offset: number; length: number }[] = [];
    for (let i = 0; i < this.#count; i++) {
      const offset = this.offset(i);
      const last = out.at(-1);
      if (last !== undefined && last.offset + last.length === offset) last.length += this.length(i);
      else out.push({ offset, length: this.length(i) });
    }
    return out;
  }

  /** The list as JSON keeps it. */
  store(): StoredBlockList {
    const offsets = Buffer.alloc(this.#count * 8);
    for (let i = 0; i < this.#count; i++) offsets.writeDoubleBE(this.offset(i), i * 8);
    return {
      width: this.width,
      offsets: offsets.toString("base64url"),
      lengths: this.lengthBytes().toString("base64url"),
      digests: this.digests().toString("base64url"),
    };
  }

  /**
   * The inverse of {@link store}.
   *
   * @throws ValidationError where the arrays do not hold the same number of blocks
   */
  static load(stored: StoredBlockList): BlockList {
    const offsets = Buffer.from(stored.offsets, "base64url");
    const lengths = Buffer.from(stored.lengths, "base64url");
    const digests = Buffer.from(stored.digests, "base64url");
    const count = lengths.length / 4;
    if (!Number.isInteger(count) || offsets.length !== count * 8 || digests.length !== count * stored.width)
      throw new ValidationError("blocks", "offsets, lengths and digests of as many blocks");
    const list = new BlockList(stored.width, count);
    for (let i = 0; i < count; i++)
      list.push(
        offsets.readDoubleBE(i * 8),
        lengths.readUInt32BE(i * 4),
        digests.subarray(i * stored.width, (i + 1) * stored.width),
      );
    return list;
  }

  #grow(capacity: number): void {
    const offsets = new Float64Array(capacity);
    offsets.set(this.#offsets.subarray(0, this.#count));
    const lengths = new Uint32Array(capacity);
    lengths.set(this.#lengths.subarray(0, this.#count));
    const digests = Buffer.alloc(capacity * this.width);
    this.digests().copy(digests);
    this.#offsets = offsets;
    this.#lengths = lengths;
    this.#digests = digests;
  }
}
