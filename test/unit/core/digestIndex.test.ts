import {
  asListed,
  decodeEntryLine,
  decodeManifest,
  decodePiece,
  digestOf,
  encodeManifest,
  entryAsListed,
  entryLine,
  entryMayStand,
  entryNeedsHead,
  entryStanding,
  entryStands,
  INDEX_VERSION,
  type IndexEntry,
  IndexRejectedError,
  type IndexScope,
  type PieceRef,
  pairingTag,
  pieceChecksum,
  pieceHeader,
  scopeName,
} from "@chunksync/core";
import { describe, expect, it } from "vitest";

const MiB = 1024 * 1024;
const scope: IndexScope = {
  storage: "http://127.0.0.1:9000",
  bucket: "b",
  prefix: "data/",
  chunkSize: 5 * MiB,
  algorithm: "sha256",
  pairing: pairingTag(Buffer.alloc(32, 1)),
};
const T = Date.UTC(2026, 0, 1, 12, 0, 0);

function entry(key: string, over: Partial<IndexEntry> = {}): IndexEntry {
  return {
    key,
    size: 6 * MiB,
    etag: '"abc-2"',
    lastModified: T,
    proof: "read",
    at: T + 5000,
    attributes: { contentType: "text/plain", expires: "Thu, 01 Jan 2026 12:00:00 GMT", metadata: { a: "1" } },
    digests: [digestOf("sha256", Buffer.from(`${key}0`)), digestOf("sha256", Buffer.from(`${key}1`))],
    ...over,
  };
}

function piece(entries: IndexEntry[]): { data: Buffer; ref: PieceRef } {
  const data = Buffer.from(pieceHeader() + entries.map(entryLine).join(""));
  return {
    data,
    ref: {
      name: "p-x-0.jsonl",
      first: entries[0]!.key,
      last: entries.at(-1)!.key,
      count: entries.length,
      bytes: data.length,
      sha256: pieceChecksum(data),
    },
  };
}

function rejection(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(IndexRejectedError);
    return (error as IndexRejectedError).reason;
  }
  throw new Error("expected a rejection");
}

describe("digest index entries: when an entry stands", () => {
  const listed = { size: 6 * MiB, etag: "abc-2", lastModified: T + 400 };

  it("stands for the same size, ETag (quotes aside) and LastModified second, read a second or more later", () => {
    expect(entryStands(entry("k"), listed)).toBe(true);
  });

  it("does not stand for another size, ETag, second or version, nor without a LastModified", () => {
    expect(entryStands(entry("k"), { ...listed, size: listed.size + 1 })).toBe(false);
    expect(entryStands(entry("k"), { ...listed, etag: "abd-2" })).toBe(false);
    expect(entryStands(entry("k"), { ...listed, lastModified: T + 1000 })).toBe(false);
    expect(entryStands(entry("k", { versionId: "v1" }), { ...listed, versionId: "v2" })).toBe(false);
    const { lastModified: _lm, ...noTime } = listed;
    expect(entryStands(entry("k"), noTime)).toBe(false);
  });

  it("does not stand when its digests were taken within its version's second (a racing rewrite could follow)", () => {
    expect(entryStands(entry("k", { at: T + 999 }), listed)).toBe(false);
    expect(entryStands(entry("k", { at: T }), listed)).toBe(false);
    expect(entryStands(entry("k", { at: T + 1000 }), listed)).toBe(true);
  });

  it("one read within its version's second may stand once a HEAD states the attributes (a rewrite of other bytes has another ETag)", () => {
    const racy = entry("k", { at: T + 999 });
    expect(entryStanding(racy, listed)).toBe("racy");
    expect(entryMayStand(racy, listed)).toBe(true);
    expect(entryNeedsHead(racy, listed, false)).toBe(true);
    // Another ETag, size or second is another version: stale, whenever it was read.
    expect(entryStanding(racy, { ...listed, etag: "abd-2" })).toBe("stale");
    expect(entryMayStand(racy, { ...listed, lastModified: T + 1000 })).toBe(false);
    expect(entryNeedsHead(entry("k", { at: T + 1000 }), listed, false)).toBe(false);
  });

  it("a written entry stands for a version listed no later than the write was seen done, whatever its second", () => {
    const { lastModified: _lm, ...unlisted } = entry("k", { proof: "written", at: T });
    expect(entryStands(unlisted, listed)).toBe(true);
    // A server's Date may lag the LastModified it gives the same write by a fraction of a second.
    expect(entryStands(unlisted, { ...listed, lastModified: T + 1000 })).toBe(true);
    expect(entryStands(unlisted, { ...listed, lastModified: T + 2000 })).toBe(false);
    expect(entryStands(unlisted, { ...listed, etag: "other" })).toBe(false);
    // Once listed, it stands only for that exact version.
    expect(entryStands({ ...unlisted, lastModified: T }, { ...listed, lastModified: T + 1000 })).toBe(false);
  });

  it.each([["v1"], ["null"]])(
    "an entry that records version %s stands only where its version ID is stated: a listing that states none needs a HEAD",
    (versionId) => {
      const versioned = entry("k", { versionId });
      // An older version made current again has the same size, ETag and second, and other attributes.
      expect(entryStands(versioned, listed)).toBe(false);
      expect(entryMayStand(versioned, listed)).toBe(true);
      expect(entryNeedsHead(versioned, listed, false)).toBe(true);
      // The HEAD's answer decides.
      expect(entryStands(versioned, { ...listed, versionId })).toBe(true);
      expect(entryStands(versioned, { ...listed, versionId: "v0" })).toBe(false);
      expect(entryMayStand(versioned, { ...listed, versionId: "v0" })).toBe(false);
      expect(entryNeedsHead(versioned, { ...listed, versionId }, false)).toBe(false);
    },
  );

  it("an entry that records a version ID stands for that version whatever LastModified is stated for it; the null version's needs its second", () => {
    // Ceph RGW 16 moves the LastModified a HEAD states of a version whose tag set is put, not the
    // one its versions listing states: a version ID names one version, and its bytes never change.
    const named = entry("k", { versionId: "v1" });
    expect(entryStands(named, { ...listed, versionId: "v1", lastModified: T + 5000 })).toBe(true);
    expect(entryStands(named, { ...listed, versionId: "v2", lastModified: T })).toBe(false);
    expect(entryStands(named, { ...listed, versionId: "v1", etag: "abd-2" })).toBe(false);
    expect(
      entryStands(entry("k", { versionId: "null" }), {
        ...listed,
        versionId: "null",
        lastModified: T + 5000,
      }),
    ).toBe(false);
  });

  it("a written entry learns the LastModified and version ID its listing states (the null version's aside), then stands for that version only", () => {
    const { lastModified: _lm, ...written } = entry("k", { proof: "written", at: T });
    const learned = entryAsListed(written, { ...listed, versionId: "v1" });
    expect(learned).toMatchObject({ lastModified: listed.lastModified, versionId: "v1" });
    expect(entryStands(learned, { ...listed, versionId: "v1", lastModified: T + 5000 })).toBe(true);
    expect(entryStands(learned, { ...listed, versionId: "v2" })).toBe(false);
    expect(entryAsListed(written, { ...listed, versionId: "null" }).versionId).toBeUndefined();
    expect(entryAsListed(written, listed).versionId).toBeUndefined();
  });

  it("a head takes the LastModified its listing states where both are of one version, so its entry matches the next listings", () => {
    // Ceph RGW 16 moves the LastModified a HEAD states of a version whose tags are put, not its listing's.
    const head = { size: listed.size, etag: '"abc-2"', lastModified: T + 5000 };
    expect(asListed(head, listed).lastModified).toBe(listed.lastModified);
    expect(asListed(head, { ...listed, versionId: "null" }).lastModified).toBe(listed.lastModified);
    // Another version: the head's own.
    expect(asListed(head, { ...listed, etag: "abd-2" }).lastModified).toBe(T + 5000);
    expect(asListed(head, { ...listed, size: 1 }).lastModified).toBe(T + 5000);
    expect(asListed({ ...head, versionId: "v2" }, { ...listed, versionId: "v1" }).lastModified).toBe(
      T + 5000,
    );
    expect(asListed(head, undefined)).toBe(head);
  });

  it("a listing that states no ETag (Ceph RGW 16 after a tag set's deletion) settles an entry only with a HEAD", () => {
    const unstated = { ...listed, etag: '""' };
    expect(entryMayStand(entry("k"), unstated)).toBe(true);
    expect(entryNeedsHead(entry("k"), unstated, false)).toBe(true);
    expect(entryStands(entry("k"), unstated)).toBe(false);
    // The HEAD's answer decides.
    expect(entryStands(entry("k"), listed)).toBe(true);
    expect(entryMayStand(entry("k"), { ...unstated, size: 1 })).toBe(false);
  });

  it("an entry of a bucket that never kept versions needs no request; one this side wrote always a HEAD", () => {
    expect(entryNeedsHead(entry("k"), listed, false)).toBe(false);
    expect(entryMayStand(entry("k"), listed)).toBe(true);
    expect(entryNeedsHead(entry("k", { proof: "written" }), listed, false)).toBe(true);
    expect(entryNeedsHead(entry("k", { proof: "written" }), { ...listed, versionId: "v1" }, false)).toBe(
      true,
    );
  });

  it("in a bucket that keeps or kept versions, an entry that records no version ID is of the null version: a HEAD must name it", () => {
    // Ceph RGW 16 states no version ID for a version written while versioning is suspended;
    // deleting it makes an older version current again, which a listing cannot tell apart.
    const unnamed = entry("k");
    expect(entryNeedsHead(unnamed, listed, true)).toBe(true);
    expect(entryMayStand(unnamed, listed)).toBe(true);
    // The null version, stated as S3 states it or not stated at all, is the entry's; another is not.
    expect(entryStands(unnamed, { ...listed, versionId: "null" })).toBe(true);
    expect(entryStands(unnamed, listed)).toBe(true);
    expect(entryStands(unnamed, { ...listed, versionId: "v1" })).toBe(false);
    expect(entryNeedsHead(unnamed, { ...listed, versionId: "v1" }, true)).toBe(false);
    // A version this side wrote records none because its write's answer was not consulted: any ID.
    const { lastModified: _lm, ...written } = entry("k", { proof: "written", at: T });
    expect(entryStands(written, { ...listed, versionId: "v1" })).toBe(true);
  });
});

describe("digest index files: anything damaged, foreign or of another version is rejected", () => {
  const manifest = { scope, pieces: [], writtenAt: new Date(T).toISOString() };

  it("a manifest reads back as written", () => {
    expect(decodeManifest(encodeManifest(manifest), scope)).toEqual(manifest);
  });

  it("a truncated, altered or non-JSON manifest is damaged", () => {
    const data = encodeManifest(manifest);
    expect(rejection(() => decodeManifest(data.subarray(0, data.length - 10), scope))).toBe("damaged");
    const altered = Buffer.from(data.toString().replace('"data/"', '"date/"'));
    expect(rejection(() => decodeManifest(altered, scope))).toBe("damaged");
    expect(rejection(() => decodeManifest(Buffer.from("{}"), scope))).toBe("damaged");
  });

  it("a manifest with a field of the wrong type is damaged; fields it does not know are left out", () => {
    const ref = piece([entry("a"), entry("b")]).ref;
    const full = {
      scope,
      pieces: [ref, { ...ref, name: "p-x-1.jsonl", first: "c", last: "d" }],
      writtenAt: "w",
    };
    const fields = JSON.parse(encodeManifest(full).toString());
    const decode = (over: Record<string, unknown>) =>
      decodeManifest(Buffer.from(JSON.stringify({ ...fields, ...over })), scope);
    expect(decode({})).toEqual(full);
    expect(decode({ extra: 1, scope: { ...scope, more: "x" } })).toEqual(full);
    const wrong: Record<string, unknown>[] = [
      { format: "other" },
      { writtenAt: 1 },
      { sha256: null },
      { scope: [] },
      { scope: { ...scope, chunkSize: 0 } },
      { scope: { ...scope, chunkSize: 1.5 } },
      { scope: { ...scope, algorithm: "sha1" } },
      { scope: { ...scope, bucket: undefined } },
      { pieces: {} },
      { pieces: [null] },
      { pieces: [{ ...ref, name: "../p" }] },
      { pieces: [{ ...ref, count: 0 }] },
      { pieces: [{ ...ref, bytes: -1 }] },
      { pieces: [{ ...ref, sha256: "AB".repeat(32) }] },
      { pieces: [{ ...ref, first: 1 }] },
    ];
    for (const over of wrong)
      expect(
        rejection(() => decode(over)),
        JSON.stringify(over),
      ).toBe("damaged");
  });

  it("another format version is old-format; another scope is foreign, and says what changed", () => {
    const version = `"version":${INDEX_VERSION}`;
    const old = Buffer.from(encodeManifest(manifest).toString().replace(version, '"version":0'));
    expect(rejection(() => decodeManifest(old, scope))).toBe("old-format");
    // Version 1 kept Expires parsed, or not at all where it was no date: none of its entries is trusted.
    const first = Buffer.from(encodeManifest(manifest).toString().replace(version, '"version":1'));
    expect(() => decodeManifest(first, scope)).toThrow(/format version is 1, not 2/);
    for (const other of [
      { ...scope, chunkSize: 8 * MiB },
      { ...scope, algorithm: "md5" as const },
      { ...scope, bucket: "c" },
      { ...scope, pairing: pairingTag(Buffer.alloc(32, 2)) },
    ]) {
      expect(rejection(() => decodeManifest(encodeManifest(manifest), other))).toBe("foreign");
    }
    expect(() => decodeManifest(encodeManifest(manifest), { ...scope, chunkSize: 8 * MiB })).toThrow(
      /chunkSize 5242880 \(now 8388608\)/,
    );
  });

  it("a piece reads back entry for entry, digests and attributes included", () => {
    // One chunk, only metadata, no LastModified: a small object's usual entry.
    const small = entry("c", {
      size: 10,
      attributes: { metadata: {} },
      digests: [digestOf("sha256", Buffer.from("c"))],
    });
    delete small.lastModified;
    const entries = [entry("a"), entry("b", { proof: "written", versionId: "v" }), small];
    const { data, ref } = piece(entries);
    expect(decodePiece(data, ref, scope)).toEqual(entries);
  });

  it("an entry a scrub marked rotted keeps its mark, read from a piece or from a single line; a mark of another value is damage", () => {
    const marked = entry("r", { rotted: true });
    expect(JSON.parse(entryLine(marked)).x).toBe(1);
    expect(JSON.parse(entryLine(entry("r"))).x).toBeUndefined();
    const { data, ref } = piece([entry("a"), marked]);
    expect(decodePiece(data, ref, scope).map((e) => e.rotted)).toEqual([undefined, true]);
    expect(decodeEntryLine(entryLine(marked), scope, "a record")).toEqual(marked);
    // A spread of a read entry (how a scrub marks one) is encoded afresh, with the mark.
    const [read] = decodePiece(data, ref, scope);
    expect(decodeEntryLine(entryLine({ ...read!, rotted: true }), scope, "a record").rotted).toBe(true);
    const line = entryLine(marked).replace('"x":1', '"x":2');
    expect(rejection(() => decodeEntryLine(line, scope, "a record"))).toBe("damaged");
  });

  it("an entry keeps Expires as its exact text, an HTTP date or not", () => {
    const texts = ["0", "-1", "never", "Thursday, 01-Dec-94 16:00:00 GMT", "Thu, 01 Dec 1994 16:00:00 GMT"];
    const entries = texts.map((expires, i) => entry(`e${i}`, { attributes: { expires, metadata: {} } }));
    const { data, ref } = piece(entries);
    expect(decodePiece(data, ref, scope).map((e) => e.attributes.expires)).toEqual(texts);
    for (const [i, expires] of texts.entries())
      expect(JSON.parse(entryLine(entries[i]!)).a).toEqual({ expires, metadata: {} });
  });

  it("an entry read from a piece is frozen and written again as its line; a changed copy is encoded afresh", () => {
    // Spaced and with a field this version does not know: the line, not an encoding, is kept.
    const line = JSON.stringify({ ...JSON.parse(entryLine(entry("a"))), z: 1 }, null, 1).replaceAll("\n", "");
    const data = Buffer.from(`${pieceHeader()}${line}\n`);
    const ref = {
      name: "p",
      first: "a",
      last: "a",
      count: 1,
      bytes: data.length,
      sha256: pieceChecksum(data),
    };
    const [read] = decodePiece(data, ref, scope);
    if (read === undefined) throw new Error("no entry read");
    expect(Object.isFrozen(read) && Object.isFrozen(read.attributes) && Object.isFrozen(read.digests)).toBe(
      true,
    );
    expect(() => {
      (read as { etag: string }).etag = '"other"';
    }).toThrow(TypeError);
    expect(entryLine(read)).toBe(`${line}\n`);
    const changed = { ...read, lastModified: T + 1000 };
    expect(entryLine(changed)).not.toContain('"z"');
    expect(decodeEntryLine(entryLine(changed), scope, "test")).toEqual(
      entry("a", { lastModified: T + 1000 }),
    );
  });

  it("a piece that is truncated, altered, out of order, not what the manifest says, or with wrong digests is damaged", () => {
    const { data, ref } = piece([entry("a"), entry("b")]);
    expect(rejection(() => decodePiece(data.subarray(0, 50), ref, scope))).toBe("damaged");
    const flipped = Buffer.from(data);
    flipped[60] = flipped[60]! ^ 1;
    expect(rejection(() => decodePiece(flipped, ref, scope))).toBe("damaged");
    const reversed = piece([entry("b"), entry("a")]);
    expect(
      rejection(() => decodePiece(reversed.data, { ...reversed.ref, first: "b", last: "a" }, scope)),
    ).toBe("damaged");
    expect(rejection(() => decodePiece(data, { ...ref, count: 3 }, scope))).toBe("damaged");
    const short = piece([entry("a", { digests: [digestOf("sha256", Buffer.from("x"))] })]);
    expect(rejection(() => decodePiece(short.data, short.ref, scope))).toBe("damaged");
    for (const header of [
      '{"format":"other","version":1}',
      '{"format":"chunksync-digest-index","version":"1"}',
      '{"format":"chunksync-digest-index","version":1}',
      "[]",
    ]) {
      const headed = Buffer.from(data.toString().replace(pieceHeader(), `${header}\n`));
      const sum = { ...ref, bytes: headed.length, sha256: pieceChecksum(headed) };
      expect(
        rejection(() => decodePiece(headed, sum, scope)),
        header,
      ).toBe("damaged");
    }
  });

  it("an entry line with a field of the wrong type is damaged; fields it does not know are left out", () => {
    const line = JSON.parse(entryLine(entry("a", { versionId: "v", storageClass: "STANDARD" })));
    const decode = (fields: Record<string, unknown>) =>
      decodeEntryLine(JSON.stringify(fields), scope, "test");
    const wrong: [string, unknown][] = [
      ["k", 1],
      ["s", -1],
      ["s", 1.5],
      ["s", 2 ** 53],
      ["s", "6"],
      ["e", null],
      ["m", 1.5],
      ["v", 1],
      ["c", false],
      ["p", "x"],
      ["t", "1"],
      ["a", []],
      ["d", 1],
    ];
    for (const [field, value] of wrong)
      expect(
        rejection(() => decode({ ...line, [field]: value })),
        `${field}: ${JSON.stringify(value)}`,
      ).toBe("damaged");
    for (const field of ["k", "s", "e", "p", "t", "a", "d"]) {
      const { [field]: _gone, ...rest } = line;
      expect(
        rejection(() => decode(rest)),
        `without ${field}`,
      ).toBe("damaged");
    }
    expect(rejection(() => decode({ ...line, a: { ...line.a, contentType: 1 } }))).toBe("damaged");
    expect(rejection(() => decode({ ...line, a: { ...line.a, metadata: { x: 1 } } }))).toBe("damaged");
    expect(rejection(() => decode({ ...line, a: { contentType: "t" } }))).toBe("damaged");
    const extra = decode({ ...line, z: 1, a: { ...line.a, other: "x" } });
    expect(extra).toEqual(decode(line));
    expect(extra.attributes).not.toHaveProperty("other");
    expect(decode(line)).toEqual(entry("a", { versionId: "v", storageClass: "STANDARD" }));
  });

  it("names a scope by its bucket and a hash of all of it", () => {
    expect(scopeName(scope)).toMatch(/^b-[0-9a-f]{16}$/);
    expect(scopeName({ ...scope, prefix: "other/" })).not.toBe(scopeName(scope));
  });
});
