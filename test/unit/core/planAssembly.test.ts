import { createCipheriv, createHash } from "node:crypto";
import {
  type AssemblyPlan,
  BLOCK_DIGEST_BYTES,
  BlockList,
  blocksOf,
  type ChunkPlan,
  chunkRange,
  confirmGaps,
  digestOf,
  filterGuesses,
  GiB,
  guessGaps,
  KiB,
  MAX_CHUNK_SIZE,
  MAX_PARTS,
  MIN_CHUNK_SIZE,
  MiB,
  matchBlocks,
  partPieces,
  planAssembly,
  planChunks,
  rebuildsChangedInPlace,
  type Segment,
  SegmentList,
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
      for (const piece of partPieces(plan, part))
        out.push((piece.from === "old" ? old : source).subarray(piece.offset, piece.offset + piece.length));
  }
  return Buffer.concat(out);
}

/** Where each byte of the new object comes from, as maximal runs: [from, offset, length] per run. */
function provenance(runs: Iterable<Segment>): [string, number, number][] {
  const out: [string, number, number][] = [];
  for (const { from, offset, length } of runs) {
    if (length === 0) continue;
    const last = out[out.length - 1];
    if (last && last[0] === from && last[1] + last[2] === offset) last[2] += length;
    else out.push([from, offset, length]);
  }
  return out;
}

/** The parts of `plan`, each mixed one with its pieces instead of its place among the segments. */
function partsWithPieces(plan: AssemblyPlan) {
  return plan.parts.map((part) => {
    if (part.kind === "copy") return part;
    const { kind, offset, length } = part;
    return { kind, offset, length, pieces: [...partPieces(plan, part)] };
  });
}

function planRuns(plan: AssemblyPlan): Segment[] {
  return plan.parts.flatMap((part) =>
    part.kind === "copy"
      ? [{ from: "old" as const, offset: part.oldOffset, length: part.length }]
      : [...partPieces(plan, part)],
  );
}

/**
 * S3's multipart rules, the chunk grid and the plan's own accounting: every part starts on the
 * grid; a mixed part is exactly one chunk, one that no single old run holds whole (else it
 * would be copied); copies that continue each other in the old object are joined up to 5 GiB.
 */
function checkRules(plan: AssemblyPlan, chunks: ChunkPlan, segments: Segment[] | SegmentList): void {
  expect(plan.parts.length).toBeLessThanOrEqual(MAX_PARTS);
  const runs = SegmentList.of([...segments], chunks.size, Number.MAX_SAFE_INTEGER).toArray();
  const starts: number[] = [];
  let end = 0;
  for (const r of runs) {
    starts.push(end);
    end += r.length;
  }
  const heldWhole = (offset: number, length: number) => {
    const i = starts.findLastIndex((start) => start <= offset);
    const run = runs[i]!;
    return run.from === "old" && offset + length <= starts[i]! + run.length;
  };
  let at = 0;
  plan.parts.forEach((part, i) => {
    expect(part.offset).toBe(at);
    expect(part.offset % chunks.chunkSize).toBe(0);
    if (i < plan.parts.length - 1) expect(part.length).toBeGreaterThanOrEqual(MIN_CHUNK_SIZE);
    expect(part.length).toBeLessThanOrEqual(MAX_CHUNK_SIZE);
    if (part.kind === "mixed") {
      expect(part.length).toBe(chunkRange(chunks, part.offset / chunks.chunkSize).length);
      expect([...partPieces(plan, part)].reduce((n, p) => n + p.length, 0)).toBe(part.length);
      expect(heldWhole(part.offset, part.length)).toBe(false);
    } else {
      expect(
        (part.offset + part.length) % chunks.chunkSize === 0 || part.offset + part.length === chunks.size,
      ).toBe(true);
      const next = plan.parts[i + 1];
      if (next?.kind === "copy" && next.oldOffset === part.oldOffset + part.length)
        expect(part.length + next.length).toBeGreaterThan(MAX_CHUNK_SIZE);
    }
    at += part.length;
  });
  expect(at).toBe(plan.size);
  expect(plan.sourceBytes).toBe(sourceBytes(segments));
  expect(plan.sourceBytes + plan.oldBytesRead + plan.copiedBytes).toBe(plan.size);
  expect(plan.mixedParts).toBe(plan.parts.filter((p) => p.kind === "mixed").length);
  // Only a chunk a boundary between runs falls in is mixed and reads old bytes.
  expect(plan.oldBytesRead).toBeLessThanOrEqual(Math.max(0, runs.length - 1) * chunks.chunkSize);
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

const planOf = (segments: readonly Segment[], chunkSize: number) =>
  planChunks(
    segments.reduce((n, s) => n + s.length, 0),
    chunkSize,
  );

describe("planAssembly", () => {
  const OLD = 64 * MiB;
  const lengths = fc.oneof(
    fc.integer({ min: 1, max: 64 * KiB }),
    fc.integer({ min: 1, max: 12 * MiB }),
    fc.integer({ min: PART - 2, max: PART + 2 }),
    fc.integer({ min: 2 * PART - 2, max: 2 * PART + 2 }),
  );
  const lists = fc.array(fc.record({ old: fc.boolean(), length: lengths, at: fc.nat() }), { maxLength: 14 });
  const chunkSizes = fc.constantFrom(PART, 6 * MiB, 8 * MiB, 8 * MiB + 12_345);

  test("every byte of the new object comes from the one segment that gave it, in whole chunks within S3's part rules", () => {
    fc.assert(
      fc.property(lists, chunkSizes, (list, chunkSize) => {
        const segments = segmentsOf(list, OLD);
        const chunks = planOf(segments, chunkSize);
        const plan = planAssembly(chunks, segments, OLD);
        checkRules(plan, chunks, segments);
        expect(provenance(planRuns(plan))).toEqual(provenance(segments));
        for (const part of plan.parts)
          if (part.kind === "copy") expect(part.oldOffset + part.length).toBeLessThanOrEqual(OLD);
      }),
      { numRuns: 300 },
    );
  });

  test("a small edit in a large object: the edited chunk is the one mixed part, the chunks around it copied in place", () => {
    // The delta bench's shape: 1 MiB overwritten at 33 MiB of 64 MiB, 8 MiB chunks.
    const segments: Segment[] = [
      { from: "old", offset: 0, length: 33 * MiB },
      { from: "source", offset: 33 * MiB, length: 1 * MiB },
      { from: "old", offset: 34 * MiB, length: 30 * MiB },
    ];
    const plan = planAssembly(planChunks(64 * MiB, 8 * MiB), segments, 64 * MiB);
    expect(partsWithPieces(plan)).toEqual([
      { kind: "copy", offset: 0, length: 32 * MiB, oldOffset: 0 },
      {
        kind: "mixed",
        offset: 32 * MiB,
        length: 8 * MiB,
        pieces: [
          { from: "old", offset: 32 * MiB, length: 1 * MiB },
          { from: "source", offset: 33 * MiB, length: 1 * MiB },
          { from: "old", offset: 34 * MiB, length: 6 * MiB },
        ],
      },
      { kind: "copy", offset: 40 * MiB, length: 24 * MiB, oldOffset: 40 * MiB },
    ]);
    expect([plan.sourceBytes, plan.oldBytesRead, plan.copiedBytes]).toEqual([1 * MiB, 7 * MiB, 56 * MiB]);
  });

  test("two edits in one chunk share its mixed part; edits in two chunks make two", () => {
    const edits = (second: number): Segment[] => [
      { from: "old", offset: 0, length: 17 * MiB },
      { from: "source", offset: 17 * MiB, length: 1 * MiB },
      { from: "old", offset: 18 * MiB, length: second - 18 * MiB },
      { from: "source", offset: second, length: 1 * MiB },
      { from: "old", offset: second + 1 * MiB, length: 47 * MiB - second },
    ];
    const mixed = (segments: Segment[]) =>
      planAssembly(planChunks(48 * MiB, 8 * MiB), segments, 48 * MiB)
        .parts.filter((p) => p.kind === "mixed")
        .map((p) => p.offset / MiB);
    expect(mixed(edits(22 * MiB))).toEqual([16]);
    expect(mixed(edits(25 * MiB))).toEqual([16, 24]);
  });

  test("moved runs of old bytes are copied from where they were, in place ones joined into one part", () => {
    const segments: Segment[] = [
      { from: "old", offset: 10 * MiB, length: 10 * MiB },
      { from: "old", offset: 0, length: 10 * MiB },
      { from: "old", offset: 20 * MiB, length: 15 * MiB },
    ];
    const plan = planAssembly(planChunks(35 * MiB, PART), segments, 35 * MiB);
    expect(
      plan.parts.map((p) => [
        p.kind,
        p.offset / MiB,
        p.length / MiB,
        p.kind === "copy" ? p.oldOffset / MiB : -1,
      ]),
    ).toEqual([
      ["copy", 0, 10, 10],
      ["copy", 10, 10, 0],
      ["copy", 20, 15, 20],
    ]);
    expect(plan.oldBytesRead + plan.sourceBytes).toBe(0);
  });

  test("joined copies stop at 5 GiB, S3's largest part", () => {
    const size = 12 * GiB;
    const plan = planAssembly(planChunks(size, 6 * MiB), [{ from: "old", offset: 0, length: size }], size);
    expect(plan.parts.map((p) => p.length)).toEqual([853 * 6 * MiB, 853 * 6 * MiB, size - 2 * 853 * 6 * MiB]);
  });

  test("an object too large for 10,000 chunks of 5 MiB is planned on its larger chunks", () => {
    const size = 60 * GiB;
    const segments: Segment[] = [];
    for (let at = 0; at < size; at += 6 * MiB)
      segments.push(
        at % (12 * MiB) === 0
          ? { from: "old", offset: at, length: Math.min(6 * MiB, size - at) }
          : { from: "source", offset: at, length: Math.min(6 * MiB, size - at) },
      );
    const chunks = planChunks(size, PART);
    expect(chunks.chunkSize).toBeGreaterThan(PART);
    checkRules(planAssembly(chunks, segments, size), chunks, segments);
  });

  test("segments that do not cover the object, or leave the old one, and plans out of S3's rules are refused", () => {
    const plan = planChunks(10, PART);
    expect(() => planAssembly(planChunks(11, PART), [{ from: "old", offset: 0, length: 10 }], 10)).toThrow(
      ValidationError,
    );
    expect(() => planAssembly(plan, [{ from: "old", offset: 5, length: 10 }], 10)).toThrow(/segments\[0\]/);
    expect(() => planAssembly(plan, [{ from: "source", offset: 3, length: 10 }], 10)).toThrow(
      /segments\[0\]\.offset/,
    );
    expect(() => planAssembly({ size: 10, chunkSize: MiB, count: 1 }, [], 10)).toThrow(/plan\.chunkSize/);
    expect(() => planAssembly(plan, [{ from: "old", offset: 0, length: 10 }], -1)).toThrow(/oldSize/);
    expect(planAssembly(planChunks(0, PART), [], 10).parts).toEqual([]);
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
  const confirmedGuesses = (segments: SegmentList, blocks: BlockList, old: Buffer) => {
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
          const chunks = planChunks(source.length, CHUNK);
          const plan = planAssembly(chunks, segments, old.length);
          checkRules(plan, chunks, segments);
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
    const plan = planAssembly(planChunks(source.length, CHUNK), filled, old.length);
    expect(assemble(plan, old, source).equals(source)).toBe(true);
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
    expect(confirmGaps(segments, blocks, none, source.length, old.length).toArray()).toEqual(
      segments.toArray(),
    );
  });

  test("a guess that is exactly an old block already compared is not asked: it cannot hold", () => {
    const old = seeded(9, 12 * MiB);
    const oldBlocks = gridBlocks(old, CHUNK, params);
    const source = Buffer.from(old);
    // 64 bytes overwritten before `min` into a block: no cut moves (the bytes before `min` are
    // never looked at for a cut), so the edited block sits exactly where the old one was.
    const edited = Math.floor(oldBlocks.count / 2);
    seeded(10, 64).copy(source, oldBlocks.offset(edited) + 100);
    const blocks = blocksOfSource(source);
    const segments = matchBlocks(blocks, oldBlocks, old.length);
    const guesses = guessGaps(segments, blocks, old.length);
    expect(guesses.oldOffset).toEqual([oldBlocks.offset(edited)]);
    expect(guessGaps(segments, blocks, old.length, Number.POSITIVE_INFINITY, oldBlocks)).toEqual({
      index: [],
      oldOffset: [],
    });
  });

  test("an unchanged object is copied whole and nothing crosses", () => {
    const old = seeded(9, 13 * MiB);
    const blocks = gridBlocks(old, CHUNK, params);
    const segments = matchBlocks(blocks, blocks, old.length);
    expect(segments.toArray()).toEqual([{ from: "old", offset: 0, length: old.length }]);
    const plan = planAssembly(planChunks(old.length, CHUNK), segments, old.length);
    expect(plan.parts).toEqual([{ kind: "copy", offset: 0, length: old.length, oldOffset: 0 }]);
    expect(plan.sourceBytes).toBe(0);
  });

  test("a block found at several places continues the run it follows", () => {
    const zeros = Buffer.alloc(256 * KiB);
    const old = Buffer.concat([zeros, seeded(4, 64 * KiB), zeros]);
    const blocks = blocksOf(old, params);
    const segments = matchBlocks(blocks, blocks, old.length);
    expect(segments.toArray()).toEqual([{ from: "old", offset: 0, length: old.length }]);
  });
});

describe("rebuildsChangedInPlace", () => {
  const plan = { size: 20 * MiB, chunkSize: 8 * MiB, count: 3 };
  const list = (segments: Segment[]) => ({ segments: SegmentList.of(segments, plan.size, plan.size) });

  test("a changed chunk rebuilt wholly from the old object at its own offsets: true", () => {
    const inPlace = list([{ from: "old", offset: 0, length: 20 * MiB }]);
    expect(rebuildsChangedInPlace(plan, [1], inPlace)).toBe(true);
    // The last, shorter chunk too.
    expect(rebuildsChangedInPlace(plan, [2], inPlace)).toBe(true);
  });

  test("a changed chunk with any byte from the source, or from another old offset: false", () => {
    const edited = list([
      { from: "old", offset: 0, length: 9 * MiB },
      { from: "source", offset: 9 * MiB, length: 4096 },
      { from: "old", offset: 9 * MiB + 4096, length: 11 * MiB - 4096 },
    ]);
    expect(rebuildsChangedInPlace(plan, [1], edited)).toBe(false);
    // Chunk 2 is rebuilt in place in that plan: were it called changed, that would be said.
    expect(rebuildsChangedInPlace(plan, [1, 2], edited)).toBe(true);
    const moved = list([
      { from: "old", offset: 0, length: 8 * MiB },
      { from: "old", offset: 8 * MiB + 1, length: 8 * MiB },
      { from: "old", offset: 16 * MiB, length: 4 * MiB },
    ]);
    expect(rebuildsChangedInPlace(plan, [1], moved)).toBe(false);
  });

  test("agrees with a byte-by-byte reading of the segments (property)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            old: fc.boolean(),
            shift: fc.integer({ min: 0, max: 3 }),
            length: fc.integer({ min: 1, max: 9 }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        fc.integer({ min: 1, max: 8 }),
        (runs, chunkSize) => {
          const segments: Segment[] = [];
          let at = 0;
          for (const r of runs) {
            segments.push(
              r.old
                ? { from: "old", offset: at + r.shift, length: r.length }
                : { from: "source", offset: at, length: r.length },
            );
            at += r.length;
          }
          const size = at;
          const p = { size, chunkSize, count: Math.ceil(size / chunkSize) };
          const assembly = { segments: SegmentList.of(segments, size, size + 3) };
          // Each byte of the new object: in place where it comes from the old object at its own offset.
          const inPlace: boolean[] = [];
          let pos = 0;
          for (const s of segments) {
            for (let i = 0; i < s.length; i++) inPlace.push(s.from === "old" && s.offset === pos);
            pos += s.length;
          }
          for (let c = 0; c < p.count; c++) {
            const bytes = inPlace.slice(c * chunkSize, Math.min((c + 1) * chunkSize, size));
            expect(rebuildsChangedInPlace(p, [c], assembly)).toBe(bytes.every(Boolean));
          }
        },
      ),
    );
  });
});
