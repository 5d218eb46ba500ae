import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { digestOf, type IndexEntry, type IndexScope, pairingTag } from "@chunksync/core";
import { MemoryObjectStore } from "@chunksync/storage";
import { DirectoryIndexLocation, makeDirectory, SideIndex, StoreIndexLocation } from "@chunksync/sync";
import { describe, expect, it } from "vitest";

const scope: IndexScope = {
  storage: "memory",
  bucket: "b",
  prefix: "",
  chunkSize: 5 * 1024 * 1024,
  algorithm: "sha256",
  pairing: pairingTag(Buffer.alloc(32, 3)),
};
const T = Date.UTC(2026, 0, 1);
const key = (i: number) => `k${String(i).padStart(6, "0")}`;

function entry(i: number): IndexEntry {
  return {
    key: key(i),
    size: 10,
    etag: `"e${i}"`,
    lastModified: T,
    proof: "read",
    at: T + 5000,
    attributes: { metadata: {} },
    digests: [digestOf("sha256", Buffer.from(key(i)))],
  };
}
const listed = (i: number) => ({ size: 10, etag: `e${i}`, lastModified: T });

/** Writes entries for `keys` as one run would, and commits. */
async function build(dir: string, keys: number[]): Promise<void> {
  const side = await SideIndex.open({ location: new DirectoryIndexLocation(dir), scope, consult: true });
  for (const i of keys) await side.keep(entry(i));
  await side.commit();
}

/** The files of an index directory and their bytes. */
function files(dir: string): Map<string, string> {
  return new Map(readdirSync(dir).map((n) => [n, readFileSync(join(dir, n)).toString("hex")]));
}

/**
 * One run over `keys` that consults the index at `dir`: each key's entry from the index where
 * it stands, else a new one (`changed` keys get another ETag, as a rewrite would); then commits.
 */
async function rerun(dir: string, keys: number[], changed: number[] = []): Promise<SideIndex> {
  const side = await SideIndex.open({ location: new DirectoryIndexLocation(dir), scope, consult: true });
  for (const i of keys) {
    const found = await side.find(key(i), listed(i));
    await side.keep(changed.includes(i) ? { ...entry(i), etag: `"x${i}"` } : (found ?? entry(i)));
  }
  await side.commit();
  return side;
}

describe("a side's index on disk", () => {
  it("a run that found every entry standing and changed none writes nothing, and says what it kept", async () => {
    const dir = mkdtempSync(join(tmpdir(), "index-"));
    const keys = Array.from({ length: 9000 }, (_, i) => i);
    await build(dir, keys);
    const before = files(dir);
    const side = await rerun(dir, keys);
    expect(files(dir)).toEqual(before);
    expect(side.report).toMatchObject({ found: "loaded", written: 9000, notes: [] });
  });

  it("a change after held pieces copies them under new names: the new index is whole and the old pieces go", async () => {
    const dir = mkdtempSync(join(tmpdir(), "index-"));
    const keys = Array.from({ length: 9000 }, (_, i) => i);
    await build(dir, keys);
    const old = [...files(dir).keys()].filter((n) => n.startsWith("p-"));
    // Key 8500 is in the third piece: the first two come out as they were, then one differs.
    await rerun(dir, keys, [8500]);
    const now = [...files(dir).keys()].filter((n) => n.startsWith("p-"));
    expect(now).toHaveLength(3);
    expect(now.filter((n) => old.includes(n))).toEqual([]);
    const side = await SideIndex.open({ location: new DirectoryIndexLocation(dir), scope, consult: true });
    for (const i of [0, 4100, 8499]) expect(await side.find(key(i), listed(i))).toBeDefined();
    expect(await side.find(key(8500), { ...listed(8500), etag: "x8500" })).toBeDefined();
    expect(side.report.notes).toEqual([]);
  });

  it("a damaged piece whose objects were read again is written anew, even with the same entries", async () => {
    const dir = mkdtempSync(join(tmpdir(), "index-"));
    const keys = Array.from({ length: 5000 }, (_, i) => i);
    await build(dir, keys);
    const first = [...files(dir).keys()].filter((n) => n.startsWith("p-")).sort()[0]!;
    const data = readFileSync(join(dir, first));
    data[100] = data[100]! ^ 1;
    writeFileSync(join(dir, first), data);
    const side = await rerun(dir, keys);
    expect(side.report.notes).toHaveLength(1);
    const again = await SideIndex.open({ location: new DirectoryIndexLocation(dir), scope, consult: true });
    expect(await again.find(key(0), listed(0))).toBeDefined();
    expect(again.report.notes).toEqual([]);
  });

  it("a stored piece altered before it could be copied leaves the old index, noted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "index-"));
    const keys = Array.from({ length: 5000 }, (_, i) => i);
    await build(dir, keys);
    const before = files(dir);
    const first = [...before.keys()].filter((n) => n.startsWith("p-")).sort()[0]!;
    const side = await SideIndex.open({ location: new DirectoryIndexLocation(dir), scope, consult: true });
    for (const i of keys) {
      // The first piece is held once key 4096 is kept; then it is altered on disk.
      if (i === 4500) writeFileSync(join(dir, first), "altered");
      await side.keep((await side.find(key(i), listed(i)))!);
    }
    // A key the stored index lacks: the new index differs, and the held piece must be copied.
    await side.keep(entry(5000));
    await side.commit();
    expect(side.report.written).toBeUndefined();
    expect(side.report.notes).toEqual([expect.stringMatching(/changed before it could be copied/)]);
    expect([...files(dir).keys()].sort()).toEqual([...before.keys()].sort());
  });

  it("finds entries across many pieces for ascending keys, skipping the ones asked that it lacks", async () => {
    const dir = mkdtempSync(join(tmpdir(), "index-"));
    const evens = Array.from({ length: 10_000 }, (_, i) => i * 2);
    await build(dir, evens);
    expect(readdirSync(dir).filter((n) => n.startsWith("p-")).length).toBe(3);
    const side = await SideIndex.open({ location: new DirectoryIndexLocation(dir), scope, consult: true });
    expect(side.report.found).toBe("loaded");
    let found = 0;
    for (let i = 0; i < 20_000; i += 3) {
      const hit = await side.find(key(i), listed(i));
      if (i % 2 === 0) {
        expect(hit?.digests).toEqual(entry(i).digests);
        found++;
      } else expect(hit).toBeUndefined();
    }
    expect(found).toBe(3334);
    // An entry for another version of the key does not stand.
    const other = await SideIndex.open({ location: new DirectoryIndexLocation(dir), scope, consult: true });
    expect(await other.find(key(0), { ...listed(0), etag: "changed" })).toBeUndefined();
  });

  it("a key asked again while its piece is read is told to wait for that read, never answered from an empty piece", async () => {
    const dir = mkdtempSync(join(tmpdir(), "index-"));
    await build(
      dir,
      Array.from({ length: 5000 }, (_, i) => i),
    );
    const side = await SideIndex.open({ location: new DirectoryIndexLocation(dir), scope, consult: true });
    const first = side.loading(key(0));
    expect(first).toBeDefined();
    // Asked again before the read ends (held pairs decided in between, say): the same read.
    expect(side.loading(key(0))).toBe(first);
    await first;
    expect(side.loading(key(0))).toBeUndefined();
    expect(side.lookup(key(0), listed(0))?.digests).toEqual(entry(0).digests);
    // The next piece, the same way.
    const second = side.loading(key(4500));
    expect(second).toBeDefined();
    expect(side.loading(key(4500))).toBe(second);
    await second;
    expect(side.lookup(key(4500), listed(4500))?.digests).toEqual(entry(4500).digests);
  });

  it("drops a damaged piece alone, with a note, and keeps the others", async () => {
    const dir = mkdtempSync(join(tmpdir(), "index-"));
    await build(
      dir,
      Array.from({ length: 9000 }, (_, i) => i),
    );
    const second = readdirSync(dir)
      .filter((n) => n.startsWith("p-"))
      .sort()[1]!;
    const data = readFileSync(join(dir, second));
    data[100] = data[100]! ^ 1;
    writeFileSync(join(dir, second), data);
    const side = await SideIndex.open({ location: new DirectoryIndexLocation(dir), scope, consult: true });
    expect(await side.find(key(0), listed(0))).toBeDefined();
    expect(await side.find(key(5000), listed(5000))).toBeUndefined();
    expect(await side.find(key(8500), listed(8500))).toBeDefined();
    expect(side.report.notes).toEqual([
      expect.stringMatching(/does not match its checksum: its objects \(4096\) are read again/),
    ]);
  });

  it("a new index replaces the old one whole and removes the old pieces; a discarded one leaves the old as it was", async () => {
    const dir = mkdtempSync(join(tmpdir(), "index-"));
    await build(dir, [1, 2, 3]);
    const before = readdirSync(dir).filter((n) => n.startsWith("p-"));
    await build(dir, [4, 5]);
    const after = readdirSync(dir).filter((n) => n.startsWith("p-"));
    expect(after).toHaveLength(1);
    expect(after).not.toEqual(before);
    const failed = await SideIndex.open({ location: new DirectoryIndexLocation(dir), scope, consult: true });
    for (let i = 6; i < 5000; i++) await failed.keep(entry(i));
    await failed.discard();
    expect(readdirSync(dir).filter((n) => n.startsWith("p-"))).toEqual(after);
    const side = await SideIndex.open({ location: new DirectoryIndexLocation(dir), scope, consult: true });
    expect(await side.find(key(4), listed(4))).toBeDefined();
  });

  it("two runs writing at once each leave a whole index: the last to finish wins", async () => {
    const dir = mkdtempSync(join(tmpdir(), "index-"));
    const a = await SideIndex.open({ location: new DirectoryIndexLocation(dir), scope, consult: true });
    const b = await SideIndex.open({ location: new DirectoryIndexLocation(dir), scope, consult: true });
    for (let i = 0; i < 6000; i++) {
      await a.keep(entry(i));
      if (i % 2 === 0) await b.keep(entry(i));
    }
    await a.commit();
    await b.commit();
    const side = await SideIndex.open({ location: new DirectoryIndexLocation(dir), scope, consult: true });
    expect(side.report.found).toBe("loaded");
    expect(await side.find(key(2), listed(2))).toBeDefined();
    expect(await side.find(key(3), listed(3))).toBeUndefined();
    expect(side.report.notes).toEqual([]);
  });

  it("a piece longer than its manifest says is dropped by its size, read no further than that", async () => {
    const dir = mkdtempSync(join(tmpdir(), "index-"));
    await build(dir, [0, 1, 2]);
    const piece = readdirSync(dir).find((n) => n.startsWith("p-"))!;
    const stored = readFileSync(join(dir, piece));
    writeFileSync(join(dir, piece), Buffer.concat([stored, Buffer.alloc(4 * 1024 * 1024, 7)]));
    const location = new DirectoryIndexLocation(dir);
    expect((await location.read(piece, stored.length))!.length).toBe(stored.length + 1);
    expect((await location.read(piece))!.length).toBe(stored.length + 4 * 1024 * 1024);
    expect(await location.read("p-none.jsonl", 10)).toBeUndefined();
    const side = await SideIndex.open({ location, scope, consult: true });
    expect(await side.find(key(1), listed(1))).toBeUndefined();
    expect(side.report.notes).toEqual([
      expect.stringMatching(/does not match its checksum: its objects \(3\) are read again/),
    ]);
    const store = new MemoryObjectStore({ bucket: "idx" });
    const inBucket = new StoreIndexLocation(store, "i/");
    await inBucket.write("p-x.jsonl", Buffer.alloc(100, 1));
    expect((await inBucket.read("p-x.jsonl", 10))!.length).toBe(11);
    expect((await inBucket.read("p-x.jsonl", 500))!.length).toBe(100);
  });

  it("an index under a bucket prefix reads back through the side's store", async () => {
    const store = new MemoryObjectStore({ bucket: "idx" });
    const location = new StoreIndexLocation(store, "indexes/b/");
    const side = await SideIndex.open({ location, scope, consult: true });
    for (let i = 0; i < 5; i++) await side.keep(entry(i));
    await side.commit();
    const again = await SideIndex.open({ location, scope, consult: true });
    expect(again.report.found).toBe("loaded");
    expect(await again.find(key(3), listed(3))).toBeDefined();
    const names: string[] = [];
    for await (const o of store.list("indexes/b/")) names.push(o.key);
    expect(names).toContain("indexes/b/chunksync-digest-index.manifest.json");
  });

  it("an index that cannot be written is noted and leaves the old one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "index-"));
    await build(dir, [1]);
    const location = new DirectoryIndexLocation(dir);
    const broken = Object.assign(Object.create(location) as DirectoryIndexLocation, {
      write: async () => {
        throw new Error("disk full");
      },
    });
    const side = await SideIndex.open({ location: broken, scope, consult: true });
    for (let i = 0; i < 5000; i++) await side.keep(entry(i));
    await side.commit();
    expect(side.report.written).toBeUndefined();
    expect(side.report.notes).toEqual([expect.stringMatching(/could not be written \(disk full\)/)]);
    const again = await SideIndex.open({ location, scope, consult: true });
    expect(await again.find(key(1), listed(1))).toBeDefined();
  });
});

describe("makeDirectory: an index directory and its missing parents", () => {
  it("makes every missing level, and takes a directory that is there already", async () => {
    const root = mkdtempSync(join(tmpdir(), "chunksync-mkdir-"));
    const deep = join(root, "a", "b", "c");
    await makeDirectory(deep);
    await makeDirectory(deep);
    expect(statSync(deep).isDirectory()).toBe(true);
  });

  it("refuses a file, or a path below one, in the place of a directory", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "chunksync-mkdir-")), "file");
    writeFileSync(file, "x");
    await expect(makeDirectory(file)).rejects.toMatchObject({ code: "EEXIST" });
    await expect(makeDirectory(join(file, "below"))).rejects.toMatchObject({ code: "ENOTDIR" });
  });

  it("ends with the system's refusal where a parent exists but holds no new directory (/proc)", async () => {
    await expect(makeDirectory("/proc/chunksync-index/side")).rejects.toMatchObject({ code: "ENOENT" });
  });
});
