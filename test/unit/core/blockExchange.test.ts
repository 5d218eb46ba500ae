import { createCipheriv, createHash, createHmac } from "node:crypto";
import {
  AnsweredBlocks,
  type AssemblyPlan,
  answerBlocks,
  BLOCK_TAG_BYTES,
  BlockChunker,
  BlockList,
  type BlockParams,
  type BlockRequest,
  type BlockRounds,
  BlockTagger,
  blockParams,
  blockRequest,
  type ChunkPlan,
  chooseAssembly,
  chunkRange,
  chunkRanges,
  decideObject,
  type EncodedBlocks,
  encodeBlockContext,
  KiB,
  MiB,
  nextBlockRound,
  oldRangesToCut,
  PROTOCOL_VERSION,
  parseBlockRequest,
  partPieces,
  planAssembly,
  planChunks,
  RangeList,
  type Ranges,
  rangesToCut,
  readBlockResponse,
  type Segment,
  SegmentList,
  wholeTagging,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

const secret = Buffer.alloc(32, 1);
const CHUNK = 5 * MiB;
const source = { bucket: "src", key: "k", etag: '"new"' };
const destination = { bucket: "dst", key: "k", etag: '"old"' };

function seeded(seed: number, length: number): Buffer {
  const key = createHash("sha256").update(String(seed)).digest().subarray(0, 16);
  return createCipheriv("aes-128-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** The chunks whose bytes differ, as the chunk challenge finds them (a chunk past the old end differs). */
function changedChunks(plan: ChunkPlan, next: Buffer, old: Buffer): number[] {
  return chunkRanges(plan)
    .filter(
      (r) =>
        !next.subarray(r.offset, r.offset + r.length).equals(old.subarray(r.offset, r.offset + r.length)),
    )
    .map((r) => r.index);
}

/** Blocks of `ranges` of `data`, each range cut alone, as a side's reader cuts them: tagged by `tagger`. */
function cutBlocks(data: Buffer, ranges: Ranges, tagger: BlockTagger, params: BlockParams): BlockList {
  const blocks = new BlockList(BLOCK_TAG_BYTES);
  for (const r of RangeList.from(ranges).toArray()) {
    const chunker = new BlockChunker(params, r.offset, tagger.tagBytes, blocks);
    chunker.update(data.subarray(r.offset, r.offset + r.length));
    chunker.end();
  }
  return blocks;
}

/** The destination's answer from its old bytes. */
function answer(request: BlockRequest, old: Buffer) {
  const tagger = new BlockTagger(secret, request);
  const wholeTagger = new BlockTagger(secret, wholeTagging(request));
  const whole = request.whole
    .filter((r) => r.offset + r.length <= old.length)
    .map((r) => Buffer.from(wholeTagger.tagBytes(old.subarray(r.offset, r.offset + r.length))));
  return answerBlocks(
    request,
    { etag: destination.etag, size: old.length },
    cutBlocks(old, request.cut, tagger, request.params),
    Buffer.concat(whole),
  );
}

/** Both sides in one place: the source starts, the destination answers until the segments are final. */
function exchange(
  next: Buffer,
  old: Buffer,
  respond = answer,
): { plan: ChunkPlan; changed: number[]; segments: SegmentList } {
  const plan = planChunks(next.length, CHUNK);
  const changed = changedChunks(plan, next, old);
  const request = blockRequest({
    source,
    destination,
    params: blockParams(Math.max(next.length, old.length)),
    cut: oldRangesToCut(plan, changed, old.length),
  });
  const ranges = changed.map((i) => chunkRange(plan, i));
  let rounds: BlockRounds = {
    request,
    blocks: cutBlocks(next, ranges, new BlockTagger(secret, request), request.params),
  };
  for (;;) {
    const step = nextBlockRound(plan, changed, old.length, rounds, respond(rounds.request, old));
    if ("segments" in step) return { plan, changed, segments: step.segments };
    if ("rounds" in step) rounds = step.rounds;
    else {
      const { request: fine, ranges: unmatched, segments, guessed } = step.refine;
      const blocks = cutBlocks(next, unmatched.toArray(), new BlockTagger(secret, fine), fine.params);
      rounds = { request: fine, blocks, refined: { segments, ...(guessed ? { guessed } : {}) } };
    }
  }
}

function assemble(plan: AssemblyPlan, old: Buffer, next: Buffer): Buffer {
  return Buffer.concat(
    plan.parts.flatMap((part) =>
      part.kind === "copy"
        ? [old.subarray(part.oldOffset, part.oldOffset + part.length)]
        : [...partPieces(plan, part)].map((p) =>
            (p.from === "old" ? old : next).subarray(p.offset, p.offset + p.length),
          ),
    ),
  );
}

const crossing = (segments: SegmentList) =>
  segments.toArray().reduce((n, s) => n + (s.from === "source" ? s.length : 0), 0);

describe("the block exchange", () => {
  test("rebuilds the new object byte for byte from the old one and the source bytes, whatever the edits", () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.integer({ min: 6 * MiB, max: 22 * MiB }),
        fc.constantFrom("overwrite", "insert", "delete", "append"),
        fc.nat(),
        fc.integer({ min: 1, max: 2 * MiB }),
        (seed, size, kind, at0, length) => {
          const old = seeded(seed, size);
          const at = at0 % size;
          const bytes = seeded(seed + 1, length);
          const next =
            kind === "overwrite"
              ? Buffer.concat([old.subarray(0, at), bytes, old.subarray(at + length)]).subarray(
                  0,
                  Math.max(size, at + length),
                )
              : kind === "insert"
                ? Buffer.concat([old.subarray(0, at), bytes, old.subarray(at)])
                : kind === "delete"
                  ? Buffer.concat([old.subarray(0, at), old.subarray(at + length)])
                  : Buffer.concat([old, bytes]);
          const { plan, changed, segments } = exchange(next, old);
          const assembly = planAssembly(plan, segments, old.length);
          expect(assemble(assembly, old, next).equals(next)).toBe(true);
          for (const part of assembly.parts)
            if (part.kind === "mixed") {
              const chunk = chunkRange(plan, Math.floor(part.offset / plan.chunkSize));
              expect([part.offset, part.length]).toEqual([chunk.offset, chunk.length]);
            }
          // What crosses is what changed and a few blocks around it and around each shifted chunk boundary.
          const max = blockParams(next.length).max;
          const boundaries = kind === "insert" || kind === "delete" ? plan.count : 0;
          expect(crossing(segments)).toBeLessThanOrEqual(
            (kind === "delete" ? 0 : length) + (4 + boundaries) * max,
          );
          if (changed.length === 0) expect(crossing(segments)).toBe(0);
        },
      ),
      { numRuns: 12 },
    );
  }, 120_000);

  test("an insertion near the start crosses about one block: the second round confirms the shifted bytes", () => {
    const old = seeded(1, 23 * MiB);
    const next = Buffer.concat([old.subarray(0, 5000), seeded(2, 1400), old.subarray(5000)]);
    let rounds = 0;
    const { segments } = exchange(next, old, (request, o) => {
      rounds++;
      return answer(request, o);
    });
    // The cut, then one round that confirms the shifted grid's gaps and cuts the block left finely.
    expect(rounds).toBe(2);
    expect(crossing(segments)).toBeLessThanOrEqual(blockParams(next.length).max + 1400);
  });

  test("a same-size edit takes two rounds: the guesses beside the edit are asked about with the fine cut", () => {
    const old = seeded(21, 20 * MiB);
    const next = Buffer.from(old);
    const at = 9 * MiB + 12_345;
    seeded(22, MiB).copy(next, at);
    const asked: BlockRequest[] = [];
    const { plan, segments } = exchange(next, old, (request, o) => {
      asked.push(request);
      return answer(request, o);
    });
    expect(asked).toHaveLength(2);
    const [first, second] = asked as [BlockRequest, BlockRequest];
    // The guesses are tagged as the first round cut them, the fine cut with its own parameters.
    expect(second.whole.length).toBeGreaterThan(0);
    expect(second.wholeParams).toEqual(first.params);
    expect(second.params.avg).toBeLessThan(first.params.avg);
    expect(second.nonce).toBe(first.nonce);
    // About the edit crosses: at most a fine block (16 KiB) on each side of it.
    expect(crossing(segments)).toBeLessThanOrEqual(MiB + 2 * second.params.max);
    expect(assemble(planAssembly(plan, segments, old.length), old, next).equals(next)).toBe(true);
    // Guesses tagged with the fine round's parameters are keyed otherwise: none is confirmed,
    // and the fine blocks the destination cut over the guessed bytes are what matches there.
    const fineKeyed = exchange(next, old, (request, o) =>
      answer({ ...request, ...(request.wholeParams ? { wholeParams: request.params } : {}) }, o),
    );
    expect(crossing(fineKeyed.segments)).toBeGreaterThanOrEqual(crossing(segments));
    const rebuilt = assemble(planAssembly(plan, fineKeyed.segments, old.length), old, next);
    expect(rebuilt.equals(next)).toBe(true);
  });

  test("scattered 4 KiB page updates cross about the pages, not their 64 KiB blocks: the fine round finds the rest", () => {
    const old = seeded(11, 20 * MiB);
    const next = Buffer.from(old);
    const PAGE = 4 * KiB;
    for (let i = 0; i < 50; i++)
      seeded(100 + i, PAGE).copy(next, ((i * 997 + 13) % (old.length / PAGE)) * PAGE);
    let rounds = 0;
    const { plan, segments } = exchange(next, old, (request, o) => {
      rounds++;
      return answer(request, o);
    });
    expect(rounds).toBeGreaterThanOrEqual(2);
    // Each changed page costs at most the fine blocks it touches (2 x 16 KiB at worst), about 8 KiB on average.
    expect(crossing(segments)).toBeLessThanOrEqual(50 * 4 * PAGE);
    expect(assemble(planAssembly(plan, segments, old.length), old, next).equals(next)).toBe(true);
  });

  test("pages reordered (as VACUUM does) are found where they moved", () => {
    const PAGE = 4 * KiB;
    const old = seeded(12, 16 * MiB);
    const pages = Array.from({ length: old.length / PAGE }, (_, i) => old.subarray(i * PAGE, (i + 1) * PAGE));
    // Every tenth page dropped, the rest shifted down: every page after the first drop moves.
    const next = Buffer.concat(pages.filter((_, i) => i % 10 !== 5));
    const { plan, segments } = exchange(next, old);
    // The 64 KiB blocks hardly ever fit between two drops; the fine ones do, but for those that
    // span a drop (about one in each 36 KiB run).
    expect(crossing(segments)).toBeLessThanOrEqual(next.length * 0.3);
    expect(assemble(planAssembly(plan, segments, old.length), old, next).equals(next)).toBe(true);
  });

  test("tags from another run, version, object or direction match nothing: every changed byte crosses", () => {
    const old = seeded(3, 12 * MiB);
    const next = Buffer.from(old);
    seeded(4, 1000).copy(next, 6 * MiB);
    const expectAllCross = (forge: (request: BlockRequest) => BlockRequest) => {
      const { plan, changed, segments } = exchange(next, old, (request, o) => {
        const response = answer(forge(request), o);
        return { ...response, requestId: request.id };
      });
      expect(crossing(segments)).toBe(changed.reduce((n, i) => n + chunkRange(plan, i).length, 0));
    };
    const other = blockRequest({ source, destination, params: blockParams(next.length), cut: [] });
    expectAllCross((r) => ({ ...r, nonce: other.nonce }));
    expectAllCross((r) => ({ ...r, destination: { ...r.destination, etag: '"older"' } }));
    expectAllCross((r) => ({ ...r, source: { ...r.source, key: "other" } }));
    expectAllCross((r) => ({ ...r, direction: "destination-to-source" }));
  });

  test("a block's tag is HMAC-SHA256 keyed by the secret, the context and the nonce, over its length and SHA-256, cut to 128 bits", () => {
    const request = blockRequest({ source, destination, params: blockParams(MiB), cut: [] });
    const { min, avg, max } = request.params;
    const context = encodeBlockContext({ version: PROTOCOL_VERSION, ...request, min, avg, max });
    const key = createHmac("sha256", secret)
      .update(context)
      .update(Buffer.from(request.nonce, "base64url"))
      .digest();
    const tagger = new BlockTagger(secret, request);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        const length = Buffer.alloc(8);
        length.writeBigUInt64BE(BigInt(bytes.length));
        const digest = createHash("sha256").update(bytes).digest();
        const expected = createHmac("sha256", key).update(length).update(digest).digest();
        expect(Buffer.from(tagger.tagBytes(bytes))).toEqual(expected.subarray(0, BLOCK_TAG_BYTES));
      }),
    );
  });

  test("a response for another request or version, or blocks outside what was asked, are dropped", () => {
    const old = seeded(5, 12 * MiB);
    const request = blockRequest({
      source,
      destination,
      params: blockParams(old.length),
      cut: [{ offset: 5 * MiB, length: 5 * MiB }],
    });
    const good = answer(request, old);
    const read = readBlockResponse(request, good).blocks;
    expect(read.count).toBeGreaterThan(1);
    // The blocks tile the range asked, each where the one before ends.
    expect(read.offset(0)).toBe(5 * MiB);
    expect(read.ranges()).toEqual(request.cut);
    const none = (response: unknown) => expect(readBlockResponse(request, response).blocks.count).toBe(0);
    none({ ...good, requestId: "x" });
    none({ ...good, destination: { etag: '"other"', size: old.length } });
    none("junk");
    // As the workflow carries it: the blocks as text, read back the same.
    const wire = JSON.parse(JSON.stringify(good)) as { blocks: EncodedBlocks };
    expect([...readBlockResponse(request, wire).blocks]).toEqual([...read]);
    const lengths = Buffer.from(wire.blocks.lengths, "base64url");
    const tags = Buffer.from(wire.blocks.tags, "base64url");
    const blocks = (l: Buffer, t: Buffer) => ({
      ...good,
      blocks: { lengths: l.toString("base64url"), tags: t.toString("base64url") },
    });
    // One tag short, one block short of the range, one block past it, an empty block, bad base64url.
    none(blocks(lengths, tags.subarray(BLOCK_TAG_BYTES)));
    none(blocks(lengths.subarray(4), tags.subarray(BLOCK_TAG_BYTES)));
    const longer = Buffer.from(lengths);
    longer.writeUInt32BE(longer.readUInt32BE(0) + 1, 0);
    none(blocks(longer, tags));
    const empty = Buffer.from(lengths);
    empty.writeUInt32BE(0, 0);
    none(blocks(empty, tags));
    none({ ...good, blocks: { lengths: `${wire.blocks.lengths}!`, tags: wire.blocks.tags } });
    // The list itself, where it does not tile the range: one block moved, or digests of another width.
    const moved = new BlockList(BLOCK_TAG_BYTES);
    for (let i = 0; i < read.count; i++)
      moved.push(read.offset(i) + (i === 1 ? 1 : 0), read.length(i), read.digest(i));
    none({ ...good, blocks: new AnsweredBlocks(moved) });
    const wide = new BlockList(BLOCK_TAG_BYTES + 1);
    for (let i = 0; i < read.count; i++)
      wide.push(read.offset(i), read.length(i), Buffer.alloc(BLOCK_TAG_BYTES + 1));
    none({ ...good, blocks: new AnsweredBlocks(wide) });
    // Past the object's end: the range is not one the destination cuts.
    none({ ...good, destination: { ...good.destination, size: 9 * MiB } });
  });

  test("reading any response never throws and never places a block outside the ranges asked", () => {
    const cut = [
      { offset: 10, length: 100 },
      { offset: 200, length: 50 },
    ];
    const request = blockRequest({ source, destination, params: blockParams(MiB), cut });
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 120 }), { maxLength: 8 }),
        fc.nat({ max: 8 }),
        fc.nat({ max: 300 }),
        fc.array(fc.nat({ max: 300 }), { maxLength: 8 }),
        (lengths, tagCount, size, offsets) => {
          const l = Buffer.from(new Uint32Array(lengths).buffer).swap32();
          const response = (blocks: unknown) => ({
            v: 1,
            requestId: request.id,
            destination: { etag: destination.etag, size },
            blocks,
            whole: [],
          });
          // As text, or as a list answered in this process (any offsets, as many as there are lengths).
          const list = new BlockList(BLOCK_TAG_BYTES);
          for (const [i, length] of lengths.entries())
            list.push(offsets[i] ?? i, length, Buffer.alloc(BLOCK_TAG_BYTES));
          for (const blocks of [
            {
              lengths: l.toString("base64url"),
              tags: Buffer.alloc(tagCount * BLOCK_TAG_BYTES).toString("base64url"),
            },
            new AnsweredBlocks(list),
          ]) {
            const read = readBlockResponse(request, response(blocks)).blocks;
            for (let i = 0; i < read.count; i++) {
              const within = cut.some(
                (r) => read.offset(i) >= r.offset && read.offset(i) + read.length(i) <= r.offset + r.length,
              );
              expect(within && read.offset(i) + read.length(i) <= size).toBe(true);
              if (i > 0)
                expect(read.offset(i)).toBeGreaterThanOrEqual(read.offset(i - 1) + read.length(i - 1));
            }
            if (read.count > 0) expect(read.count).toBe(lengths.length);
          }
        },
      ),
    );
  });

  test("a request received is checked field by field before anything is read", () => {
    const request = blockRequest({
      source,
      destination,
      params: blockParams(MiB),
      cut: [{ offset: 0, length: MiB }],
    });
    expect(parseBlockRequest(JSON.parse(JSON.stringify(request)))).toEqual(request);
    const refused = (change: Record<string, unknown>, field: string) =>
      expect(() => parseBlockRequest({ ...request, ...change })).toThrow(
        expect.objectContaining({ code: "INVALID_MESSAGE", field: `blockRequest.${field}` }),
      );
    refused({ v: 2 }, "v");
    refused({ nonce: "short" }, "nonce");
    refused({ direction: "sideways" }, "direction");
    refused({ source: { bucket: "b" } }, "source");
    refused({ params: { min: 64, avg: 1000, max: 4000 } }, "params.avg");
    refused(
      {
        cut: [
          { offset: 10, length: 5 },
          { offset: 0, length: 5 },
        ],
      },
      "cut[1]",
    );
    refused({ whole: [{ offset: -1, length: 5 }] }, "whole[0]");
    // A whole range is a guessed block: at most `max` bytes, which the destination holds at once.
    const { max } = request.params;
    expect(parseBlockRequest({ ...request, whole: [{ offset: 0, length: max }] }).whole).toHaveLength(1);
    refused(
      {
        whole: [
          { offset: 0, length: 1 },
          { offset: 0, length: max + 1 },
        ],
      },
      "whole[1]",
    );
    expect(() => parseBlockRequest("junk")).toThrow(expect.objectContaining({ code: "INVALID_MESSAGE" }));
    // A fine round asking about guesses too: their ranges are bounded by the parameters they are tagged with.
    const fine = { min: 1024, avg: 4096, max: 16384 };
    const both = {
      ...request,
      params: fine,
      wholeParams: request.params,
      whole: [{ offset: 0, length: max }],
    };
    expect(parseBlockRequest(JSON.parse(JSON.stringify(both)))).toEqual(both);
    refused({ wholeParams: { min: 64, avg: 1000, max: 4000 } }, "wholeParams.avg");
    refused({ params: fine, whole: [{ offset: 0, length: max }] }, "whole[0]");
    // Ranges to cut held as a list (a fine round's, within one process): checked alike, kept as they are.
    const list = RangeList.from([
      { offset: 0, length: 5 },
      { offset: 10, length: 5 },
    ]);
    expect(parseBlockRequest({ ...request, cut: list }).cut).toBe(list);
    expect(JSON.parse(JSON.stringify({ ...request, cut: list })).cut).toEqual(list.toArray());
    refused(
      {
        cut: RangeList.from([
          { offset: 10, length: 5 },
          { offset: 0, length: 5 },
        ]),
      },
      "cut[1]",
    );
    refused({ cut: RangeList.from([{ offset: 0, length: 0 }]) }, "cut[0]");
  });

  test("the destination cuts the ranges asked within its object: the request's own list where all are", () => {
    const cut = RangeList.from([
      { offset: 0, length: MiB },
      { offset: 2 * MiB, length: MiB },
    ]);
    expect(rangesToCut({ cut }, 3 * MiB)).toBe(cut);
    expect(rangesToCut({ cut }, 3 * MiB - 1).toArray()).toEqual([{ offset: 0, length: MiB }]);
    expect(rangesToCut({ cut: cut.toArray() }, 3 * MiB).toArray()).toEqual(cut.toArray());
  });

  test("the destination cuts its chunks at the changed indices and every chunk past the new end", () => {
    const plan = planChunks(12 * MiB, CHUNK);
    expect(oldRangesToCut(plan, [1], 23 * MiB).map((r) => r.offset / MiB)).toEqual([5, 15, 20]);
    expect(oldRangesToCut(plan, [2], 11 * MiB)).toEqual([{ offset: 10 * MiB, length: 1 * MiB }]);
    expect(oldRangesToCut(plan, [1], 0)).toEqual([]);
  });

  test("an assembly is chosen only where it sends fewer bytes than the changed chunks", () => {
    const plan = planChunks(12 * MiB, CHUNK);
    const all: Segment[] = [{ from: "source", offset: 0, length: 12 * MiB }];
    expect(
      chooseAssembly(plan, [0, 1, 2], SegmentList.of(all, 12 * MiB, 12 * MiB), 12 * MiB),
    ).toBeUndefined();
    const one: Segment[] = [
      { from: "old", offset: 0, length: 6 * MiB },
      { from: "source", offset: 6 * MiB, length: 1000 },
      { from: "old", offset: 6 * MiB + 1000, length: 6 * MiB - 1000 },
    ];
    expect(chooseAssembly(plan, [1], SegmentList.of(one, 12 * MiB, 12 * MiB), 12 * MiB)?.sourceBytes).toBe(
      1000,
    );
  });
});

describe("decideObject with an assembly", () => {
  const plan = planChunks(20 * MiB, CHUNK);
  const attributes = { metadata: {} };
  const decide = (segments: Segment[], destinationChecksContentMd5 = false) =>
    decideObject({
      source: { size: plan.size, etag: '"n"', archived: false, attributes },
      destination: { size: 20 * MiB, etag: '"o"', attributes },
      plan,
      changed: [1],
      assembly: planAssembly(plan, segments, 20 * MiB),
      options: {
        serverSideCopy: false,
        verify: "changed",
        copyTags: false,
        destinationChecksContentMd5,
        copySources: { old: true, source: true },
      },
    });

  test("copies old runs in place or from where they moved, builds the rest, and verifies every chunk not copied in place", () => {
    const segments: Segment[] = [
      { from: "old", offset: 0, length: 7 * MiB },
      { from: "source", offset: 7 * MiB, length: 1000 },
      { from: "old", offset: 14 * MiB, length: 6 * MiB },
      { from: "old", offset: 7 * MiB + 1000, length: 7 * MiB - 1000 },
    ];
    const decision = decide(segments);
    // A destination that checks Content-MD5 stores the assembled bytes as built, not that
    // they are the source's: the verification is the same.
    expect(decide(segments, true)).toEqual(decision);
    expect(decision.action).toBe("compose");
    expect(decision.planned.transfer).toBe(1000);
    // Chunks 1 and 2 hold the edit and a seam between runs: each is built whole; chunk 3 lies in the moved run.
    expect(decision.parts.map((p) => [p.kind, p.firstChunk, p.chunkCount])).toEqual([
      ["destinationCopy", 0, 1],
      ["assembled", 1, 1],
      ["assembled", 2, 1],
      ["destinationCopy", 3, 1],
    ]);
    // The run moved from 7 MiB + 1000 on is copied from where the old object holds it.
    const moved = decision.parts.filter((p) => p.kind === "destinationCopy" && p.oldOffset !== undefined);
    expect(moved.length).toBeGreaterThan(0);
    for (const p of moved) expect(p.oldOffset).not.toBe(p.offset);
    // Chunk 0 is copied in place whole; every chunk an assembled part or a moved copy touches is verified.
    expect(decision.verify).not.toContain(0);
    expect(decision.verify).toEqual([...new Set(decision.verify)].sort((a, b) => a - b));
    for (const p of decision.parts)
      if (p.kind !== "destinationCopy" || p.oldOffset !== undefined)
        for (let i = p.firstChunk; i < p.firstChunk + p.chunkCount; i++) expect(decision.verify).toContain(i);
    expect(decision.parts.reduce((n, p) => n + p.length, 0)).toBe(plan.size);
  });
});
