import { chunkRange, concurrencyMemoryBudget, decideObject, planChunks } from "@chunksync/core";
import { MemoryObjectStore, pour } from "@chunksync/storage";
import {
  Limiter,
  type ObjectWrite,
  PartBuffers,
  type WriteContext,
  writeEarly,
  writeObject,
} from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { seededBytes } from "../../support/data.js";

const MiB = 1024 * 1024;
const plan = planChunks(15 * MiB, 5 * MiB);
const old = seededBytes("early-old", 15 * MiB);

/** The old object in a destination store, and a new one with `changed` chunks of other bytes. */
async function setup(changed: number[]) {
  const destination = new MemoryObjectStore({ bucket: "d" });
  const { etag } = await destination.put("k", old, old.length, { metadata: {} }, { ifNoneMatch: "*" });
  const next = Buffer.from(old);
  for (const i of changed) {
    const r = chunkRange(plan, i);
    seededBytes(`early-new-${i}`, r.length).copy(next, r.offset);
  }
  const bytes = { transferred: 0, uploaded: 0, destinationRead: 0, copiedServerSide: 0 };
  const ctx: WriteContext = {
    destination,
    limiter: new Limiter(2),
    buffers: new PartBuffers(concurrencyMemoryBudget(2, 5 * MiB)),
    bytes,
  };
  const decision = (chunks: number[]) =>
    decideObject({
      source: { size: next.length, etag: '"new"', archived: false, attributes: { metadata: {} } },
      destination: { size: old.length, etag, attributes: { metadata: {} } },
      plan,
      changed: chunks,
      options: {
        serverSideCopy: false,
        verify: "changed",
        copyTags: false,
        destinationChecksContentMd5: false,
        copySources: { old: true, source: true },
      },
    });
  const write = (chunks: number[]): ObjectWrite => ({
    key: "k",
    attributes: { metadata: {} },
    decision: decision(chunks),
    source: { bucket: "s", key: "k", etag: '"new"', size: next.length },
    plan,
    sourceRef: { bucket: "s", key: "k", etag: '"new"' },
    old: { ref: destination.ref("k", etag), size: old.length },
    parts: {
      readInto: async (r, sink) => {
        await pour([next.subarray(r.offset, r.offset + r.length)], sink);
      },
    },
  });
  const written = async () => {
    const body: Buffer[] = [];
    const head = await destination.head("k");
    for await (const p of await destination.read("k", { offset: 0, length: next.length }, head!.etag))
      body.push(p as Buffer);
    return Buffer.concat(body);
  };
  return { destination, ctx, bytes, next, write, written };
}

describe("a write started before its decision (the old object's copies while blocks are matched)", () => {
  it("completes with the early copies the decision lists and writes only the rest", async () => {
    const { destination, ctx, bytes, next, write, written } = await setup([1]);
    const early = await writeEarly(ctx, write([1]));
    expect(early?.parts.map((p) => p.partNumber)).toEqual([1, 3]);
    await writeObject(ctx, write([1]), early);
    expect((await written()).equals(next)).toBe(true);
    expect(destination.calls("createUpload")).toBe(1);
    expect(destination.calls("copyPart")).toBe(2);
    expect(destination.calls("uploadPart")).toBe(1);
    expect(bytes.copiedServerSide).toBe(10 * MiB);
  });

  it("writes a part the decision numbers as an early copy after that copy, and counts only what it lists", async () => {
    const { destination, ctx, bytes, next, write, written } = await setup([0, 1]);
    // Started as if only chunk 1 changed: part 1 is a copy of the old chunk 0.
    const early = await writeEarly(ctx, write([1]));
    await writeObject(ctx, write([0, 1]), early);
    expect((await written()).equals(next)).toBe(true);
    expect(destination.calls("uploadPart")).toBe(2);
    expect(bytes.copiedServerSide).toBe(5 * MiB);
  });

  it("creates the upload alone where every chunk changed, and the write completes that one", async () => {
    const { destination, ctx, next, write, written } = await setup([0, 1, 2]);
    const early = await writeEarly(ctx, write([0, 1, 2]));
    expect(early?.parts).toEqual([]);
    expect(destination.calls("createUpload")).toBe(1);
    await writeObject(ctx, write([0, 1, 2]), early);
    expect((await written()).equals(next)).toBe(true);
    expect(destination.calls("createUpload")).toBe(1);
    expect(destination.calls("copyPart")).toBe(0);
    expect(destination.calls("uploadPart")).toBe(3);
  });
});
