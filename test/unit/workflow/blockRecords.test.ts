import {
  type AssemblyPlan,
  BLOCK_TAG_BYTES,
  BlockList,
  type BlockRounds,
  blockRequest,
  MiB,
  partPieces,
  planAssembly,
  planChunks,
  SegmentList,
} from "@chunksync/core";
import { describe, expect, it } from "vitest";
import {
  assemblyOf,
  roundsOf,
  storedAssembly,
  storedRounds,
} from "../../../packages/workflow/src/blockRecords.js";

const id = (key: string, etag: string) => ({ bucket: "b", key, etag });

/** A list of `count` 4 KiB blocks from `at`, each tag a byte pattern of its place. */
function blocks(at: number, count: number): BlockList {
  const list = new BlockList(BLOCK_TAG_BYTES, 1);
  for (let i = 0; i < count; i++) list.push(at + i * 4096, 4096, Buffer.alloc(BLOCK_TAG_BYTES, at + i));
  return list;
}

/** What a list of blocks holds, as objects. */
const blocksOf = (list: BlockList) =>
  Array.from({ length: list.count }, (_, i) => [list.offset(i), list.length(i), [...list.digest(i)]]);

describe("block rounds as the work area keeps them", () => {
  it("a fine round asking about the first round's guesses keeps its segments and guesses through JSON", () => {
    const request = blockRequest({
      source: id("new", '"n"'),
      destination: id("old", '"o"'),
      params: { min: 1024, avg: 4096, max: 16384 },
      cut: [{ offset: 0, length: 65536 }],
    });
    const segments = SegmentList.of(
      [
        { from: "old", offset: 0, length: 8192 },
        { from: "source", offset: 8192, length: 12288 },
        { from: "old", offset: 40960, length: 4096 },
      ],
      24576,
      1 << 20,
    );
    const rounds: BlockRounds = {
      request,
      blocks: blocks(8192, 3),
      refined: { segments, guessed: { blocks: blocks(8192, 2), oldOffset: [8192, 12288] } },
    };
    const back = roundsOf(JSON.parse(JSON.stringify(storedRounds(rounds))));
    expect(back.request).toEqual(request);
    expect(blocksOf(back.blocks)).toEqual(blocksOf(rounds.blocks));
    expect(back.refined?.segments.toArray()).toEqual(segments.toArray());
    expect(back.refined?.guessed?.oldOffset).toEqual([8192, 12288]);
    expect(blocksOf(back.refined?.guessed?.blocks as BlockList)).toEqual(blocksOf(blocks(8192, 2)));
    // A fine round without guesses stays without them.
    const plain = roundsOf(JSON.parse(JSON.stringify(storedRounds({ ...rounds, refined: { segments } }))));
    expect(plain.refined).not.toHaveProperty("guessed");
  });

  it("an assembly keeps its parts and every mixed part's pieces through JSON, planned again from its segments", () => {
    // Two pages changed in the first two MiB, a moved run, and a source tail.
    const segments = SegmentList.of(
      [
        { from: "old", offset: 0, length: 512 * 1024 },
        { from: "source", offset: 512 * 1024, length: 4096 },
        { from: "old", offset: 512 * 1024 + 4096, length: MiB - 4096 },
        { from: "source", offset: 3 * 512 * 1024, length: 4096 },
        { from: "old", offset: 20 * MiB, length: 12 * MiB },
        { from: "source", offset: (27 * MiB) / 2 + 4096, length: 3 * MiB },
      ],
      (33 * MiB) / 2 + 4096,
      40 * MiB,
    );
    const plan = planChunks((33 * MiB) / 2 + 4096, 5 * MiB);
    const assembly = planAssembly(plan, segments, 40 * MiB);
    expect(assembly.mixedParts).toBeGreaterThan(1);
    const back = assemblyOf(JSON.parse(JSON.stringify(storedAssembly(assembly))), plan, 40 * MiB);
    expect(described(back)).toEqual(described(assembly));
    // Planned for another object, the segments are refused rather than misread.
    expect(() => assemblyOf(storedAssembly(assembly), planChunks(34 * MiB, 5 * MiB), 40 * MiB)).toThrow(
      /segments/,
    );
  });
});

/** An assembly's figures and parts, each mixed part with its pieces. */
function described(assembly: AssemblyPlan) {
  const { size, sourceBytes, oldBytesRead, copiedBytes, mixedParts } = assembly;
  const parts = assembly.parts.map((part) =>
    part.kind === "copy" ? part : { ...part, pieces: [...partPieces(assembly, part)] },
  );
  return { size, sourceBytes, oldBytesRead, copiedBytes, mixedParts, parts };
}
