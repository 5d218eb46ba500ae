import { hash } from "node:crypto";
import { ChunksyncError } from "../errors.js";
import { BlockBytes } from "./blockBytes.js";
import { BlockList } from "./blockList.js";
import type { BlockParams } from "./blockParams.js";
import { validateBlockParams } from "./blockParams.js";
import { type CutRules, cutRules, gearCuts, MAX_CUT_PIECE } from "./gearCuts.js";

/**
 * Digest of a block's bytes unless the caller gives another: SHA-256. A match means the
 * destination reuses its own bytes in place of these, so it must be collision resistant.
 */
export const BLOCK_DIGEST = "sha256";
/** Bytes of a {@link BLOCK_DIGEST} digest. */
export const BLOCK_DIGEST_BYTES = 32;

/** The digest of one block's bytes, in one call. */
export type BlockDigest = (bytes: Uint8Array) => Buffer;

/**
 * {@link BLOCK_DIGEST} in one call: no hash object per block. A round digests hundreds of
 * thousands of blocks, and each hash object's native state outlived its block until the
 * collector ran (issue 12's memory bound).
 */
export const sha256Block: BlockDigest = (bytes) => hash(BLOCK_DIGEST, bytes, "buffer");

/**
 * Cuts one chunk's bytes into content-defined blocks (FastCDC: a gear rolling hash over a
 * 32-byte window, cut points only past `min`, a harder mask before `avg` and an easier one
 * after it, normalized chunking level 2, and a forced cut at `max`), digesting each block as it
 * passes: in place where it lies within one piece, else from a copy of its bytes (at most
 * `max`) once its last piece has come. Fed the chunk's bytes in any pieces it gives the same
 * blocks: feed it the same pieces that feed the chunk digest, in the one read pass.
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
  /** Offset in the object of the block being cut. */
  #offset: number;
  #fp = 0;
  readonly #digest: BlockDigest;
  /** Bytes of each digest `#digest` gives. */
  readonly #width: number;
  /** The bytes of the block being cut that came in earlier pieces. */
  readonly #held: BlockBytes;
  #ended = false;
  /** Where blocks go until taken: the caller's list, or one of the chunker's own made at the first block. */
  #blocks: BlockList | undefined;

  /**
   * @param offset - where the chunk starts in the object: block offsets are the object's
   * @param digest - digests each block; both sides must use the same
   * @param into - a list (as wide as `digest`'s digests) the blocks are appended to, for a
   *   reader that cuts many small ranges one after the other into one list: no list per range
   */
  constructor(params: BlockParams, offset = 0, digest: BlockDigest = sha256Block, into?: BlockList) {
    const valid = validateBlockParams(params);
    this.#rules = cutRules(valid);
    this.#held = new BlockBytes(valid.max);
    this.#offset = offset;
    this.#digest = digest;
    this.#width =
      into?.width ?? (digest === sha256Block ? BLOCK_DIGEST_BYTES : digest(new Uint8Array(0)).length);
    this.#blocks = into;
  }

  /** Feeds the next bytes of the chunk. */
  update(data: Uint8Array): void {
    if (this.#ended)
      throw new ChunksyncError("BLOCKS_ENDED", "end() was already called on this block chunker");
    const cuts = gearCuts();
    for (let at = 0; at < data.length; at += MAX_CUT_PIECE) {
      const piece = data.subarray(at, at + MAX_CUT_PIECE);
      const count = cuts.cut(piece, this.#held.length, this.#fp, this.#rules);
      let from = 0;
      for (let i = 0; i < count; i++) {
        const to = cuts.at(i);
        this.#emit(piece.subarray(from, to));
        from = to;
      }
      if (from < piece.length) {
        this.#held.keep(piece.subarray(from));
        this.#fp = cuts.fp;
      }
    }
  }

  /** Takes the blocks completed so far (each once), in order; with `into`, that list, and later blocks go to a new one. */
  take(): BlockList {
    const blocks = this.#blocks ?? new BlockList(this.#width, 0);
    this.#blocks = undefined;
    return blocks;
  }

  /** Ends the chunk: its last block, cut at the chunk's end, joins those not yet taken; returns them. */
  end(): BlockList {
    if (this.#ended)
      throw new ChunksyncError("BLOCKS_ENDED", "end() was already called on this block chunker");
    if (this.#held.length > 0) this.#emit(new Uint8Array(0));
    this.#ended = true;
    this.#held.release();
    return this.take();
  }

  /** Ends the block being cut with `tail`, its last bytes. */
  #emit(tail: Uint8Array): void {
    const bytes = this.#held.take(tail);
    // Small at first: a chunk holds few blocks.
    this.#blocks ??= new BlockList(this.#width, 8);
    this.#blocks.push(this.#offset, bytes.length, this.#digest(bytes));
    this.#offset += bytes.length;
    this.#fp = 0;
  }
}

/** The blocks of one chunk held whole in memory, starting at `offset` in the object. */
export function blocksOf(data: Uint8Array, params: BlockParams, offset = 0): BlockList {
  const chunker = new BlockChunker(params, offset);
  chunker.update(data);
  return chunker.end();
}
