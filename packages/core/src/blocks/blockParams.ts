import { KiB, MAX_OBJECT_SIZE, MiB } from "../chunkPlan.js";
import { ValidationError } from "../errors.js";

/**
 * How content-defined blocks are cut. `avg` is a power of two: a cut is taken where the low
 * bits of the rolling hash's top end are zero, so the block size averages about `avg`;
 * `min` is never hashed (the skip that makes cutting fast) and `max` forces a cut.
 * Both sides of a comparison must use the same parameters, or no block will match.
 */
export interface BlockParams {
  readonly min: number;
  readonly avg: number;
  readonly max: number;
}

/** Average block size for objects up to 64 GiB: an 8 MiB chunk holds about 128 blocks. */
export const DEFAULT_AVG_BLOCK = 64 * KiB;
/** Most blocks an object should need on average: bounds the digests held and sent per object. */
export const TARGET_MAX_BLOCKS = 2 ** 20;
/** Smallest `min` allowed: above the 32-byte window of the rolling hash. */
const MIN_MIN = 64;

/**
 * Block parameters for an object of `size` bytes: `avg = max(64 KiB, 2^ceil(log2(size / 2^20)))`,
 * `min = avg / 4`, `max = 4 * avg`. Up to 64 GiB that is 64 KiB; above, the average doubles so an
 * object has at most about 2^20 blocks on average (plus one partial block per chunk, since blocks
 * never cross a chunk boundary; at most 10,000 more). At S3's 5 TiB the average is 8 MiB.
 *
 * Pass the larger of the old and the new size so both sides pick the same parameters even when
 * an edit moves the object across a power of two.
 *
 * @throws ValidationError unless `size` is a non-negative safe integer up to {@link MAX_OBJECT_SIZE}
 */
export function blockParams(size: number): BlockParams {
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_OBJECT_SIZE)
    throw new ValidationError("size", `a whole number of bytes from 0 to ${MAX_OBJECT_SIZE}`);
  let avg = DEFAULT_AVG_BLOCK;
  while (avg * TARGET_MAX_BLOCKS < size) avg *= 2;
  return Object.freeze({ min: avg / 4, avg, max: avg * 4 });
}

/**
 * Checks parameters given by a caller or received from the other side.
 *
 * @throws ValidationError unless `avg` is a power of two from 256 bytes to 1 GiB and
 * `64 <= min < avg <= max` are whole numbers.
 */
export function validateBlockParams(params: BlockParams, field = "blockParams"): BlockParams {
  const { min, avg, max } = params ?? {};
  if (!Number.isSafeInteger(avg) || avg < 256 || avg > 1024 * MiB || (avg & (avg - 1)) !== 0)
    throw new ValidationError(`${field}.avg`, "a power of two from 256 bytes to 1 GiB");
  if (!Number.isSafeInteger(min) || min < MIN_MIN || min >= avg)
    throw new ValidationError(`${field}.min`, `a whole number of bytes from ${MIN_MIN} to avg - 1`);
  if (!Number.isSafeInteger(max) || max < avg)
    throw new ValidationError(`${field}.max`, "a whole number of bytes of at least avg");
  return Object.freeze({ min, avg, max });
}
