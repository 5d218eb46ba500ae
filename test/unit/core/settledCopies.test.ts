import {
  type DecideObjectParams,
  decideObject,
  MiB,
  type PlannedPart,
  planChunks,
  settledCopies,
} from "@chunksync/core";
import { describe, expect, it } from "vitest";

const GiB = 1024 * MiB;

/** The decision's inputs for an object of `count` chunks of `chunkSize`, `changed` of them differing. */
function params(count: number, chunkSize: number, changed: readonly number[]): DecideObjectParams {
  const size = count * chunkSize;
  return {
    source: { size, etag: '"new"', archived: false, attributes: { metadata: {} } },
    destination: { size, etag: '"old"', attributes: { metadata: {} } },
    plan: planChunks(size, chunkSize),
    changed,
    options: {
      serverSideCopy: false,
      verify: "changed",
      copyTags: false,
      destinationChecksContentMd5: true,
      copySources: { old: true, source: true },
    },
  };
}

/** The chunks of `all` (a bit set) that are set. */
function chunksOf(all: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => i).filter((i) => (all >> i) & 1);
}

/**
 * For every verdict over `count` chunks and every number of chunks decided, each settled copy
 * is a part of the decision on the whole verdict, under the same number: whatever the chunks
 * not yet decided hold, the copy started early is one the write keeps.
 */
function everySettledCopyKept(count: number, chunkSize: number): number {
  let settledSeen = 0;
  for (let all = 0; all < 1 << count; all++) {
    const verdict = chunksOf(all, count);
    const whole = decideObject(params(count, chunkSize, verdict)).parts;
    for (let decided = 0; decided <= count; decided++) {
      const known = verdict.filter((i) => i < decided);
      const settled = settledCopies(params(count, chunkSize, known), decided);
      for (const part of settled?.parts ?? []) {
        settledSeen++;
        const kept = whole.find((p: PlannedPart) => p.partNumber === part.partNumber);
        expect(kept, `verdict ${verdict}, ${decided} decided, part ${part.partNumber}`).toEqual(part);
      }
    }
  }
  return settledSeen;
}

describe("settledCopies", () => {
  it("copies only runs a changed chunk ended before the first undecided one, numbered as the whole decision numbers them", () => {
    // Chunks 0-3 unchanged, 4 changed, 5-7 not yet known.
    const settled = settledCopies(params(8, 8 * MiB, [4]), 5);
    expect(settled?.parts).toEqual([
      expect.objectContaining({ partNumber: 1, kind: "destinationCopy", firstChunk: 0, chunkCount: 4 }),
    ]);
    expect(settled?.decision.action).toBe("compose");
    // Before chunk 4 is known, the run may go on: nothing is settled.
    expect(settledCopies(params(8, 8 * MiB, []), 4)).toBeUndefined();
    // Once every chunk is decided, the decision itself says.
    expect(settledCopies(params(8, 8 * MiB, [4]), 8)).toBeUndefined();
  });

  it("keeps every early copy in the final decision, for every verdict of 9 chunks", () => {
    expect(everySettledCopyKept(9, 8 * MiB)).toBeGreaterThan(1000);
  });

  it("keeps a run cut at S3's part limit, once a chunk is known to differ", () => {
    // 1 GiB chunks: a run of unchanged chunks is cut every 5 GiB.
    // Chunk 0 differs; chunks 1-7 do not: 1-5 fill a part, 6-7 may go on.
    const settled = settledCopies(params(12, GiB, [0]), 8);
    expect(settled?.parts).toEqual([
      expect.objectContaining({ partNumber: 2, firstChunk: 1, chunkCount: 5 }),
    ]);
    expect(everySettledCopyKept(12, GiB)).toBeGreaterThan(1000);
  });

  it("settles nothing where the old object is not copied, or the destination is absent", () => {
    const noCopy = params(8, 8 * MiB, [4]);
    noCopy.options = { ...noCopy.options, copySources: { old: false, source: true } };
    expect(settledCopies(noCopy, 5)).toBeUndefined();
    expect(
      settledCopies({ ...params(8, 8 * MiB, []), destination: undefined, changed: undefined }, 5),
    ).toBeUndefined();
  });
});
