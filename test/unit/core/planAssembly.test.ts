import { createCipheriv, createHash } from "node:crypto";
import {
  type AssemblyPlan,
  BLOCK_DIGEST_BYTES,
  BlockList,
  blocksOf,
  confirmGaps,
  digestOf,
  filterGuesses,
  GiB,
  guessGaps,
  KiB,
  MAX_PARTS,
  MiB,
  matchBlocks,
  planAssembly,
  type Segment,
  sourceBytes,
  ValidationError,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

const PART = 5 * MiB;

/** Deterministic random bytes (AES-CTR keystream of a seed). */
function seeded(seed: number, length: number): Buffer {
  const key = createHash("sha256").update(String(seed)).digest().subarray(0, 16);
  return createCipheriv("aes-128-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** Blocks of an object cut on a fixed chunk grid, as each chunk's reader would cut them. */
function gridBlocks(
  data: Buffer,
  chunkSize: number,
  params: { min: number; avg: number; max: number },
): BlockList {
  const out = new BlockList(BLOCK_DIGEST_BYTES);
  for (let at = 0; at < data.length; at += chunkSize)
    out.append(blocksOf(data.subarray(at, at + chunkSize), params, at));
  return out;
}

/** The new object as the destination would build it from the plan. */
function assemble(plan: AssemblyPlan, old: Buffer, source: Buffer): Buffer {
  const out: Buffer[] = [];
  for (const part of plan.parts) {
    if (part.kind === "copy") out.push(old.subarray(part.oldOffset, part.oldOffset + part.length));
    else
      for (const piece of part.pieces)
        out.push((piece.from === "old" ? old : source).subarray(piece.offset, piece.offset + piece.length));
  }
  return Buffer.concat(out);
}

/** Where each byte of the new object comes from, as maximal runs: [from, offset, length] per run. */
function provenance(runs: Segment[]): [string, number, number][] {
  const out: [string, number, number][] = [];
  for (const { from, offset, length } of runs) {
    if (length === 0) continue;
    const last = out[out.length - 1];
    if (last && last[0] === from && last[1] + last[2] === offset) last[2] += length;
    else out.push([from, offset, length]);
  }
  return out;
}

function planRuns(plan: AssemblyPlan): Segment[] {
  return plan.parts.flatMap((part) =>
    part.kind === "copy"
      ? [{ from: "old" as const, offset: part.oldOffset, length: part.length }]
      : [...part.pieces],
  );
}

/** S3's multipart rules and the plan's own accounting. */
function checkRules(plan: AssemblyPlan, segments: Segment[]): void {
  expect(plan.parts.length).toBeLessThanOrEqual(MAX_PARTS);
  let at = 0;
  plan.parts.forEach((part, i) => {
    expect(part.offset).toBe(at);
    if (i < plan.parts.length - 1) expect(part.length).toBeGreaterThanOrEqual(plan.minPartSize);
    expect(part.length).toBeLessThanOrEqual(5 * GiB);
    if (part.kind === "mixed") expect(part.pieces.reduce((n, p) => n + p.length, 0)).toBe(part.length);
    at += part.length;
  });
  expect(at).toBe(plan.size);
  expect(plan.sourceBytes).toBe(sourceBytes(segments));
  expect(plan.sourceBytes + plan.oldBytesRead + plan.copiedBytes).toBe(plan.size);
  expect(plan.mixedParts).toBe(plan.parts.filter((p) => p.kind === "mixed").length);
}

/** Segments covering a new object, built from lengths in bytes; source offsets follow the new object. */
function segmentsOf(list: { old: boolean; length: number; at: number }[], oldSize: number): Segment[] {
  let position = 0;
  return list.map(({ old, length, at }) => {
    const segment: Segment = old
      ? { from: "old", offset: at % Math.max(1, oldSize - length + 1), length }
      : { from: "source", offset: position, length };
    position += length;
    return segment;
  });
}

describe("planAssembly", () => {
  const OLD = 64 * MiB;
  const lengths = fc.oneof(
    fc.integer({ min: 1, max: 64 * KiB }),
    fc.integer({ min: 1, max: 12 * MiB }),
    fc.integer({ min: PART - 2, max: PART + 2 }),
    fc.integer({ min: 2 * PART - 2, max: 2 * PART + 2 }),
  );
  const lists = fc.array(fc.record({ old: fc.boolean(), length: lengths, at: fc.nat() }), { maxLength: 14 });

  test("every byte of the new object comes from the segment that gave it, within S3's part rules", () => {
    fc.assert(
      fc.property(lists, (list) => {
        const segments = segmentsOf(list, OLD);
        const size = segments.reduce((n, s) => n + s.length, 0);
        const plan = planAssembly(segments, size, OLD);
        checkRules(plan, segments);
        expect(provenance(planRuns(plan))).toEqual(provenance(segments));
        for (const part of plan.parts)
          if (part.kind === "copy") expect(part.oldOffset + part.length).toBeLessThanOrEqual(OLD);
      }),
      { numRuns: 300 },
    );
  });

  test("reads no more old bytes, then makes no more mixed parts, than the best cut found by brute force", () => {
    // Lengths in whole MiB: every cut worth making then falls on a whole MiB.
    const units = fc.array(
      fc.record({ old: fc.boolean(), length: fc.integer({ min: 1, max: 9 }), at: fc.nat({ max: 30 }) }),
      { minLength: 1, maxLength: 7 },
    );
    fc.assert(
      fc.property(units, (list) => {
        const segments = segmentsOf(
          list.map((u) => ({ old: u.old, length: u.length * MiB, at: u.at * MiB })),
          OLD,
        );
        const n = segments.reduce((k, s) => k + s.length, 0) / MiB;
        // Per MiB of the new object: the old MiB it comes from, or -1 for source bytes.
        const origin: number[] = segments.flatMap((s) =>
          Array.from({ length: s.length / MiB }, (_, k) => (s.from === "old" ? s.offset / MiB + k : -1)),
        );
        const best: [number, number][] = [[0, 0]];
        for (let p = 1; p <= n; p++) {
          let here: [number, number] = [Infinity, Infinity];
          for (let q = 0; q < p; q++) {
            const before = best[q] as [number, number];
            if (p - q < 5 && p < n) continue;
            const span = origin.slice(q, p);
            const copy = span.every((o, k) => o >= 0 && o === (span[0] as number) + k);
            const cost: [number, number] = copy
              ? [before[0], before[1]]
              : [before[0] + span.filter((o) => o >= 0).length, before[1] + 1];
            if (cost[0] < here[0] || (cost[0] === here[0] && cost[1] < here[1])) here = cost;
          }
          best.push(here);
        }
        const plan = planAssembly(segments, n * MiB, OLD);
        expect([plan.oldBytesRead / MiB, plan.mixedParts]).toEqual(best[n]);
      }),
      { numRuns: 400 },
    );
  });

  test("a small edit in a large object: one mixed part of the minimum size, the rest copied", () => {
    const segments: Segment[] = [
      { from: "old", offset: 0, length: 33 * MiB },
      { from: "source", offset: 33 * MiB, length: 1 * MiB },
      { from: "old", offset: 34 * MiB, length: 30 * MiB },
    ];
    const plan = planAssembly(segments, 64 * MiB, 64 * MiB);
    expect(plan.mixedParts).toBe(1);
    expect(plan.sourceBytes).toBe(1 * MiB);
    expect(plan.oldBytesRead).toBe(4 * MiB);
    expect(plan.copiedBytes).toBe(59 * MiB);
  });

  test("two edits closer than two parts share one mixed part rather than each reading a padding", () => {
    const segments: Segment[] = [
      { from: "old", offset: 0, length: 20 * MiB },
      { from: "source", offset: 20 * MiB, length: 1 * MiB },
      { from: "old", offset: 21 * MiB, length: 6 * MiB },
      { from: "source", offset: 27 * MiB, length: 1 * MiB },
      { from: "old", offset: 28 * MiB, length: 20 * MiB },
    ];
    const plan = planAssembly(segments, 48 * MiB, 48 * MiB);
    expect(plan.mixedParts).toBe(1);
    expect(plan.oldBytesRead).toBe(6 * MiB);
  });

  test("moved runs of old bytes are copied from where they were", () => {
    const segments: Segment[] = [
      { from: "old", offset: 10 * MiB, length: 10 * MiB },
      { from: "old", offset: 0, length: 10 * MiB },
    ];
    const plan = planAssembly(segments, 20 * MiB, 20 * MiB);
    expect(plan.parts.map((p) => [p.kind, p.kind === "copy" ? p.oldOffset : -1])).toEqual([
      ["copy", 10 * MiB],
      ["copy", 0],
    ]);
    expect(plan.oldBytesRead + plan.sourceBytes).toBe(0);
  });

  test("an object too large for 10,000 parts of 5 MiB gets larger parts", () => {
    const size = 60 * GiB;
    const segments: Segment[] = [];
    for (let at = 0; at < size; at += 6 * MiB)
      segments.push(
        at % (12 * MiB) === 0
          ? { from: "old", offset: at, length: Math.min(6 * MiB, size - at) }
          : { from: "source", offset: at, length: Math.min(6 * MiB, size - at) },
      );
    const plan = planAssembly(segments, size, size);
    checkRules(plan, segments);
    expect(plan.minPartSize).toBeGreaterThan(PART);
  });

  test("segments that do not cover the object, or leave the old one, are refused before any planning", () => {
    expect(() => planAssembly([{ from: "old", offset: 0, length: 10 }], 11, 10)).toThrow(ValidationError);
    expect(() => planAssembly([{ from: "old", offset: 5, length: 10 }], 10, 10)).toThrow(/segments\[0\]/);
    expect(() => planAssembly([{ from: "source", offset: 3, length: 10 }], 10, 10)).toThrow(
      /segments\[0\]\.offset/,
    );
    expect(planAssembly([], 0, 10).parts).toEqual([]);
  });
});

type Edit =
  | { kind: "insert"; at: number; length: number; seed: number }
  | { kind: "delete" | "overwrite"; at: number; length: number; seed: number }
  | { kind: "move"; at: number; length: number; to: number; seed: number };

function applyEdit(data: Buffer, edit: Edit): Buffer {
  const at = edit.at % (data.length + 1);
  const length = Math.min(edit.length, data.length - at);
  switch (edit.kind) {
    case "insert":
      return Buffer.concat([data.subarray(0, at), seeded(edit.seed, edit.length), data.subarray(at)]);
    case "delete":
      return Buffer.concat([data.subarray(0, at), data.subarray(at + length)]);
    case "overwrite":
      return Buffer.concat([data.subarray(0, at), seeded(edit.seed, length), data.subarray(at + length)]);
    case "move": {
      const piece = data.subarray(at, at + length);
      const rest = Buffer.concat([data.subarray(0, at), data.subarray(at + length)]);
      const to = edit.to % (rest.length + 1);
      return Buffer.concat([rest.subarray(0, to), piece, rest.subarray(to)]);
    }
  }
}

describe("matchBlocks then planAssembly", () => {
  const params = { min: 1 * KiB, avg: 4 * KiB, max: 16 * KiB };
  const CHUNK = 5 * MiB;
  const blocksOfSource = (source: Buffer) => gridBlocks(source, CHUNK, params);
  /** The guesses the destination confirms by digesting its own bytes where each is guessed to be. */
  const confirmedGuesses = (segments: Segment[], blocks: BlockList, old: Buffer) => {
    const guesses = guessGaps(segments, blocks, old.length);
    return filterGuesses(guesses, (k) => {
      const [b, at] = [guesses.index[k] as number, guesses.oldOffset[k] as number];
      return digestOf("sha256", old.subarray(at, at + blocks.length(b))).equals(blocks.digest(b));
    });
  };
  const edit = fc.record({
    kind: fc.constantFrom("insert", "delete", "overwrite", "move"),
    at: fc.nat(),
    length: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 3 * MiB })),
    to: fc.nat(),
    seed: fc.nat(),
  }) as fc.Arbitrary<Edit>;

  test("applying the plan to the old object and the source bytes rebuilds the new object byte for byte", () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.integer({ min: 0, max: 24 * MiB }),
        fc.array(edit, { maxLength: 5 }),
        (seed, size, edits) => {
          const old = seeded(seed, size);
          const source = edits.reduce(applyEdit, old);
          const segments = matchBlocks(
            gridBlocks(source, CHUNK, params),
            gridBlocks(old, CHUNK, params),
            old.length,
          );
          const plan = planAssembly(segments, source.length, old.length);
          checkRules(plan, segments);
          expect(assemble(plan, old, source).equals(source)).toBe(true);
          // Only what changed crosses, plus about a block on each side of each edit and each shifted chunk boundary.
          const changed = edits.reduce((n, e) => n + (e.kind === "move" ? 0 : e.length), 0);
          const boundaries = Math.ceil(source.length / CHUNK);
          expect(plan.sourceBytes).toBeLessThanOrEqual(
            changed + (edits.length * 6 + boundaries * 3) * params.max,
          );
        },
      ),
      { numRuns: 15 },
    );
  }, 60_000);

  test("an insertion near the start crosses about one block once the destination confirms the shifted grid's gaps", () => {
    const old = seeded(5, 23 * MiB);
    const source = Buffer.concat([old.subarray(0, 5000), seeded(6, 100), old.subarray(5000)]);
    const blocks = blocksOfSource(source);
    const segments = matchBlocks(blocks, gridBlocks(old, CHUNK, params), old.length);
    // Each shifted chunk boundary leaves unmatched blocks on both sides of it.
    expect(sourceBytes(segments)).toBeGreaterThan(2 * params.max);
    const guesses = guessGaps(segments, blocks, old.length);
    const confirmed = confirmedGuesses(segments, blocks, old);
    expect(confirmed.index.length).toBeGreaterThan(0);
    // Every guess holds; the block that holds the insertion is one the old object cannot have.
    expect(confirmed).toEqual(guesses);
    const filled = confirmGaps(segments, blocks, confirmed, source.length, old.length);
    expect(sourceBytes(filled)).toBeLessThanOrEqual(params.max + 100);
    expect(assemble(planAssembly(filled, source.length, old.length), old, source).equals(source)).toBe(true);
  });

  test("a guess the destination cannot confirm keeps its bytes crossing", () => {
    const old = seeded(7, 12 * MiB);
    const source = Buffer.from(old);
    seeded(8, 64 * KiB).copy(source, 6 * MiB);
    const blocks = blocksOfSource(source);
    const segments = matchBlocks(blocks, gridBlocks(old, CHUNK, params), old.length);
    expect(guessGaps(segments, blocks, old.length).index.length).toBeGreaterThan(0);
    const none = { index: [], oldOffset: [] };
    expect(confirmedGuesses(segments, blocks, old)).toEqual(none);
    expect(confirmGaps(segments, blocks, none, source.length, old.length)).toEqual(segments);
  });

  test("an unchanged object is copied whole and nothing crosses", () => {
    const old = seeded(9, 13 * MiB);
    const blocks = gridBlocks(old, CHUNK, params);
    const segments = matchBlocks(blocks, blocks, old.length);
    expect(segments).toEqual([{ from: "old", offset: 0, length: old.length }]);
    const plan = planAssembly(segments, old.length, old.length);
    expect(plan.parts.every((p) => p.kind === "copy")).toBe(true);
    expect(plan.sourceBytes).toBe(0);
  });

  test("a block found at several places continues the run it follows", () => {
    const zeros = Buffer.alloc(256 * KiB);
    const old = Buffer.concat([zeros, seeded(4, 64 * KiB), zeros]);
    const blocks = blocksOf(old, params);
    const segments = matchBlocks(blocks, blocks, old.length);
    expect(segments).toEqual([{ from: "old", offset: 0, length: old.length }]);
  });
});
