import {
  type AssemblyPlan,
  chunkRange,
  concurrencyMemoryBudget,
  decideObject,
  planAssembly,
  planChunks,
} from "@chunksync/core";
import { MemoryObjectStore, pour } from "@chunksync/storage";
import {
  abandonEarly,
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

/**
 * The old object in a destination store, and a new one with `changed` chunks of other bytes
 * (or `given`).
 */
async function setup(changed: number[], given?: Buffer) {
  const destination = new MemoryObjectStore({ bucket: "d" });
  const { etag } = await destination.put("k", old, old.length, { metadata: {} }, { ifNoneMatch: "*" });
  const next = given ?? Buffer.from(old);
  for (const i of given ? [] : changed) {
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
  const decision = (chunks: number[], assembly?: AssemblyPlan) =>
    decideObject({
      source: { size: next.length, etag: '"new"', archived: false, attributes: { metadata: {} } },
      destination: { size: old.length, etag, attributes: { metadata: {} } },
      plan,
      changed: chunks,
      assembly,
      options: {
        serverSideCopy: false,
        verify: "changed",
        copyTags: false,
        destinationChecksContentMd5: false,
        copySources: { old: true, source: true },
      },
    });
  const write = (chunks: number[], assembly?: AssemblyPlan): ObjectWrite => ({
    key: "k",
    attributes: { metadata: {} },
    decision: decision(chunks, assembly),
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

/** The uploads left open in `store`. */
async function openUploads(store: MemoryObjectStore): Promise<string[]> {
  const open: string[] = [];
  for await (const u of store.listUploads("")) open.push(u.uploadId);
  return open;
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

  it("takes back the bytes its copies counted where it is abandoned: none of them is in an object", async () => {
    const { destination, ctx, bytes, write } = await setup([1]);
    const early = await writeEarly(ctx, write([1]));
    await early?.written;
    expect(bytes.copiedServerSide).toBe(10 * MiB);
    await abandonEarly(ctx, early);
    expect(bytes.copiedServerSide).toBe(0);
    expect(await openUploads(destination)).toEqual([]);
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

  describe("where the decision has fewer parts than the early upload", () => {
    // The old object's chunks 1 and 2 moved to the front; chunk 2 also stays in place. The
    // chunk-level plan changes chunks 0 and 1 and copies chunk 2 early as its part 3; the
    // assembly joins the two moved chunks into one copy, so chunk 2 is its part 2, and no part 3.
    const moved = () => setup([0, 1], Buffer.concat([old.subarray(5 * MiB), old.subarray(10 * MiB)]));
    const assembly = planAssembly(
      plan,
      [
        { from: "old", offset: 5 * MiB, length: 10 * MiB },
        { from: "old", offset: 10 * MiB, length: 5 * MiB },
      ],
      old.length,
    );

    it("writes the decision into an upload of its own, leaving no early part out of a completion", async () => {
      const { destination, ctx, bytes, next, write, written } = await moved();
      const early = await writeEarly(ctx, write([0, 1]));
      expect(early?.parts.map((p) => p.partNumber)).toEqual([3]);
      const final = write([0, 1], assembly);
      expect(final.decision.parts.map((p) => [p.partNumber, p.kind])).toEqual([
        [1, "destinationCopy"],
        [2, "destinationCopy"],
      ]);
      await writeObject(ctx, final, early);
      expect((await written()).equals(next)).toBe(true);
      expect(destination.calls("createUpload")).toBe(2);
      expect(destination.calls("abortUpload")).toBe(1);
      // Only the parts of the object written count as copied: not the early one aborted.
      expect(bytes.copiedServerSide).toBe(15 * MiB);
      expect(await openUploads(destination)).toEqual([]);
    });

    it("leaves neither upload open where the write into the new one fails", async () => {
      const { destination, ctx, write } = await moved();
      const early = await writeEarly(ctx, write([0, 1]));
      destination.failNext("complete", new Error("refused"));
      await expect(writeObject(ctx, write([0, 1], assembly), early)).rejects.toThrow("refused");
      expect(destination.calls("createUpload")).toBe(2);
      expect(await openUploads(destination)).toEqual([]);
    });
  });
});
