import { createDigester, type Digester } from "../digest.js";
import { ChunksyncError } from "../errors.js";
import type { BlockParams } from "./blockParams.js";
import { validateBlockParams } from "./blockParams.js";
import { type CutRules, cutRules, gearCuts, MAX_CUT_PIECE } from "./gearCuts.js";

/** A content-defined block: its place in the object and the digest of its bytes. */
export interface Block {
  readonly offset: number;
  readonly length: number;
  readonly digest: Buffer;
}

/**
 * Digest of a block's bytes unless the caller gives another: SHA-256. A match means the
 * destination reuses its own bytes in place of these, so it must be collision resistant.
 */
export const BLOCK_DIGEST = "sha256";

const sha256Blocks = (): Digester => createDigester(BLOCK_DIGEST);

/**
 * Cuts one chunk's bytes into content-defined blocks (FastCDC: a gear rolling hash over a
 * 32-byte window, cut points only past `min`, a harder mask before `avg` and an easier one
 * after it, normalized chunking level 2, and a forced cut at `max`), digesting each block as it
 * passes. Fed the chunk's bytes in any pieces it gives the same blocks: feed it the same pieces
 * that feed the chunk digest, in the one read pass.
 *
 * Blocks never cross a chunk boundary: one chunker per chunk, started at the chunk's offset and
 * ended at its end. Whoever reads a chunk (a worker's ranged read, either side) can then cut its
 * blocks alone, in parallel with other chunks, and a chunk digest and its blocks come from the
 * same bytes. The price: where an insertion or deletion shifts content against the chunk grid,
 * each grid boundary after it cuts a block the other side does not have, and the cut chain needs
 * about a block to fall back in step: about 1.4 % of the bytes after the shift (3.4 MiB for
 * 100 bytes inserted near the start of 256 MiB). {@link guessGaps} wins it back: those blocks
 * sit between matches exactly their length apart, so the destination can confirm them by
 * digesting its own bytes (102 KiB then cross). Blocks over the whole object would avoid the
 * cost but need one sequential pass over it, which the parallel chunk reads cannot give.
 */
export class BlockChunker {
  readonly #rules: CutRules;
  /** Offset in the object of the block being cut, and how many of its bytes have passed. */
  #offset: number;
  #length = 0;
  #fp = 0;
  readonly #digester: () => Digester;
  #hash: Digester;
  #ended = false;
  readonly #blocks: Block[] = [];

  /**
   * @param offset - where the chunk starts in the object: block offsets are the object's
   * @param digester - starts the digest of each block; both sides must use the same
   */
  constructor(params: BlockParams, offset = 0, digester: () => Digester = sha256Blocks) {
    this.#rules = cutRules(validateBlockParams(params));
    this.#offset = offset;
    this.#digester = digester;
    this.#hash = digester();
  }

  /** Feeds the next bytes of the chunk. */
  update(data: Uint8Array): void {
    if (this.#ended)
      throw new ChunksyncError("BLOCKS_ENDED", "end() was already called on this block chunker");
    const cuts = gearCuts();
    for (let at = 0; at < data.length; at += MAX_CUT_PIECE) {
      const piece = data.subarray(at, at + MAX_CUT_PIECE);
      const count = cuts.cut(piece, this.#length, this.#fp, this.#rules);
      let from = 0;
      for (let i = 0; i < count; i++) {
        const to = cuts.at(i);
        this.#hash.update(piece.subarray(from, to));
        this.#emit(this.#length + to - from);
        from = to;
      }
      if (from < piece.length) {
        this.#hash.update(piece.subarray(from));
        this.#length += piece.length - from;
        this.#fp = cuts.fp;
      }
    }
  }

  /** Takes the blocks completed so far (each once), in order. */
  take(): Block[] {
    return this.#blocks.splice(0);
  }

  /** Ends the chunk: its last block, cut at the chunk's end, joins those not yet taken; returns them. */
  end(): Block[] {
    if (this.#ended)
      throw new ChunksyncError("BLOCKS_ENDED", "end() was already called on this block chunker");
    if (this.#length > 0) this.#emit(this.#length);
    this.#ended = true;
    return this.take();
  }

  #emit(length: number): void {
    // A digest comes in a buffer of its own (about 0.5 KB with its bookkeeping); copied, it is
    // 32 bytes of a shared pool slab, which is what a million blocks of an object can afford.
    this.#blocks.push(
      Object.freeze({ offset: this.#offset, length, digest: Buffer.from(this.#hash.digest()) }),
    );
    this.#offset += length;
    this.#length = 0;
    this.#fp = 0;
    this.#hash = this.#digester();
  }
}

/** The blocks of one chunk held whole in memory, starting at `offset` in the object. */
export function blocksOf(data: Uint8Array, params: BlockParams, offset = 0): Block[] {
  const chunker = new BlockChunker(params, offset);
  chunker.update(data);
  return chunker.end();
}
