import { type AssemblyPlan, partPieces } from "./blocks/planAssembly.js";
import type { Segment } from "./blocks/segments.js";
import { allChunks, type ChunkPlan, type ChunkRange, chunkRanges, MAX_CHUNK_SIZE, MiB } from "./chunkPlan.js";
import { ValidationError } from "./errors.js";
import { attributesDiffer, type ObjectAttributes } from "./objectAttributes.js";

/** Which chunks are re-challenged after a write: none, those that crossed, or all. */
export type VerifyMode = "none" | "changed" | "full";

/** The condition of the final, visible write: it must not replace a version the run did not challenge. */
export type WriteCondition = { ifMatch: string } | { ifNoneMatch: "*" };

/** One side's object as the decision sees it. */
export interface ObjectFacts {
  size: number;
  etag: string;
  attributes: ObjectAttributes;
}

/** Run options that change what is written. */
export interface DecisionOptions {
  /** Both sides are one endpoint and account: source ranges are copied server-side instead of sent. */
  serverSideCopy: boolean;
  verify: VerifyMode;
  /** Tag sets are read on both sides, compared, and restated on writes. */
  copyTags: boolean;
  /**
   * The destination validates each uploaded body against its Content-MD5 and refuses one that
   * differs (its store's `capabilities.writeChecksums.contentMd5`): under `--verify changed`, a
   * chunk sent as read from the source is then not challenged again (see `decideObject`).
   */
  destinationChecksContentMd5: boolean;
  /**
   * The destination checks a body sent in signed chunks against each chunk's SHA-256 and refuses
   * one that differs (its store's `capabilities.writeChecksums.signedChunks`): a new object whose
   * ETag is no MD5 is then streamed too, one chunk a signed chunk (see `streamedAs`).
   */
  destinationChecksSignedChunks?: boolean;
  /**
   * Whether the old destination object and the source object may be named as the source of a
   * server-side copy (UploadPartCopy, CopyObject): see {@link nameableAsCopySource}. Where one
   * may not, its ranges are read and written by the destination's side instead, a part a chunk.
   */
  copySources: { old: boolean; source: boolean };
}

/**
 * Whether a server-side copy may name `key` as its source on a store whose server reads a copy
 * source's percent escapes exactly once (`escapesReadOnce`, the store's declared capability).
 * Ceph RGW 16 decodes UploadPartCopy's source twice: `a%2Fb` is read as `a/b`, another object or
 * none, and a copy from it would put that object's bytes in the new one. No escaping names such a
 * key on both kinds of server alike, so a key with a `%` is copied only where decoding is known.
 */
export function nameableAsCopySource(key: string, escapesReadOnce: boolean): boolean {
  return escapesReadOnce || !key.includes("%");
}

/**
 * Whether a write copies `sourceKey`'s bytes server-side (the decision's `sourceCopy` parts)
 * instead of reading and sending them: the run copies server-side and the key may be named.
 */
export function copiedFromSource(
  serverSideCopy: boolean,
  sourceKey: string,
  escapesReadOnce: boolean,
): boolean {
  return serverSideCopy && nameableAsCopySource(sourceKey, escapesReadOnce);
}

/**
 * What the decision takes of the destination's store (its declared capabilities): whether it
 * checks a body's Content-MD5, and a body sent in signed chunks, and whether its server reads a
 * copy source's escapes once. The workflow keeps them in the destination's records, since Decide
 * runs on the source's side and cannot ask the store.
 */
export interface DestinationTraits {
  checksContentMd5: boolean;
  checksSignedChunks: boolean;
  copySourceEscapesReadOnce: boolean;
}

/**
 * The decision's options from the run's, what the destination's store declares, and the keys a
 * copy would name (the source's, and the old object's: none for a new object). Both engines
 * take their options here.
 */
export function decisionOptionsOf(
  run: Pick<DecisionOptions, "serverSideCopy" | "verify" | "copyTags">,
  destination: DestinationTraits,
  keys: { source: string; old: string | undefined },
): DecisionOptions {
  const once = destination.copySourceEscapesReadOnce;
  // Fields named one by one: on Node 20 a spread followed by more fields costs about 2 µs (a
  // call into the runtime), and a `check` builds this for every pair.
  return {
    serverSideCopy: run.serverSideCopy,
    verify: run.verify,
    copyTags: run.copyTags,
    destinationChecksContentMd5: destination.checksContentMd5,
    destinationChecksSignedChunks: destination.checksSignedChunks,
    copySources: {
      old: keys.old === undefined || nameableAsCopySource(keys.old, once),
      source: nameableAsCopySource(keys.source, once),
    },
  };
}

/**
 * Largest new object sent as one streamed PutObject (see {@link decideObject}): rclone's upload
 * cutoff. Above it an object is sent in parts, several at once, and a failure resends one part.
 */
export const STREAMED_COPY_MAX = 200 * MiB;

export interface DecideObjectParams {
  /**
   * `archived`: an archive storage class, unreadable until restored. `etagIsMd5`: the ETag is
   * the MD5 of the bytes (an object written in one request, not under SSE-KMS or SSE-C).
   */
  source: ObjectFacts & { archived: boolean; etagIsMd5?: boolean };
  destination: ObjectFacts | undefined;
  /** The source's chunk plan; every part boundary comes from it. */
  plan: ChunkPlan;
  /**
   * The challenge's verdict: indexes of the chunks that differ. Required when the destination
   * exists and the source is readable; ignored otherwise (nothing is challenged then).
   */
  changed: readonly number[] | undefined;
  /**
   * How the destination assembles the new object from its old bytes and the source's, where
   * the blocks of the changed chunks were matched (see `planAssembly`): its parts replace the
   * chunk-level ones of a changed object.
   */
  assembly?: AssemblyPlan | undefined;
  options: DecisionOptions;
}

/**
 * Where a part's bytes come from:
 * - `destinationCopy`: UploadPartCopy (or CopyObject) of the old destination at the same offsets;
 * - `sourceCopy`: server-side copy from the source (`serverSideCopy`);
 * - `sourceBytes`: read from the source and sent (the bytes that cross);
 * - `assembled`: built by the destination's side from `pieces`, ranges of its old object and
 *   of the source (only the source pieces cross), and uploaded.
 */
export type PartKind = "destinationCopy" | "sourceCopy" | "sourceBytes" | "assembled";

/** One part of the object to write, covering chunks `firstChunk .. firstChunk + chunkCount - 1` of the plan. */
export interface PlannedPart {
  /** 1-based, as S3 numbers parts. */
  partNumber: number;
  kind: PartKind;
  firstChunk: number;
  /** 0 only for the single empty part of a zero-byte object. */
  chunkCount: number;
  offset: number;
  length: number;
  /** `destinationCopy` from another place of the old object (a block match): where its bytes start there. */
  oldOffset?: number;
  /** `assembled`: its bytes, in order. */
  pieces?: Segment[];
  /**
   * `sourceBytes` of a whole new object, sent in one PutObject as they are read, with the
   * source's ETag (the MD5 of its bytes) as Content-MD5: no MD5 is computed on the way.
   */
  streamed?: true;
  /**
   * With `streamed`, for a source whose ETag is no MD5: sent in signed chunks, one a chunk of the
   * plan, each under its SHA-256 (see `destinationChecksSignedChunks`), the chunk digest itself.
   */
  signed?: true;
}

/** What to do about one object. JSON-safe, so a workflow can store it between steps. */
export interface ObjectDecision {
  state: "identical" | "missing" | "changed" | "unreadable";
  /**
   * `tags`: only the tag set differs (with `copyTags`): it is put on the destination's version as
   * it stands, which neither copies its bytes nor, where the bucket keeps versions, makes a version.
   */
  action: "none" | "copy" | "compose" | "metadata" | "tags";
  /** The chunks that differ (all of them for a missing destination). */
  changed: number[];
  /** The parts to write, in order; empty when nothing is written. */
  parts: PlannedPart[];
  condition: WriteCondition;
  /** Bytes that cross from the source, and bytes the servers copy themselves. */
  planned: { transfer: number; serverSide: number };
  /** Chunks to re-challenge after the write. */
  verify: number[];
}

type Unnumbered = Omit<PlannedPart, "partNumber">;

/** A part over `ranges` (consecutive chunks), or the empty part of a zero-byte object. */
function part(kind: PartKind, ranges: readonly ChunkRange[]): Unnumbered {
  const first = ranges[0];
  let length = 0;
  for (const r of ranges) length += r.length;
  return {
    kind,
    firstChunk: first?.index ?? 0,
    chunkCount: ranges.length,
    offset: first?.offset ?? 0,
    length,
  };
}

/** The whole object from the source: one part per chunk (a single part for objects of up to one chunk). */
function wholeObjectParts(plan: ChunkPlan, kind: PartKind): Unnumbered[] {
  if (plan.count === 0) return [part(kind, [])];
  return chunkRanges(plan).map((range) => part(kind, [range]));
}

/**
 * Parts re-composing the destination: runs of unchanged chunks merge into one copy of the
 * old destination of at most 5 GiB (S3's part limit); changed chunks stay one part each, so
 * a failed part retries alone. Every part but the last is a whole chunk or more, and chunks
 * are at least 5 MiB, so S3's minimum part size holds.
 */
function composeParts(
  plan: ChunkPlan,
  changed: ReadonlySet<number>,
  changedKind: PartKind,
  copyOld: boolean,
): Unnumbered[] {
  const parts: Unnumbered[] = [];
  let run: ChunkRange[] = [];
  let runLength = 0;
  const endRun = () => {
    if (run.length > 0) parts.push(part("destinationCopy", run));
    run = [];
    runLength = 0;
  };
  for (const range of chunkRanges(plan)) {
    if (changed.has(range.index)) {
      endRun();
      parts.push(part(changedKind, [range]));
      continue;
    }
    if (!copyOld) {
      // Built from the old object's own bytes at the same offsets, as an assembled part is.
      const pieces: Segment[] = [{ from: "old", offset: range.offset, length: range.length }];
      parts.push({ ...part("assembled", [range]), pieces });
      continue;
    }
    if (runLength + range.length > MAX_CHUNK_SIZE) endRun();
    run.push(range);
    runLength += range.length;
  }
  endRun();
  return parts;
}

/**
 * The parts of an assembly plan, each with the chunks of the plan it overlaps (so the chunks
 * to verify are known): a copy of the old object from the same or another place, or a part
 * the destination builds.
 */
function assembledParts(plan: ChunkPlan, assembly: AssemblyPlan): Unnumbered[] {
  if (assembly.size !== plan.size)
    throw new ValidationError("assembly.size", `the source's size, ${plan.size} bytes`);
  return assembly.parts.map((p) => {
    const firstChunk = Math.floor(p.offset / plan.chunkSize);
    const chunkCount = Math.ceil((p.offset + p.length) / plan.chunkSize) - firstChunk;
    const at = { firstChunk, chunkCount, offset: p.offset, length: p.length };
    if (p.kind === "mixed") return { kind: "assembled", ...at, pieces: [...partPieces(assembly, p)] };
    return {
      kind: "destinationCopy",
      ...at,
      ...(p.oldOffset === p.offset ? {} : { oldOffset: p.oldOffset }),
    };
  });
}

/** Bytes of `part` that cross from the source: a part read from it, or an assembled part's source pieces. */
export function crossingBytes(part: Pick<PlannedPart, "kind" | "length" | "pieces">): number {
  if (part.kind === "sourceBytes") return part.length;
  let bytes = 0;
  if (part.kind === "assembled")
    for (const piece of part.pieces ?? []) if (piece.from === "source") bytes += piece.length;
  return bytes;
}

/**
 * Whether `part` is one chunk (or a streamed object) sent as read from the source to a
 * destination that checks its Content-MD5 (or its signed chunks, each chunk's SHA-256): its
 * bytes are read pinned to the planned source version, and one pass over them gives the
 * checksum the server checks and the destination's digest of the chunk, so a challenge
 * after the write would compare the source's digest of those bytes with theirs; the server's
 * check is its verification. An assembled part is built on the destination's side from its old
 * bytes and source pieces: that it holds the source's bytes rests on the block matches, which
 * only the challenge checks, so it is verified.
 */
function sentAsRead(part: PlannedPart, options: DecisionOptions): boolean {
  if (part.kind !== "sourceBytes") return false;
  if (part.signed) return options.destinationChecksSignedChunks === true;
  return options.destinationChecksContentMd5 && (part.chunkCount === 1 || part.streamed === true);
}

/**
 * Whether a new object of at most {@link STREAMED_COPY_MAX} is sent as one streamed PutObject,
 * and how its server checks it: `md5` with the source's own ETag as its Content-MD5, where
 * that ETag is the MD5 of the bytes and the destination checks Content-MD5: the server checks
 * the bytes it received against the MD5 the source stated for them, from end to end. Else
 * `signed`, in signed chunks, where the destination checks them and the object has more than
 * one chunk (one chunk is read whole and sent with the MD5 measured on the way): the server
 * checks each chunk against the SHA-256 the destination's side measured as it read it, which
 * is the digest it keeps of that chunk. Either way nothing needs the whole object in memory.
 */
function streamedAs(params: DecideObjectParams): "md5" | "signed" | undefined {
  const { source, options, plan } = params;
  if (options.serverSideCopy || source.size === 0 || source.size > STREAMED_COPY_MAX) return undefined;
  if (source.etagIsMd5 === true && options.destinationChecksContentMd5) return "md5";
  return options.destinationChecksSignedChunks === true && plan.count > 1 ? "signed" : undefined;
}

/** State, action, verdict and parts, before the parts are numbered and summed. */
function choose(
  params: DecideObjectParams,
): Pick<ObjectDecision, "state" | "action" | "changed"> & { parts: Unnumbered[] } {
  const { source, destination, plan, changed: verdict, options } = params;
  if (source.archived) return { state: "unreadable", action: "none", changed: [], parts: [] };
  const sourceKind: PartKind =
    options.serverSideCopy && options.copySources.source ? "sourceCopy" : "sourceBytes";
  const copyOld = options.copySources.old;
  if (destination === undefined) {
    const streamed = streamedAs(params);
    const parts =
      streamed === undefined
        ? wholeObjectParts(plan, sourceKind)
        : [
            {
              ...part("sourceBytes", chunkRanges(plan)),
              streamed: true as const,
              ...(streamed === "signed" ? { signed: true as const } : {}),
            },
          ];
    return { state: "missing", action: "copy", changed: allChunks(plan), parts };
  }
  if (verdict === undefined) {
    throw new ValidationError("changed", "the challenge's verdict for an existing destination");
  }
  const changed = [...verdict];
  if (changed.length === 0 && destination.size === source.size) {
    if (!attributesDiffer(source.attributes, destination.attributes, { tags: options.copyTags })) {
      return { state: "identical", action: "none", changed, parts: [] };
    }
    if (!attributesDiffer(source.attributes, destination.attributes, { tags: false }))
      return { state: "changed", action: "tags", changed, parts: [] };
    // Rewritten from the destination's own bytes; a zero-byte object is simply written again.
    const parts =
      plan.count === 0
        ? wholeObjectParts(plan, sourceKind)
        : composeParts(plan, new Set(), sourceKind, copyOld);
    return { state: "changed", action: "metadata", changed, parts };
  }
  // An assembly's copies name the old object: where it may not be named, chunk level below.
  if (params.assembly !== undefined && copyOld)
    return { state: "changed", action: "compose", changed, parts: assembledParts(plan, params.assembly) };
  // An object of one chunk is one unit: re-composing it would copy nothing, unless that chunk
  // is unchanged (the old object is longer: the source is its start), which one copy writes.
  const cutShort = plan.count === 1 && changed.length === 0 && copyOld;
  if (plan.count < 2 && !cutShort)
    return { state: "changed", action: "copy", changed, parts: wholeObjectParts(plan, sourceKind) };
  return {
    state: "changed",
    action: "compose",
    changed,
    parts: composeParts(plan, new Set(changed), sourceKind, copyOld),
  };
}

/**
 * Decides what to do about one object, from both heads, the source's chunk plan and the
 * challenge's verdict: its state, the action, the parts to write (every offset and length
 * taken from the plan), the write's condition, the bytes it moves and the chunks to verify:
 * under `--verify changed` those that are new at their offsets, but for chunks sent as read to
 * a destination that checks their Content-MD5; under `full` every chunk of a written object.
 * Both engines act on this one decision.
 *
 * @throws ValidationError when the destination exists but no verdict is given
 */
export function decideObject(params: DecideObjectParams): ObjectDecision {
  const { state, action, changed, parts: unnumbered } = choose(params);
  const parts = unnumbered.map((p, i) => ({ partNumber: i + 1, ...p }));
  const planned = { transfer: 0, serverSide: 0 };
  const crossed: number[] = [];
  for (const p of parts) {
    if (p.kind === "assembled" || p.kind === "sourceBytes") planned.transfer += crossingBytes(p);
    else planned.serverSide += p.length;
    // What is not copied in place is new at its offsets: verified under `changed`.
    if (p.kind === "destinationCopy" && (p.oldOffset ?? p.offset) === p.offset) continue;
    if (p.kind === "sourceCopy") continue;
    if (sentAsRead(p, params.options)) continue;
    for (let i = p.firstChunk; i < p.firstChunk + p.chunkCount; i++)
      if (crossed.at(-1) !== i) crossed.push(i);
  }
  const verify =
    parts.length === 0
      ? []
      : { none: [], changed: crossed, full: allChunks(params.plan) }[params.options.verify];
  const condition: WriteCondition = params.destination
    ? { ifMatch: params.destination.etag }
    : { ifNoneMatch: "*" };
  return { state, action, changed, parts, condition, planned, verify };
}

/**
 * The copies of the old object's unchanged runs that the chunk-level decision will list, under
 * the same part numbers, whatever the chunks from `decided` on turn out to hold, where only the
 * first `decided` chunks are challenged (`params.changed`: those of them that differ). A run is
 * settled where a changed chunk or S3's part limit ends it before `decided`; the parts before it
 * are too, so its number is. An object's chunks challenged in order can thus have its first runs
 * copied while its last chunks are still read. `decision` is the one they are parts of: with
 * chunk `decided` taken as changed. None before a chunk is known to differ (the object may be
 * identical), once every chunk is decided (the decision itself then says), nor where the
 * decision would not compose the old object.
 */
export function settledCopies(
  params: DecideObjectParams,
  decided: number,
): { decision: ObjectDecision; parts: PlannedPart[] } | undefined {
  const known = params.changed ?? [];
  // Until a chunk is known to differ, the object may be identical and write nothing.
  if (params.destination === undefined || known.length === 0 || decided >= params.plan.count)
    return undefined;
  // Whatever the first undecided chunk holds, no run that ends before it moves.
  const decision = decideObject({
    ...params,
    assembly: undefined,
    changed: [...known, decided],
  });
  const parts = decision.parts.filter(
    (p) => p.kind === "destinationCopy" && p.firstChunk + p.chunkCount < decided,
  );
  return decision.action === "compose" && parts.length > 0 ? { decision, parts } : undefined;
}
