import { formatBytes, MiB } from "./chunkPlan.js";
import { ChunksyncError, ValidationError } from "./errors.js";

/**
 * The memory a write may hold in chunk buffers at once. A part sent from the source, or
 * assembled on the destination's side, is read whole into a buffer of its object's chunk size
 * before its upload (its Content-MD5 goes before the body), and chunks grow with the object
 * (525 MiB at 5 TiB, so that no object needs over 10,000 parts): the buffers in flight, not
 * the requests, are what a budget must bound.
 */
export interface MemoryBudget {
  /** Bytes of chunk buffers held at once, in use or kept for the next part. */
  readonly bytes: number;
  /**
   * `bytes` is all the memory there is (a Lambda function's): an object whose single chunk
   * passes it fails before its write ({@link MemoryBudgetError}). Otherwise such a chunk is
   * read alone, with no other buffer held.
   */
  readonly strict: boolean;
  /** Where `bytes` comes from, as an error names it. */
  readonly of: string;
}

/**
 * Memory a Lambda function keeps for everything but chunk buffers: Node and the SDK, the step's
 * records (a decision of up to 10,000 parts), digest states and the reads in flight. The CLI
 * measures 150-200 MB of such memory at its peaks.
 */
export const LAMBDA_RESERVE = 256 * MiB;

/**
 * The budget of a Lambda function with `memoryMb` of memory (Lambda's
 * `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in binary MB) less {@link LAMBDA_RESERVE}: strict, as the
 * function is stopped when it passes its memory.
 *
 * @throws ValidationError unless `memoryMb` is a positive whole number
 */
export function lambdaMemoryBudget(memoryMb: number): MemoryBudget {
  if (!Number.isSafeInteger(memoryMb) || memoryMb <= 0)
    throw new ValidationError("env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "a whole number of MB");
  return {
    bytes: Math.max(0, memoryMb * MiB - LAMBDA_RESERVE),
    strict: true,
    of: `this Lambda function's ${memoryMb} MB less ${formatBytes(LAMBDA_RESERVE)} for the runtime`,
  };
}

/**
 * The budget of a run of `concurrency` requests with chunks of `chunkSize` (the requested size,
 * as `--chunk-size` gives it): the buffers its parts held before chunks grew. Not strict: a
 * grown chunk larger than it is read alone.
 */
export function concurrencyMemoryBudget(concurrency: number, chunkSize: number): MemoryBudget {
  return {
    bytes: concurrency * chunkSize,
    strict: false,
    of: `${concurrency} requests x ${formatBytes(chunkSize)} chunks`,
  };
}

/**
 * Whether a buffer of `size` bytes may be taken while buffers of `held` bytes are held: where
 * both fit the budget, and always where none is held, so that a part is never left without
 * one (a strict budget refuses such a write before it starts: see {@link checkChunkBuffer}).
 * Of chunks of one size, `max(1, floor(bytes / size))` are held at once: 2 of a 5 TiB
 * object's 525 MiB in a 1,769 MB function, 8 of 8 MiB in the CLI's default 64 MiB.
 */
export function admitsBuffer(budget: MemoryBudget, held: number, size: number): boolean {
  return held === 0 || held + size <= budget.bytes;
}

/**
 * Fails the write of `key` before it starts where one chunk buffer of `size` bytes alone passes
 * a strict budget: reading it would pass the memory there is.
 *
 * @throws MemoryBudgetError
 */
export function checkChunkBuffer(key: string, size: number, budget: MemoryBudget): void {
  if (budget.strict && size > budget.bytes) throw new MemoryBudgetError(key, size, budget);
}

/** An object's chunk is larger than the memory there is for chunk buffers (see {@link MemoryBudget}). */
export class MemoryBudgetError extends ChunksyncError {
  readonly key: string;
  constructor(key: string, chunkSize: number, budget: MemoryBudget) {
    super(
      "MEMORY_BUDGET",
      `${key}: its chunks of ${formatBytes(chunkSize)} (${chunkSize} bytes) are each read whole into memory to be written, ` +
        `but only ${formatBytes(budget.bytes)} (${budget.bytes} bytes) is there for chunk buffers (${budget.of}); ` +
        "give the destination's functions more memory",
      { details: { key, chunkSize, budget: budget.bytes } },
    );
    this.key = key;
  }
}
