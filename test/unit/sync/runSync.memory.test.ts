import {
  AccessDeniedError,
  type ConditionalWrites,
  MemoryObjectStore,
  S3_CAPABILITIES,
  StorageUnavailableError,
} from "@chunksync/storage";
import type { ObjectResult } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { flipByte, seededBytes } from "../../support/data.js";
import { syncWith } from "../../support/stores.js";

const MiB = 1024 * 1024;

/** Two buckets on two endpoints, as the engine syncs between two storage systems. */
function stores(conditionalWrites?: ConditionalWrites) {
  return {
    source: new MemoryObjectStore({ bucket: "src" }),
    destination: new MemoryObjectStore({
      bucket: "dst",
      ...(conditionalWrites ? { conditionalWrites } : {}),
    }),
  };
}

async function put(store: MemoryObjectStore, key: string, data: Buffer): Promise<string> {
  return (await store.put(key, data, data.length, { metadata: {} }, { ifNoneMatch: "*" })).etag;
}

async function bytes(store: MemoryObjectStore, key: string): Promise<Buffer | undefined> {
  const head = await store.head(key);
  if (!head) return undefined;
  const parts: Buffer[] = [];
  for await (const p of await store.read(key, { offset: 0, length: head.size }, head.etag))
    parts.push(Buffer.from(p as Uint8Array));
  return Buffer.concat(parts);
}

function byKey(results: ObjectResult[]): Record<string, ObjectResult> {
  return Object.fromEntries(results.map((r) => [r.destinationKey, r]));
}

describe("runSync on in-memory stores", () => {
  const big = seededBytes("big", 12 * MiB);
  const edited = flipByte(big, 7 * MiB);
  const small = seededBytes("small", 1024);

  it("keeps identical objects, re-composes a changed one, copies a missing one, and deletes extras only when asked", async () => {
    const { source, destination } = stores();
    await put(source, "same", big);
    await put(source, "changed", edited);
    await put(source, "missing", small);
    await put(destination, "same", big);
    await put(destination, "changed", big);
    await put(destination, "extra", small);

    const first = await syncWith(source, destination);
    const r = byKey(first.results);
    expect(r.same).toMatchObject({ state: "identical", action: "none" });
    expect(r.changed).toMatchObject({ state: "changed", action: "compose", applied: true });
    expect(r.changed?.chunks?.changed).toEqual([1]);
    expect(r.missing).toMatchObject({ state: "missing", action: "copy", applied: true });
    expect(r.extra).toMatchObject({ state: "extra", action: "keep" });
    // Only the block around the edited byte (at most 4 x 64 KiB) and the missing object crossed;
    // the rest was copied in place or taken from the destination's own old chunk.
    expect(first.bytes.transferred).toBeGreaterThan(small.length);
    expect(first.bytes.transferred).toBeLessThanOrEqual(256 * 1024 + small.length);
    expect((await bytes(destination, "changed"))?.equals(edited)).toBe(true);
    expect((await bytes(destination, "missing"))?.equals(small)).toBe(true);
    expect(await destination.head("extra")).toBeDefined();

    const second = await syncWith(source, destination, { delete: true });
    const again = byKey(second.results);
    for (const key of ["same", "changed", "missing"]) expect(again[key]?.state).toBe("identical");
    expect(again.extra).toMatchObject({ state: "extra", action: "delete", applied: true });
    expect(await destination.head("extra")).toBeUndefined();
  });

  it("reports an object whose part upload keeps failing, aborts its upload and keeps the old destination", async () => {
    const { source, destination } = stores();
    await put(source, "changed", edited);
    await put(source, "other", small);
    const oldEtag = await put(destination, "changed", big);
    destination.failNext(
      "uploadPart",
      new AccessDeniedError({ operation: "upload part", bucket: "dst" }),
      "always",
    );

    const report = await syncWith(source, destination);
    const r = byKey(report.results);
    expect(r.changed).toMatchObject({ state: "failed", applied: false, error: { code: "ACCESS_DENIED" } });
    expect(r.other).toMatchObject({ state: "missing", applied: true });
    const pending = [];
    for await (const u of destination.listUploads("")) pending.push(u);
    expect(pending).toEqual([]);
    expect((await destination.head("changed"))?.etag).toBe(oldEtag);
    expect((await bytes(destination, "changed"))?.equals(big)).toBe(true);
  });

  it("repeats a part upload after one transient failure and finishes the object", async () => {
    const { source, destination } = stores();
    await put(source, "changed", edited);
    await put(destination, "changed", big);
    destination.failNext(
      "uploadPart",
      new StorageUnavailableError({ operation: "upload part", bucket: "dst" }, "reset"),
    );

    const r = byKey((await syncWith(source, destination)).results);
    expect(r.changed).toMatchObject({ state: "changed", applied: true });
    expect(destination.calls("uploadPart")).toBe(2);
    expect((await bytes(destination, "changed"))?.equals(edited)).toBe(true);
  });

  describe("the destination's declared conditions decide the HEAD before the final write", () => {
    /** Syncs one changed object; a concurrent writer replaces it on the destination just before `when`, if named. */
    async function compose(
      conditionalWrites: ConditionalWrites | undefined,
      when?: "uploadPart" | "complete",
    ) {
      const { source, destination } = stores(conditionalWrites);
      await put(source, "changed", edited);
      const planned = await put(destination, "changed", big);
      const theirs = Buffer.from("the other writer's version");
      if (when)
        destination.beforeNext(when, async () => {
          await destination.put("changed", theirs, theirs.length, { metadata: {} }, { ifMatch: planned });
        });
      const r = byKey((await syncWith(source, destination)).results);
      return {
        result: r.changed,
        theirsKept: (await bytes(destination, "changed"))?.equals(theirs),
        heads: destination.calls("head"),
      };
    }

    it("one HEAD fewer where the store enforces If-Match on complete than where it does not", async () => {
      const enforcing = await compose(undefined);
      const ignoring = await compose(S3_CAPABILITIES.conditionalWrites);
      expect(enforcing.result).toMatchObject({ state: "changed", applied: true });
      expect(ignoring.result).toMatchObject({ state: "changed", applied: true });
      expect(ignoring.heads).toBe(enforcing.heads + 1);
    });

    it("a store enforcing If-Match on complete refuses a concurrent writer's replacement with its own 412", async () => {
      const { result, theirsKept } = await compose(undefined, "complete");
      expect(result).toMatchObject({ state: "failed", error: { code: "DESTINATION_CHANGED" } });
      expect(theirsKept).toBe(true);
    });

    it("on a store that ignores If-Match (as Ceph RGW 16 does), the HEAD finds a concurrent writer's replacement", async () => {
      const { result, theirsKept } = await compose(S3_CAPABILITIES.conditionalWrites, "uploadPart");
      expect(result).toMatchObject({ state: "failed", error: { code: "DESTINATION_CHANGED" } });
      expect(theirsKept).toBe(true);
    });
  });
});
