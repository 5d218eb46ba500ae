import { Readable } from "node:stream";
import {
  AccessDeniedError,
  MemoryBuckets,
  MemoryObjectStore,
  ObjectArchivedError,
  StorageError,
} from "@chunksync/storage";
import { describe, expect, it } from "vitest";

const attrs = { metadata: {} };
const denied = () => new AccessDeniedError({ operation: "test", bucket: "b" });

describe("MemoryObjectStore: what the contract suite cannot reach", () => {
  it("fails the next call of a named operation once, then works again", async () => {
    const store = new MemoryObjectStore({ bucket: "b" });
    const error = denied();
    store.failNext("put", error);
    await expect(store.put("k", Buffer.from("x"), 1, attrs, { ifNoneMatch: "*" })).rejects.toBe(error);
    expect(await store.head("k")).toBeUndefined();
    await store.put("k", Buffer.from("x"), 1, attrs, { ifNoneMatch: "*" });
    expect(store.calls("put")).toBe(2);
  });

  it("fails every call until healed, and only the operation named", async () => {
    const store = new MemoryObjectStore({ bucket: "b" });
    store.failNext("head", denied(), "always");
    await expect(store.head("k")).rejects.toBeInstanceOf(AccessDeniedError);
    await expect(store.head("k")).rejects.toBeInstanceOf(AccessDeniedError);
    await store.put("k", Buffer.from("x"), 1, attrs, { ifNoneMatch: "*" });
    store.heal("head");
    expect(await store.head("k")).toMatchObject({ size: 1 });
  });

  it("fails a call made through an upload handle", async () => {
    const store = new MemoryObjectStore({ bucket: "b" });
    const upload = await store.createUpload("k", attrs);
    store.failNext("complete", denied());
    const part = await upload.uploadPart(1, Readable.from([Buffer.from("x")]), 1);
    await expect(upload.complete([part], { ifNoneMatch: "*" })).rejects.toBeInstanceOf(AccessDeniedError);
    await upload.complete([part], { ifNoneMatch: "*" });
    expect(await store.head("k")).toMatchObject({ size: 1 });
  });

  it("runs another writer's turn just before a call", async () => {
    const store = new MemoryObjectStore({ bucket: "b" });
    store.beforeNext("put", () => store.delete("never-there"));
    await store.put("k", Buffer.from("x"), 1, attrs, { ifNoneMatch: "*" });
    expect(store.calls("delete")).toBe(1);
  });

  it("makes objects written in an archive class unreadable until restored", async () => {
    const buckets = new MemoryBuckets();
    const archive = new MemoryObjectStore({ bucket: "b", buckets, write: { storageClass: "GLACIER" } });
    const { etag } = await archive.put("k", Buffer.from("cold"), 4, attrs, { ifNoneMatch: "*" });
    expect(await archive.head("k")).toMatchObject({ storageClass: "GLACIER", archived: true });
    const listed = [];
    for await (const o of archive.list("")) listed.push(o.storageClass);
    expect(listed).toEqual(["GLACIER"]);
    await expect(archive.read("k", { offset: 0, length: 4 }, etag)).rejects.toBeInstanceOf(
      ObjectArchivedError,
    );
    const other = new MemoryObjectStore({ bucket: "c", buckets });
    await expect(
      other.copyObject(archive.ref("k", etag), "k", attrs, { ifNoneMatch: "*" }),
    ).rejects.toBeInstanceOf(ObjectArchivedError);
  });

  it("refuses a body shorter than announced, and stops reading one when the signal aborts", async () => {
    const store = new MemoryObjectStore({ bucket: "b" });
    await expect(store.put("k", Buffer.from("abc"), 4, attrs, { ifNoneMatch: "*" })).rejects.toBeInstanceOf(
      StorageError,
    );
    const stalled = new Readable({ read() {} });
    const controller = new AbortController();
    const put = store.put("k", stalled, 10, attrs, { ifNoneMatch: "*" }, controller.signal);
    controller.abort(new Error("stop"));
    await expect(put).rejects.toThrow("stop");
    expect(await store.head("k")).toBeUndefined();
  });

  it("dates pending uploads by the injected clock", async () => {
    const at = new Date("2026-01-01T00:00:00Z");
    const store = new MemoryObjectStore({ bucket: "b", now: () => at });
    await store.createUpload("k", attrs);
    const pending = [];
    for await (const u of store.listUploads("")) pending.push(u);
    expect(pending).toEqual([expect.objectContaining({ key: "k", initiated: at })]);
  });
});
