import {
  admitsBuffer,
  checkChunkBuffer,
  concurrencyMemoryBudget,
  DEFAULT_CHUNK_SIZE,
  GiB,
  LAMBDA_RESERVE,
  lambdaMemoryBudget,
  MAX_CHUNK_SIZE,
  type MemoryBudget,
  MemoryBudgetError,
  MIN_CHUNK_SIZE,
  MiB,
  planChunks,
  TiB,
  ValidationError,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

/** How many chunk buffers of `size` the budget admits one after the other, none given back. */
function buffersAtOnce(budget: MemoryBudget, size: number): number {
  let held = 0;
  let count = 0;
  while (count < 100_000 && admitsBuffer(budget, held, size)) {
    held += size;
    count++;
  }
  return count;
}

/** What the deployment gives every function (sst.config.ts). */
const FUNCTION = lambdaMemoryBudget(1769);
const CLI = concurrencyMemoryBudget(8, DEFAULT_CHUNK_SIZE);

describe("chunk buffers held at once", () => {
  test("a 5 TiB object's chunks in a 1,769 MB function: 2 at once, where 8 requests would hold 4.1 GiB", () => {
    const { chunkSize } = planChunks(5 * TiB);
    expect(chunkSize).toBe(525 * MiB);
    expect(FUNCTION.bytes).toBe(1769 * MiB - LAMBDA_RESERVE);
    expect(8 * chunkSize).toBeGreaterThan(FUNCTION.bytes);
    expect(buffersAtOnce(FUNCTION, chunkSize)).toBe(2);
  });

  test("objects of up to 78 GiB keep their chunks and as many buffers as requests in flight", () => {
    for (const size of [0, 1, 100 * MiB, 78 * GiB]) {
      const { chunkSize } = planChunks(size);
      expect(chunkSize).toBe(DEFAULT_CHUNK_SIZE);
      // The CLI's default: --concurrency 8, so 8 parts in flight as before.
      expect(buffersAtOnce(CLI, chunkSize)).toBe(8);
      expect(buffersAtOnce(FUNCTION, chunkSize)).toBeGreaterThanOrEqual(8);
    }
  });

  test("in the CLI, a grown chunk takes the room of several: at 1 TiB (105 MiB chunks) one at a time", () => {
    expect(buffersAtOnce(CLI, planChunks(100 * GiB).chunkSize)).toBe(5);
    expect(buffersAtOnce(CLI, planChunks(1 * TiB).chunkSize)).toBe(1);
  });

  test("never fewer than one, and never past the budget unless one alone passes it", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 16 * GiB }),
        fc.boolean(),
        fc.integer({ min: MIN_CHUNK_SIZE, max: MAX_CHUNK_SIZE }),
        (bytes, strict, size) => {
          const budget = { bytes, strict, of: "a test" };
          const count = buffersAtOnce(budget, size);
          expect(count).toBe(Math.max(1, Math.floor(bytes / size)));
          expect(count === 1 || count * size <= bytes).toBe(true);
        },
      ),
    );
  });
});

describe("a chunk larger than a strict budget", () => {
  test("fails its object before its write, naming the object, its chunk size and the memory there is", () => {
    const small = lambdaMemoryBudget(512);
    const chunk = planChunks(5 * TiB).chunkSize;
    const failed = (() => {
      try {
        checkChunkBuffer("backups/huge.img", chunk, small);
      } catch (error) {
        return error;
      }
    })();
    expect(failed).toBeInstanceOf(MemoryBudgetError);
    expect(failed).toMatchObject({
      name: "MemoryBudgetError",
      code: "MEMORY_BUDGET",
      key: "backups/huge.img",
      details: { key: "backups/huge.img", chunkSize: chunk, budget: 256 * MiB },
    });
    expect((failed as Error).message).toBe(
      "backups/huge.img: its chunks of 525.0 MiB (550502400 bytes) are each read whole into memory to be written, " +
        "but only 256.0 MiB (268435456 bytes) is there for chunk buffers " +
        "(this Lambda function's 512 MB less 256.0 MiB for the runtime); give the destination's functions more memory",
    );
  });

  test("passes where it fits, and where the budget is not strict (read alone)", () => {
    const chunk = planChunks(5 * TiB).chunkSize;
    expect(() => checkChunkBuffer("k", chunk, FUNCTION)).not.toThrow();
    expect(() => checkChunkBuffer("k", chunk, CLI)).not.toThrow();
    expect(() => checkChunkBuffer("k", chunk, lambdaMemoryBudget(128))).toThrow(MemoryBudgetError);
  });

  test("a function's memory that is no whole number is refused, naming the variable Lambda sets", () => {
    for (const bad of [Number.NaN, 0, -1, 1.5])
      expect(() => lambdaMemoryBudget(bad)).toThrow(
        new ValidationError("env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "a whole number of MB"),
      );
  });
});
