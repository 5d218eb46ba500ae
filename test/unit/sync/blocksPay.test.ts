import { planChunks } from "@chunksync/core";
import { describe, expect, it } from "vitest";
import { blocksPay, MIN_BLOCK_BYTES } from "../../../packages/sync/src/phases/blocks.js";

const MiB = 1024 * 1024;
const settings = { blocks: true, serverSideCopy: false, copySourceEscapesReadOnce: true };
const plan = planChunks(12 * MiB, 5 * MiB);

describe("blocksPay: whether one object's block exchange can spare more than it costs", () => {
  it("asks for at least 1 MiB of changed chunks and as much of an old object to match them against", () => {
    const old = (size: number) => ({ key: "a", size });
    expect(blocksPay(settings, old(12 * MiB), plan, [0])).toBe(true);
    expect(blocksPay(settings, old(MIN_BLOCK_BYTES), plan, [0])).toBe(true);
    // An old object of one byte (or under 1 MiB) can spare less than the exchange reads and sends.
    expect(blocksPay(settings, old(1), plan, [0, 1, 2])).toBe(false);
    expect(blocksPay(settings, old(MIN_BLOCK_BYTES - 1), plan, [0, 1, 2])).toBe(false);
    expect(blocksPay(settings, old(0), plan, [0])).toBe(false);
    // The last chunk alone is 2 MiB: enough; no changed chunk at all is not.
    expect(blocksPay(settings, old(12 * MiB), plan, [2])).toBe(true);
    expect(blocksPay(settings, old(12 * MiB), plan, [])).toBe(false);
  });

  it("never where nothing crosses or nothing is written: no blocks, a server-side copy, a dry run, no old object", () => {
    const old = { key: "a", size: 12 * MiB };
    expect(blocksPay({ ...settings, blocks: false }, old, plan, [0])).toBe(false);
    expect(blocksPay({ ...settings, serverSideCopy: true }, old, plan, [0])).toBe(false);
    expect(blocksPay({ ...settings, dryRun: true }, old, plan, [0])).toBe(false);
    expect(blocksPay(settings, undefined, plan, [0])).toBe(false);
    expect(blocksPay(settings, old, plan, undefined)).toBe(false);
  });
});
