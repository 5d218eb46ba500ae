import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { digestOf, type IndexEntry, type IndexScope, pairingTag, ValidationError } from "@chunksync/core";
import { describe, expect, it } from "vitest";
import type { DestinationRecord, SourceRecord } from "../../../packages/workflow/src/context.js";
import { workKeys } from "../../../packages/workflow/src/layout.js";
import { PageFound, PageFoundWriter } from "../../../packages/workflow/src/pageLookup.js";
import { needDestination, needSource, needUpload } from "../../../packages/workflow/src/sourceSteps.js";
import { MemoryWorkArea } from "../../../packages/workflow/src/WorkArea.js";

const source = (): SourceRecord => ({
  key: "a.bin",
  bucket: "src",
  sourceKey: "photos/a.bin",
  etag: '"e"',
  size: 10,
  archived: false,
  plan: { size: 10, chunkSize: 5 * 1024 * 1024, count: 1 },
  // Expires is the source's header text, which need not be a date.
  attributes: { metadata: { k: "v" }, contentType: "image/png", expires: "0" },
});

const destination = (): DestinationRecord => ({
  bucket: "dst",
  destinationKey: "a.bin",
  exists: true,
  etag: '"d"',
  size: 10,
  attributes: { metadata: {}, tagging: "a=1" },
  checksContentMd5: true,
  checksSignedChunks: true,
  copySourceEscapesReadOnce: false,
});

/** The error a read of `record` stored at `key` fails with, or the record read. */
async function readBack<T>(key: string, record: unknown, read: (w: MemoryWorkArea) => Promise<T>) {
  const work = new MemoryWorkArea();
  await work.put(key, record);
  return read(work).catch((e: unknown) => e);
}

describe("the records that cross sides are read back through their schemas", () => {
  it("reads back what each side wrote", async () => {
    expect(
      await readBack(workKeys.source("r", "a.bin"), source(), (w) => needSource(w, "r", "a.bin")),
    ).toEqual(source());
    expect(
      await readBack(workKeys.destination("r", "a.bin"), destination(), (w) =>
        needDestination(w, "r", "a.bin"),
      ),
    ).toEqual(destination());
  });

  it.each([
    ["a negative size", { ...source(), size: -1 }, "size"],
    ["a chunk size of 0", { ...source(), plan: { size: 10, chunkSize: 0, count: 1 } }, "plan.chunkSize"],
    [
      "metadata that is not text",
      { ...source(), attributes: { metadata: { k: 1 } } },
      "attributes.metadata.k",
    ],
    [
      "an Expires that is not text",
      { ...source(), attributes: { metadata: {}, expires: 0 } },
      "attributes.expires",
    ],
    ["an unknown field", { ...source(), digest: "00" }, "source"],
  ])("refuses a source record with %s, naming the field", async (_, record, field) => {
    const error = await readBack(workKeys.source("r", "a.bin"), record, (w) => needSource(w, "r", "a.bin"));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
  });

  it("refuses a destination record whose ETag is empty", async () => {
    const error = await readBack(workKeys.destination("r", "a.bin"), { ...destination(), etag: "" }, (w) =>
      needDestination(w, "r", "a.bin"),
    );
    expect((error as ValidationError).field).toBe("etag");
  });

  it("refuses an upload record without the attempt that began it", async () => {
    const record = { key: "a.bin", uploadId: "u1" };
    const error = await readBack(workKeys.upload("r", "a.bin"), record, (w) => needUpload(w, "r", "a.bin"));
    expect((error as ValidationError).field).toBe("attempt");
  });
});

describe("what a page's listing step found of its keys, in one record a page", () => {
  const scope: IndexScope = {
    storage: "http://127.0.0.1:9000",
    bucket: "b",
    prefix: "",
    chunkSize: 5 * 1024 * 1024,
    algorithm: "sha256",
    pairing: pairingTag(Buffer.alloc(32, 1)),
  };
  const entry = (key: string, chunks: number): IndexEntry => ({
    key,
    size: chunks * scope.chunkSize,
    etag: `"${key}"`,
    lastModified: 1_000,
    proof: "read",
    at: 2_000,
    attributes: { metadata: {} },
    digests: Array.from({ length: chunks }, (_, i) => digestOf("sha256", Buffer.from(`${key}${i}`))),
  });

  it("reads back each key's entry and listing, an entry too long for the page's record from the key's own", async () => {
    const work = new MemoryWorkArea();
    const writer = new PageFoundWriter(work, "destination", "r", 3);
    const small = entry("small", 2);
    // 200 chunks' digests: far over what a page's record takes of one key.
    const large = entry("large", 200);
    const listed = (key: string) => ({ key, size: 1, etag: `"${key}"` });
    writer.add("small", { entry: small, versioned: false }, listed("small"));
    writer.add("large", { entry: large, versioned: true, listedVersionId: "v1" }, listed("large"));
    writer.add("bare", undefined, listed("bare"));
    writer.add("none", undefined);
    await writer.end();
    const page = await work.get<{ key: string; entry?: unknown }[]>(
      workKeys.pageFound("destination", "r", 3),
    );
    expect(page?.map((item) => [item.key, item.entry !== undefined])).toEqual([
      ["small", true],
      ["large", false],
      ["bare", false],
    ]);
    expect(await work.get(workKeys.found("destination", "r", "large"))).toBeDefined();
    expect(await work.get(workKeys.found("destination", "r", "small"))).toBeUndefined();
    const read = await PageFound.read(work, "destination", "r", 3, scope);
    expect(await read.found("small")).toEqual({ entry: small, versioned: false });
    expect(await read.found("large")).toEqual({ entry: large, versioned: true, listedVersionId: "v1" });
    expect(await read.found("bare")).toBeUndefined();
    expect(read.listed("bare")).toEqual(listed("bare"));
    expect(read.listed("none")).toBeUndefined();
    // Another scope's entries are none of this one's; another page's record holds none of these.
    const other = await PageFound.read(work, "destination", "r", 3, {
      ...scope,
      chunkSize: scope.chunkSize * 2,
    });
    expect(await other.found("small")).toBeUndefined();
    expect(await (await PageFound.read(work, "destination", "r", 4, scope)).found("small")).toBeUndefined();
  });

  it("a listing step retried writes its page's record again, and the page's steps read the new one", async () => {
    const work = new MemoryWorkArea();
    const listed = (key: string, size: number) => ({ key, size, etag: `"${key}"` });
    const write = async (size: number) => {
      const writer = new PageFoundWriter(work, "destination", "r", 0);
      writer.add("a", undefined, listed("a", size));
      await writer.end();
    };
    await write(1);
    expect((await PageFound.read(work, "destination", "r", 0, scope)).listed("a")?.size).toBe(1);
    await write(2);
    expect((await PageFound.read(work, "destination", "r", 0, scope)).listed("a")?.size).toBe(2);
  });
});

describe("the work area in memory", () => {
  it("forgets records by key, and a folder's with every record under it", async () => {
    const work = new MemoryWorkArea();
    for (const key of ["r/o/1/a.json", "r/o/1/moved/b.json", "r/o/10/a.json", "r/o/2/a.json", "r/p.json"])
      await work.put(key, key);
    await work.forget(["r/o/1/", "r/p.json", "r/none/"]);
    const left: string[] = [];
    for await (const key of work.list("")) left.push(key);
    expect(left).toEqual(["r/o/10/a.json", "r/o/2/a.json"]);
    expect(await work.get("r/o/1/moved/b.json")).toBeUndefined();
    // A folder forgotten is written again as new.
    await work.put("r/o/1/a.json", 1);
    await work.forget(["r/o/"]);
    for await (const key of work.list("")) expect.fail(`${key} is left`);
  });
});

describe("the work area in memory, with records kept on disk", () => {
  it("keeps the records it is told to in files, reads them back, folds records into one and drops them", async () => {
    const directory = mkdtempSync(join(tmpdir(), "work-spill-"));
    try {
      const work = new MemoryWorkArea({ directory, keys: (key) => key.startsWith("disk/") });
      await work.put("disk/page.json", [{ n: 0 }]);
      await work.put("mem/a.json", { n: 1 });
      await work.put("mem/b.json", { n: 2 });
      expect(readdirSync(directory)).toHaveLength(1);
      await work.fold(["mem/a.json", "mem/none.json", "mem/b.json"], "disk/page.json");
      expect(await work.get("disk/page.json")).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
      expect(await work.get("mem/a.json")).toBeUndefined();
      // Folded into a record none held yet, it is made.
      await work.put("mem/c.json", { n: 3 });
      await work.fold(["mem/c.json"], "disk/other.json");
      expect(await work.get("disk/other.json")).toEqual([{ n: 3 }]);
      const listed: string[] = [];
      for await (const key of work.list("")) listed.push(key);
      expect(listed).toEqual(["disk/other.json", "disk/page.json"]);
      // Lines go to a file as they come, and are read back one at a time.
      await work.putLines(
        "report.jsonl",
        (async function* () {
          yield `${JSON.stringify({ line: 1 })}\n`;
          yield `${JSON.stringify({ line: 2 })}\n`;
        })(),
      );
      const lines: unknown[] = [];
      for await (const line of work.getLines("report.jsonl")) lines.push(line);
      expect(lines).toEqual([{ line: 1 }, { line: 2 }]);
      await work.forget(["disk/page.json", "disk/other.json", "report.jsonl"]);
      expect(readdirSync(directory)).toEqual([]);
      expect(await work.get("disk/page.json")).toBeUndefined();
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
