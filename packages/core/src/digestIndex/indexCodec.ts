import { createHash } from "node:crypto";
import { z } from "zod";
import { planChunks } from "../chunkPlan.js";
import { DIGEST_ALGORITHMS, DIGEST_LENGTHS } from "../digest.js";
import { ChunksyncError } from "../errors.js";
import { lazySchema } from "../lazySchema.js";
import { ATTRIBUTE_TEXTS, type ObjectAttributes } from "../objectAttributes.js";
import { compareUtf8 } from "../objectKey.js";
import type { IndexEntry } from "./indexEntry.js";
import { type IndexScope, sameScope } from "./indexScope.js";

/** What every index file says first. */
export const INDEX_FORMAT = "chunksync-digest-index";
/**
 * Bumped whenever the files' meaning changes; any other version is dropped and rebuilt.
 * 2: `expires` is the header's exact text. Version 1 kept it parsed (an ISO date), and dropped
 * a value that was no date at all (`never`), so no entry of it can say what text the object
 * holds, whether it has an `expires` or none: its entries are read again rather than trusted.
 */
export const INDEX_VERSION = 2;

/** Why a stored index (or one piece of it) was not used. */
export type IndexRejection = "damaged" | "foreign" | "old-format";

/**
 * A stored index or piece that cannot be trusted: damaged (unparsable, checksum mismatch,
 * out of order), foreign (made for another scope) or of another format version. The run drops
 * it and reads the objects it covered.
 */
export class IndexRejectedError extends ChunksyncError {
  constructor(
    readonly reason: IndexRejection,
    message: string,
  ) {
    super(`INDEX_${reason.replace("-", "_").toUpperCase()}`, message, { details: { reason } });
  }
}

/** One piece of an index as its manifest names it: a run of entries in key order. */
export interface PieceRef {
  name: string;
  first: string;
  last: string;
  count: number;
  bytes: number;
  /** Hex SHA-256 of the piece's bytes. */
  sha256: string;
}

export interface IndexManifest {
  scope: IndexScope;
  pieces: PieceRef[];
  writtenAt: string;
}

const PIECE_NAME = /^[A-Za-z0-9._-]+$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** The index files' schemas, built at their first use (see lazySchema). */
const schemas = lazySchema(() => {
  const scope = z.object({
    storage: z.string(),
    bucket: z.string(),
    prefix: z.string(),
    chunkSize: z.number().int().positive(),
    algorithm: z.enum(DIGEST_ALGORITHMS as [string, ...string[]]),
    pairing: z.string(),
  });

  const manifest = z.object({
    format: z.literal(INDEX_FORMAT),
    version: z.number().int(),
    scope,
    pieces: z.array(
      z.object({
        name: z.string().regex(PIECE_NAME),
        first: z.string(),
        last: z.string(),
        count: z.number().int().positive(),
        bytes: z.number().int().nonnegative(),
        sha256: z.string().regex(HEX_SHA256),
      }),
    ),
    writtenAt: z.string(),
    sha256: z.string(),
  });

  const attributes = z.object({
    contentType: z.string().optional(),
    contentEncoding: z.string().optional(),
    contentLanguage: z.string().optional(),
    contentDisposition: z.string().optional(),
    cacheControl: z.string().optional(),
    expires: z.string().optional(),
    metadata: z.record(z.string(), z.string()),
  });

  const entry = z.object({
    k: z.string(),
    s: z.number().int().nonnegative(),
    e: z.string(),
    m: z.number().int().optional(),
    v: z.string().optional(),
    c: z.string().optional(),
    p: z.enum(["r", "w"]),
    t: z.number().int(),
    a: attributes,
    d: z.string(),
    x: z.literal(1).optional(),
  });

  return { manifest, entry };
});

function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The manifest's bytes: the fields, then a SHA-256 of them that a reader checks. */
export function encodeManifest(manifest: IndexManifest): Buffer {
  const body = { format: INDEX_FORMAT, version: INDEX_VERSION, ...manifest };
  return Buffer.from(`${JSON.stringify({ ...body, sha256: sha256(JSON.stringify(body)) })}\n`);
}

/**
 * Reads a manifest and checks it is whole, of this format version and made for `scope`.
 *
 * @throws IndexRejectedError
 */
export function decodeManifest(data: Buffer, scope: IndexScope): IndexManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(data.toString("utf8"));
  } catch {
    throw new IndexRejectedError("damaged", "its manifest is not valid JSON (truncated or overwritten)");
  }
  const version = (raw as { version?: unknown } | null)?.version;
  if ((raw as { format?: unknown } | null)?.format === INDEX_FORMAT && version !== INDEX_VERSION) {
    throw new IndexRejectedError(
      "old-format",
      `its format version is ${String(version)}, not ${INDEX_VERSION}`,
    );
  }
  const parsed = fittingManifest(raw) ?? schemas().manifest.safeParse(raw).data;
  if (parsed === undefined)
    throw new IndexRejectedError("damaged", "its manifest is not a digest index manifest");
  const { sha256: stated, ...body } = parsed;
  if (sha256(JSON.stringify(body)) !== stated) {
    throw new IndexRejectedError("damaged", "its manifest does not match its checksum");
  }
  const stored = body.scope as IndexScope;
  if (!sameScope(stored, scope)) {
    throw new IndexRejectedError("foreign", `it was made for ${describeScopeChange(stored, scope)}`);
  }
  return { scope: stored, pieces: body.pieces, writtenAt: body.writtenAt };
}

function describeScopeChange(stored: IndexScope, wanted: IndexScope): string {
  const fields = (["storage", "bucket", "prefix", "chunkSize", "algorithm"] as const).filter(
    (f) => stored[f] !== wanted[f],
  );
  const changed = fields.map((f) => `${f} ${String(stored[f])} (now ${String(wanted[f])})`);
  if (stored.pairing !== wanted.pairing) changed.push("another pairing secret");
  return changed.join(", ");
}

/** A piece's first line. */
export function pieceHeader(): string {
  return `${JSON.stringify({ format: INDEX_FORMAT, version: INDEX_VERSION })}\n`;
}

/**
 * An entry read from a piece, with the line it was decoded from. Most entries pass unchanged
 * into the next index, run after run: those are written back as that line instead of being
 * encoded again (a reader decodes it to the same entry). It is frozen, so the line stays its
 * own; a changed copy (a spread) is a plain object, encoded afresh. A private field, not a
 * WeakMap: a weak map's entries cost the collector work on every entry of every index read.
 */
class ReadEntry implements IndexEntry {
  declare lastModified?: number;
  declare versionId?: string;
  declare storageClass?: string;
  declare rotted?: true;
  readonly #line: string;

  constructor(
    readonly key: string,
    readonly size: number,
    readonly etag: string,
    readonly proof: IndexEntry["proof"],
    readonly at: number,
    readonly attributes: ObjectAttributes,
    readonly digests: Buffer[],
    line: string,
  ) {
    this.#line = line;
  }

  /** The line `entry` was read from, if it is a read entry. */
  static lineOf(entry: IndexEntry): string | undefined {
    return #line in entry ? (entry as ReadEntry).#line : undefined;
  }
}

/** One entry's line in a piece. Digests stay on their own side: this is that side's file. */
export function entryLine(entry: IndexEntry): string {
  const decoded = ReadEntry.lineOf(entry);
  if (decoded !== undefined) return decoded;
  const { tagging: _tags, ...attributes } = entry.attributes;
  return `${JSON.stringify({
    k: entry.key,
    s: entry.size,
    e: entry.etag,
    ...(entry.lastModified !== undefined ? { m: entry.lastModified } : {}),
    ...(entry.versionId !== undefined ? { v: entry.versionId } : {}),
    ...(entry.storageClass !== undefined ? { c: entry.storageClass } : {}),
    p: entry.proof === "read" ? "r" : "w",
    t: entry.at,
    a: attributes,
    d: Buffer.concat(entry.digests).toString("base64"),
    ...(entry.rotted ? { x: 1 } : {}),
  })}\n`;
}

/** SHA-256 of a piece's bytes, as its manifest records it. */
export function pieceChecksum(data: Buffer): string {
  return sha256(data);
}

/**
 * The entries of one piece, checked against what its manifest says of it (checksum, first and
 * last key, count), its format version, key order, and each entry's digests against the
 * scope's chunk plan for the entry's size.
 *
 * @throws IndexRejectedError
 */
export function decodePiece(data: Buffer, ref: PieceRef, scope: IndexScope): IndexEntry[] {
  if (data.length !== ref.bytes || sha256(data) !== ref.sha256) {
    throw new IndexRejectedError("damaged", `piece ${ref.name} does not match its checksum`);
  }
  const lines = data.toString("utf8").split("\n");
  if (lines.at(-1) === "") lines.pop();
  const header = safeJson(lines[0] ?? "");
  if (!isRecord(header) || header.format !== INDEX_FORMAT || header.version !== INDEX_VERSION) {
    throw new IndexRejectedError("damaged", `piece ${ref.name} has no valid header`);
  }
  const entries: IndexEntry[] = [];
  let previous: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const entry = decodeLine(line, scope, `piece ${ref.name}`, true);
    if (previous !== undefined && compareUtf8(previous, entry.key) >= 0) {
      throw new IndexRejectedError("damaged", `piece ${ref.name} is out of key order at ${entry.key}`);
    }
    previous = entry.key;
    entries.push(entry);
  }
  if (entries.length !== ref.count || entries[0]?.key !== ref.first || entries.at(-1)?.key !== ref.last) {
    throw new IndexRejectedError("damaged", `piece ${ref.name} does not hold what its manifest says`);
  }
  return entries;
}

/**
 * One entry as {@link entryLine} wrote it, its digests checked against the scope's chunk plan
 * for its size; `where` names what held it in the error.
 *
 * @throws IndexRejectedError
 */
export function decodeEntryLine(line: string, scope: IndexScope, where: string): IndexEntry {
  return decodeLine(line, scope, where, false);
}

/** {@link decodeEntryLine}; a `kept` entry is a frozen {@link ReadEntry} that remembers its line. */
function decodeLine(line: string, scope: IndexScope, where: string, kept: boolean): IndexEntry {
  const raw = safeJson(line);
  const fields = fittingLine(raw) ?? schemas().entry.safeParse(raw).data;
  if (fields === undefined) throw new IndexRejectedError("damaged", `${where} holds a malformed entry`);
  const width = DIGEST_LENGTHS[scope.algorithm];
  const joined = Buffer.from(fields.d, "base64");
  if (joined.length !== planChunks(fields.s, scope.chunkSize).count * width) {
    throw new IndexRejectedError("damaged", `${where} holds wrong digests for ${fields.k}`);
  }
  // One chunk (every small object) takes the decoded buffer as it is.
  const digests = joined.length === width ? [joined] : [];
  if (digests.length === 0)
    for (let at = 0; at < joined.length; at += width) digests.push(joined.subarray(at, at + width));
  // Both ways of checking a line (fittingLine, the schema) give attributes of this line only,
  // holding no undefined value: they are the entry's own as they are.
  const attributes: ObjectAttributes = fields.a;
  const proof = fields.p === "r" ? "read" : "written";
  const entry: IndexEntry = kept
    ? new ReadEntry(fields.k, fields.s, fields.e, proof, fields.t, attributes, digests, `${line}\n`)
    : { key: fields.k, size: fields.s, etag: fields.e, proof, at: fields.t, attributes, digests };
  if (fields.m !== undefined) entry.lastModified = fields.m;
  if (fields.v !== undefined) entry.versionId = fields.v;
  if (fields.c !== undefined) entry.storageClass = fields.c;
  if (fields.x === 1) entry.rotted = true;
  if (!kept) return entry;
  Object.freeze(digests);
  Object.freeze(attributes.metadata);
  Object.freeze(attributes);
  return Object.freeze(entry);
}

type EntryLine = z.infer<ReturnType<typeof schemas>["entry"]>;
type ManifestFile = z.infer<ReturnType<typeof schemas>["manifest"]>;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const isWhole = (value: unknown): value is number => Number.isSafeInteger(value);

const KNOWN_ATTRIBUTES = new Set<string>([...ATTRIBUTE_TEXTS, "metadata"]);

/**
 * The manifest as the manifest schema would give it (its fields, in the schema's order, which
 * the checksum is taken in) when the schema would accept it, else undefined: the schema then
 * decides. Building zod's schemas was most of reading a manifest, once per side in every run.
 */
function fittingManifest(raw: unknown): ManifestFile | undefined {
  if (!isRecord(raw) || !isRecord(raw.scope) || !Array.isArray(raw.pieces)) return undefined;
  const { format, version, scope, pieces, writtenAt, sha256 } = raw;
  if (format !== INDEX_FORMAT || !isWhole(version) || typeof writtenAt !== "string") return undefined;
  if (typeof sha256 !== "string") return undefined;
  const { storage, bucket, prefix, chunkSize, algorithm, pairing } = scope;
  if (typeof storage !== "string" || typeof bucket !== "string" || typeof prefix !== "string")
    return undefined;
  if (!isWhole(chunkSize) || chunkSize <= 0 || typeof pairing !== "string") return undefined;
  if (!(DIGEST_ALGORITHMS as readonly unknown[]).includes(algorithm)) return undefined;
  const refs: PieceRef[] = [];
  for (const piece of pieces) {
    if (!isRecord(piece)) return undefined;
    const { name, first, last, count, bytes, sha256: sum } = piece;
    if (typeof name !== "string" || !PIECE_NAME.test(name)) return undefined;
    if (typeof first !== "string" || typeof last !== "string") return undefined;
    if (!isWhole(count) || count <= 0 || !isWhole(bytes) || bytes < 0) return undefined;
    if (typeof sum !== "string" || !HEX_SHA256.test(sum)) return undefined;
    refs.push({ name, first, last, count, bytes, sha256: sum });
  }
  return {
    format,
    version,
    scope: { storage, bucket, prefix, chunkSize, algorithm: algorithm as string, pairing },
    pieces: refs,
    writtenAt,
    sha256,
  };
}

/**
 * The parsed line itself when the entry schema would accept it, else undefined: the schema then
 * decides. Fields it does not know are passed over (the schema leaves them out); unknown
 * attributes are left out of a fresh attributes object. Every entry of an index is read at the
 * start of a run; this spares the schema's cost, and a copy of the line's objects, per entry.
 */
function fittingLine(raw: unknown): EntryLine | undefined {
  if (!isRecord(raw)) return undefined;
  const { k, s, e, m, v, c, p, t, a, d, x } = raw;
  if (typeof k !== "string" || typeof e !== "string" || typeof d !== "string") return undefined;
  if (!isWhole(s) || s < 0 || !isWhole(t) || (m !== undefined && !isWhole(m))) return undefined;
  if ((v !== undefined && typeof v !== "string") || (c !== undefined && typeof c !== "string"))
    return undefined;
  if ((p !== "r" && p !== "w") || (x !== undefined && x !== 1)) return undefined;
  if (!isRecord(a) || !isRecord(a.metadata)) return undefined;
  const metadata = a.metadata;
  for (const name in metadata) if (typeof metadata[name] !== "string") return undefined;
  let onlyKnown = true;
  for (const field in a) {
    if (!KNOWN_ATTRIBUTES.has(field)) onlyKnown = false;
    else if (field !== "metadata" && typeof a[field] !== "string") return undefined;
  }
  if (!onlyKnown) {
    const known: Record<string, unknown> = { metadata };
    for (const field of ATTRIBUTE_TEXTS) if (a[field] !== undefined) known[field] = a[field];
    raw.a = known;
  }
  return raw as EntryLine;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
