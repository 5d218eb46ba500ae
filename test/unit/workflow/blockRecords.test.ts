import { BLOCK_TAG_BYTES, BlockList, type BlockRounds, blockRequest, SegmentList } from "@chunksync/core";
import { describe, expect, it } from "vitest";
import { roundsOf, storedRounds } from "../../../packages/workflow/src/blockRecords.js";

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
});
