import {
  attributesDiffer,
  attributesOf,
  type BodyDigests,
  ChunkDigests,
  type ChunkPlan,
  type ChunkRange,
  ChunksyncError,
  checkChunkBuffer,
  chunkRanges,
  collectLanded,
  createDigester,
  type DigestAlgorithm,
  etagMd5,
  InOrderDigests,
  MAX_CHUNK_SIZE,
  type MemoryBudget,
  type ObjectAttributes,
  type ObjectDecision,
  type ObjectIdentity,
  type PlannedPart,
} from "@chunksync/core";
import {
  BadDigestError,
  type BodyDigest,
  type BodySink,
  type CompletedPart,
  type ConditionalWrite,
  counting,
  enforcesCondition,
  type MultipartUpload,
  multipartEtag,
  NotImplementedError,
  type ObjectHead,
  ObjectNotFoundError,
  type ObjectStore,
  type ObjectVersionRef,
  PreconditionFailedError,
  RequestRefusedError,
  SignedChunksRefusedError,
  StorageError,
  type StorageErrorContext,
  sameEtag,
  type WriteBody,
  type WriteCondition,
  type Written,
} from "@chunksync/storage";
import { failedRead, feedBody, readRange } from "../digestRange.js";
import { ObjectChangedError } from "../errors.js";
import { type Limiter, settleAll } from "../Limiter.js";
import type { PartBuffers } from "../PartBuffers.js";
import type { ByteCounts } from "../RunStats.js";
import { retryFor, withRetry } from "../retry.js";
import { HalvesReader } from "./readInHalves.js";
import { tagsOf } from "./tagsOf.js";

/**
 * Where the bytes of a part that crosses from the source come from: the direct engine reads
 * them from the source store, the workflow's destination side through the link the source
 * side signed. Either read is pinned to the planned version.
 */
export interface PartSource {
  /**
   * Reads a range of the source object into `sink` (see `ObjectReader.readInto`): a part, a
   * source piece of an assembled part, half a streamed object's buffer. A body that breaks or
   * ends short fails, retryable, naming the source object.
   */
  readInto(range: { offset: number; length: number }, sink: BodySink): Promise<void>;
  /**
   * The bytes of `part` with their MD5 and digest by the run's chunk algorithm, where this side
   * already holds them (a small object read whole with its head); taken once, so a retry opens
   * the part instead.
   */
  held?(part: PlannedPart): (BodyDigests & { data: Buffer }) | undefined;
}

/**
 * Where the digests of the parts this side uploaded go: each part from the source, and each
 * assembled part (one chunk, built on the destination's side), is hashed with the run's chunk
 * algorithm in the same pass that computes its Content-MD5 (or, for a streamed part, in the
 * pass that sends it with the source's ETag as Content-MD5), so where the destination checks
 * that MD5 the digest is that of the bytes the server stored.
 */
export interface UploadedDigests {
  algorithm: DigestAlgorithm;
  /**
   * Called with the digest of every chunk read from the part source: before a part read whole
   * is sent, after a streamed part was accepted.
   */
  read?(chunk: ChunkRange, digest: Buffer): void;
  /**
   * Called once the destination accepted the part holding `chunk`, with the digest of its
   * bytes, where the destination checks the Content-MD5 sent with them.
   */
  accepted?(chunk: ChunkRange, digest: Buffer): void;
}

/** What the write phase writes with. */
export interface WriteContext {
  destination: ObjectStore;
  limiter: Limiter;
  /** Counters the write adds what crossed, what it uploaded, what it read of the old object and what the servers copied to. */
  bytes: Pick<ByteCounts, "transferred" | "uploaded" | "destinationRead" | "copiedServerSide">;
  /**
   * Heads the source, to check the pin of a server-side copy from it where the destination
   * does not enforce x-amz-copy-source-if-match. Needed only for writes that copy from the source.
   */
  headSource?: (key: string) => Promise<ObjectHead | undefined>;
  /** Receives the digests of parts uploaded with a Content-MD5 the destination checks. */
  uploaded?: UploadedDigests;
  /**
   * The buffers parts are read into before upload, reused across the run's parts, within the
   * run's memory budget (a Lambda function's, in AWS).
   */
  buffers: PartBuffers;
  /**
   * Told the byte count of each piece of a streamed object's body as it is handed to its PUT,
   * and the negative of what an attempt handed over once it ends: a progress display's live
   * "sent" (`transferred` counts an object's bytes only once the server stored them).
   */
  sending?: (bytes: number) => void;
  signal?: AbortSignal;
}

/** One object's write: the decision's parts and condition, and the versions they are pinned to. */
export interface ObjectWrite {
  key: string;
  attributes: ObjectAttributes;
  decision: Pick<ObjectDecision, "action" | "parts" | "condition">;
  /** The planned source version, and how the destination names it as a copy source. */
  source: ObjectIdentity & { size: number };
  /** The source's chunk plan, which every part's chunks come from. */
  plan: ChunkPlan;
  sourceRef: ObjectVersionRef;
  /**
   * The challenged destination version, where one exists, and the bytes of a range of it the
   * destination side holds already (read by the block exchange), where it holds them all.
   */
  old?: {
    ref: ObjectVersionRef;
    size: number;
    held?: (range: { offset: number; length: number }) => readonly Uint8Array[] | undefined;
  };
  parts: PartSource;
}

/**
 * The requests a write is made of. A whole-object CopyObject or a PutObject where one
 * request can hold it, a tag set put on the version as it stands (a `tags` decision);
 * otherwise a multipart upload.
 */
export type WriteRequests =
  | { kind: "copy" | "put"; part: PlannedPart }
  | { kind: "tags" }
  | { kind: "multipart" };

/** Decides the requests of `write`; both engines write an object with the same kinds of request. */
export function writeRequestsOf(write: {
  decision: ObjectWrite["decision"];
  source: { size: number };
  old?: { size: number } | undefined;
}): WriteRequests {
  const { action, parts, condition } = write.decision;
  if (action === "tags") return { kind: "tags" };
  const single = parts.length === 1 && parts[0]!.length <= MAX_CHUNK_SIZE ? parts[0]! : undefined;
  if (single === undefined) return { kind: "multipart" };
  // CopyObject has no range: it serves only a part that is its whole source object.
  const whole = single.kind === "sourceCopy" ? write.source.size : write.old?.size;
  const inPlace =
    single.kind !== "sourceBytes" && single.kind !== "assembled" && single.oldOffset === undefined;
  if (inPlace && single.length === whole) return { kind: "copy", part: single };
  // A replacement goes through multipart even for one part: CompleteMultipartUpload takes
  // If-Match on AWS, while Ceph RGW (Pacific) answers 412 to any If-Match on PutObject.
  if (single.kind === "sourceBytes" && "ifNoneMatch" in condition) return { kind: "put", part: single };
  return { kind: "multipart" };
}

/**
 * `write` with the destination's own tag set where its bytes stay and tags are not copied (a
 * `metadata` decision without `--tags`): S3 keeps no tags a copy or an upload is not given, so
 * restating the other attributes would drop the tags the destination holds. One request.
 */
export async function keepingTags(
  destination: Pick<ObjectStore, "tagging">,
  write: ObjectWrite,
  copyTags: boolean,
): Promise<ObjectWrite> {
  if (copyTags || write.decision.action !== "metadata" || write.old === undefined) return write;
  const { tagging: _source, ...attributes } = write.attributes;
  const tagging = await tagsOf(destination, write.key, "destination");
  return { ...write, attributes: tagging ? { ...attributes, tagging } : attributes };
}

/**
 * A multipart upload started before its object's decision is final, and the parts written into
 * it so far: while the direct engine's block exchange runs, the upload is created and the old
 * object's unchanged runs are copied, as the chunk-level compose would copy them. Wherever the
 * exchange finds an assembly, those are the same parts (its copies of unchanged chunks in
 * place), so the write that follows the exchange only writes the rest; where every chunk
 * changed there are none, and the upload is ready when the assembly is.
 */
export interface EarlyUpload {
  upload: MultipartUpload;
  parts: readonly PlannedPart[];
  /** Settles once every early part has; what completed each, in the order of `parts`. */
  written: Promise<CompletedPart[]>;
  /** Bytes the early parts copied so far, counted in the run's `copiedServerSide` as they were. */
  readonly copied: { bytes: number };
}

/**
 * Starts `write`'s multipart upload, or takes the one `created` for it already (see
 * {@link uploadAhead}), and writes its parts that copy the old object (see {@link EarlyUpload})
 * that `created` has not under their numbers (see {@link copyEarly});
 * undefined where `write` is not a multipart upload (`created` is then aborted).
 * Hand the result to {@link writeObject}, or to {@link abandonEarly} where nothing is written.
 */
export async function writeEarly(
  ctx: WriteContext,
  write: ObjectWrite,
  created?: Promise<EarlyUpload | undefined>,
): Promise<EarlyUpload | undefined> {
  if (writeRequestsOf(write).kind !== "multipart") {
    if (created) await abandonEarly(ctx, await created.catch(() => undefined));
    return undefined;
  }
  const early =
    (await created) ??
    startedEarly(await ctx.destination.createUpload(write.key, write.attributes, ctx.signal));
  return copyEarly(ctx, early, write, write.decision.parts);
}

/**
 * `early` with the parts of `parts` that copy the old object written into it too, but for those
 * whose numbers it has written already: each number is written once, by its first copy.
 */
export function copyEarly(
  ctx: WriteContext,
  early: EarlyUpload,
  write: ObjectWrite,
  parts: readonly PlannedPart[],
): EarlyUpload {
  const numbers = new Set(early.parts.map((p) => p.partNumber));
  const fresh = parts.filter((p) => p.kind === "destinationCopy" && !numbers.has(p.partNumber));
  if (fresh.length === 0) return early;
  const { copied } = early;
  const more = writeParts(ctx, early.upload, fresh, write, (n) => {
    copied.bytes += n;
  });
  const written = settleAll([early.written, more]).then(([before, after]) => [...before!, ...after!]);
  // Awaited by writeObject or abandonEarly; until then a failure is not an unhandled one.
  written.catch(() => {});
  return { upload: early.upload, parts: [...early.parts, ...fresh], written, copied };
}

/** An early upload of `upload` with no part written yet. */
function startedEarly(upload: MultipartUpload): EarlyUpload {
  return { upload, parts: [], written: Promise.resolve([]), copied: { bytes: 0 } };
}

/**
 * Creates the multipart upload of a write that is likely to come, before its decision (see
 * `attemptObject`): an early upload with no part yet, for {@link writeEarly} or
 * {@link writeObject} to take, or {@link abandonEarly} where nothing is written. Awaited by
 * one of them: a failure to create it is the write's, and nothing where none follows.
 */
export function uploadAhead(
  ctx: WriteContext,
  key: string,
  attributes: ObjectWrite["attributes"],
): Promise<EarlyUpload> {
  const created = ctx.destination.createUpload(key, attributes, ctx.signal).then(startedEarly);
  created.catch(() => {});
  return created;
}

/**
 * Aborts an early upload nothing will complete, once its parts have settled, and takes back
 * the bytes they copied: none of them is in the object.
 */
export async function abandonEarly(
  ctx: Pick<WriteContext, "bytes">,
  early: EarlyUpload | undefined,
): Promise<void> {
  if (early === undefined) return;
  await early.written.catch(() => {});
  await early.upload.abort().catch(() => {});
  ctx.bytes.copiedServerSide -= early.copied.bytes;
}

/** Whether two parts write the same bytes under the same part number. */
function samePart(a: PlannedPart, b: PlannedPart): boolean {
  return (
    a.partNumber === b.partNumber &&
    a.kind === b.kind &&
    a.offset === b.offset &&
    a.length === b.length &&
    (a.oldOffset ?? a.offset) === (b.oldOffset ?? b.offset)
  );
}

/**
 * Writes the destination object from the decision's parts under its condition and returns
 * its new ETag. Nothing becomes visible unless the final request succeeds; every failure
 * aborts the multipart upload once every part in flight has settled. `early`, an upload
 * started for this object before its decision (see {@link EarlyUpload}), is completed with
 * the parts of it the decision lists, or abandoned where the decision writes in one request.
 */
export async function writeObject(
  ctx: WriteContext,
  write: ObjectWrite,
  early?: EarlyUpload,
): Promise<Written> {
  const requests = writeRequestsOf(write);
  if (requests.kind !== "multipart") {
    await abandonEarly(ctx, early);
    return writeWhole(ctx, write, requests);
  }
  return writeInParts(ctx, write, early);
}

/** {@link writeObject}'s multipart upload of the decision's parts, with `early`'s where it has some. */
async function writeInParts(ctx: WriteContext, write: ObjectWrite, early?: EarlyUpload): Promise<Written> {
  // An early part the decision does not write under its number (neither keeps it nor writes
  // over it) would stay uploaded but out of the completion: AWS S3 completes such an upload,
  // Ceph RGW refuses it (InvalidPart), so the object would fail every run. The decision is then
  // written into an upload of its own.
  const numbers = new Set(write.decision.parts.map((p) => p.partNumber));
  const kept = early?.parts.some((e) => !numbers.has(e.partNumber)) ? await discardEarly(ctx, early) : early;
  const upload =
    kept?.upload ?? (await ctx.destination.createUpload(write.key, write.attributes, ctx.signal));
  try {
    const completed = await writeRest(ctx, upload, write, kept);
    return await completeUpload(ctx, upload, completed, write);
  } catch (error) {
    await kept?.written.catch(() => {});
    await upload.abort().catch(() => {});
    throw error;
  }
}

/**
 * Aborts `early` once its parts have settled (the failure of one is the write's, as where the
 * upload is kept) and takes back the bytes they copied: none of them is the write's.
 */
async function discardEarly(ctx: WriteContext, early: EarlyUpload): Promise<undefined> {
  try {
    await early.written;
  } finally {
    await early.upload.abort().catch(() => {});
    ctx.bytes.copiedServerSide -= early.copied.bytes;
  }
  return undefined;
}

/**
 * Writes the decision's parts that `early` has not, and returns what completed every part.
 * Where an early part is not one the decision lists, all early parts settle first: the part the
 * decision writes under its number (see {@link writeObject}) must land after it, not race it
 * (a rare case, as a decision's copies of unchanged chunks in place are the early parts).
 */
async function writeRest(
  ctx: WriteContext,
  upload: MultipartUpload,
  write: ObjectWrite,
  early: EarlyUpload | undefined,
): Promise<CompletedPart[]> {
  const { parts } = write.decision;
  const earlyParts = early?.parts ?? [];
  const kept = earlyParts.map((e) => parts.some((p) => samePart(p, e)));
  const rest = parts.filter((p) => !earlyParts.some((e) => samePart(p, e)));
  if (early === undefined) return writeParts(ctx, upload, parts, write);
  const keep = (written: CompletedPart[]) => written.filter((_, i) => kept[i]);
  if (kept.every(Boolean)) {
    const [written, others] = await settleAll<CompletedPart[]>([
      early.written,
      writeParts(ctx, upload, rest, write),
    ]);
    return [...keep(written!), ...others!];
  }
  const written = await early.written;
  // Bytes copied for parts the decision does not list are not the write's.
  earlyParts.forEach((p, i) => {
    if (!kept[i]) ctx.bytes.copiedServerSide -= p.length;
  });
  return [...keep(written), ...(await writeParts(ctx, upload, rest, write))];
}

/**
 * Writes the object in one request, a CopyObject, a PutObject or a tag set's put, under the
 * write's condition.
 */
export async function writeWhole(
  ctx: WriteContext,
  write: ObjectWrite,
  requests: Exclude<WriteRequests, { kind: "multipart" }>,
): Promise<Written> {
  const { destination, signal } = ctx;
  const { key, attributes, decision } = write;
  // The request that writes the object is not cut by the run's stop, as a multipart upload's
  // completion is not: a stop must never leave unknown whether an object was written.
  if (requests.kind === "tags") return writeTags(destination, write);
  const { part } = requests;
  if (requests.kind === "copy") {
    const fromSource = part.kind === "sourceCopy";
    const from = fromSource ? write.sourceRef : write.old!.ref;
    let written: Written;
    try {
      written = await guarded(ctx, write, "copy", fromSource, () =>
        destination.copyObject(from, key, attributes, decision.condition),
      );
    } catch (error) {
      // Ceph RGW 16 answers 501 to a CopyObject of an SSE-C object and serves UploadPartCopy:
      // the same copy as the one part of a multipart upload (its copies count their bytes).
      if (error instanceof NotImplementedError) return writeInParts(ctx, write);
      throw error;
    }
    ctx.bytes.copiedServerSide += part.length;
    return written;
  }
  const put = (buffer: Buffer) => {
    // Whether the last put was refused with 412 and the object found is the run's own (a retry
    // after a lost answer): the server then neither stored nor checked that put's body.
    let own = false;
    // Set once the server refused a create over a key it holds no object under (see
    // AbsentRefusedError): each later put goes without the condition, guarded by a HEAD.
    let unconditional = false;
    const send = async (body: WriteBody, digest: BodyDigest) => {
      own = false;
      try {
        return await guarded(
          ctx,
          write,
          "put",
          false,
          (condition) => destination.put(key, body, part.length, attributes, condition, undefined, digest),
          (now) => {
            own = isOwnPut(write, digest, now);
            return own;
          },
          unconditional,
        );
      } catch (error) {
        if (error instanceof AbsentRefusedError) unconditional = true;
        throw error;
      }
    };
    return withRetry(() => fromSource(ctx, write, part, buffer, send, "md5", () => !own), retryFor(signal));
  };
  // A streamed object's GET and PUT take one of the run's slots and a buffer (see bufferSize).
  const written = await ctx.buffers.with(bufferSize(write, part, ctx.buffers.budget), put);
  ctx.bytes.transferred += part.length;
  ctx.bytes.uploaded += part.length;
  return written;
}

/**
 * Puts the source's tag set on the challenged destination version, named by its version ID
 * where it has one: no byte is copied and no version made. S3 takes no condition on a tag
 * set's write, so the version is checked after it: one another writer replaced (or restated)
 * meanwhile fails the write with DESTINATION_CHANGED, which the object's next attempt
 * challenges again, writing nothing (see the engines' recheck).
 */
async function writeTags(destination: ObjectStore, write: ObjectWrite): Promise<Written> {
  const old = write.old!;
  await destination.putTagging(old.ref, write.attributes.tagging);
  const now = await destination.head(write.key);
  const same =
    now !== undefined &&
    now.size === old.size &&
    sameEtag(now.etag, old.ref.etag) &&
    (old.ref.versionId === undefined || now.versionId === old.ref.versionId) &&
    holdsAttributes(write, now);
  if (!same) throw new ObjectChangedError("destination", write.key);
  return writtenOf(now);
}

/**
 * Writes `parts` into `upload`: ranges the servers hold by UploadPartCopy, the rest from the
 * part source. Every task settles before the first failure is rethrown, so an abort that
 * follows leaves no part being written.
 */
export function writeParts(
  ctx: WriteContext,
  upload: MultipartUpload,
  parts: readonly PlannedPart[],
  write: ObjectWrite,
  onCopied?: (bytes: number) => void,
): Promise<CompletedPart[]> {
  const { limiter, signal, bytes } = ctx;
  const retry = retryFor(signal);
  const send = (part: PlannedPart) => (body: WriteBody, digest: BodyDigest) =>
    upload.uploadPart(part.partNumber, body, part.length, signal, digest);
  const check = partCheck(ctx);
  return settleAll(
    parts.map(async (part): Promise<CompletedPart> => {
      if (part.kind === "assembled") {
        const done = await inBuffer(ctx, write, part, (buffer) =>
          withRetry(() => assembled(ctx, write, part, buffer, send(part), check), retry),
        );
        for (const piece of part.pieces ?? []) if (piece.from === "source") bytes.transferred += piece.length;
        bytes.uploaded += part.length;
        return done;
      }
      if (part.kind === "sourceBytes") {
        const done = await inBuffer(ctx, write, part, (buffer) =>
          withRetry(() => fromSource(ctx, write, part, buffer, send(part), check), retry),
        );
        bytes.transferred += part.length;
        bytes.uploaded += part.length;
        return done;
      }
      const side = part.kind === "sourceCopy" ? "source" : "destination";
      const from = side === "source" ? write.sourceRef : write.old!.ref;
      // A block match copies its run from wherever the old object holds it.
      const range = { offset: part.oldOffset ?? part.offset, length: part.length };
      const head = side === "source" ? ctx.headSource : (key: string) => ctx.destination.head(key, signal);
      const replaced = head && (async () => !sameEtag((await head(from.key))?.etag, from.etag));
      const done = await limiter.run(() =>
        withRetry(
          () => pinned(side, from.key, () => upload.copyPart(part.partNumber, from, range, signal), replaced),
          retry,
        ),
      );
      bytes.copiedServerSide += part.length;
      onCopied?.(part.length);
      return done;
    }),
  );
}

/**
 * Runs `send`, the requests of `part`, which is read whole into memory, in one of the run's
 * slots with a buffer of its object's chunk size, kept across its retries. The buffer is taken
 * first: a part waiting for room holds no slot a copy could use.
 */
function inBuffer<T>(
  ctx: WriteContext,
  write: ObjectWrite,
  part: PlannedPart,
  send: (buffer: Buffer) => Promise<T>,
): Promise<T> {
  return ctx.buffers.with(bufferSize(write, part, ctx.buffers.budget), (buffer) =>
    ctx.limiter.run(() => send(buffer)),
  );
}

/**
 * The buffer a part read into memory takes: its object's chunk size, which its parts share. A
 * streamed object's bytes go through one chunk's buffer (see HalvesReader), or one of their own
 * size where they are fewer. Sent in signed chunks, they go through two chunks' (one chunk is
 * read while the one before it is sent), or one where a strict budget has no room for two.
 */
function bufferSize(write: Pick<ObjectWrite, "plan">, part: PlannedPart, budget: MemoryBudget): number {
  const chunk = write.plan.chunkSize;
  if (!part.streamed) return Math.max(chunk, part.length);
  if (!part.signed) return Math.min(chunk, part.length);
  const two = Math.min(2 * chunk, part.length);
  return budget.strict && two > budget.bytes ? chunk : two;
}

/** Whether `part`'s bytes go through a buffer of {@link bufferSize} (see {@link PartBuffers}). */
function inMemory(part: PlannedPart): boolean {
  return part.kind === "assembled" || part.kind === "sourceBytes";
}

/**
 * Fails `write` before any of its requests where a part it reads into memory would not fit the
 * run's memory budget even alone (see `checkChunkBuffer`): a strict budget, a Lambda function's
 * memory, would otherwise be passed halfway through the write.
 *
 * @throws MemoryBudgetError
 */
export function checkMemory(ctx: Pick<WriteContext, "buffers">, write: ObjectWrite): void {
  for (const part of write.decision.parts)
    if (inMemory(part))
      checkChunkBuffer(write.key, bufferSize(write, part, ctx.buffers.budget), ctx.buffers.budget);
}

/** Completes `upload` from its parts (in any order) under the write's condition and its guards. */
export async function completeUpload(
  ctx: WriteContext,
  upload: MultipartUpload,
  completed: CompletedPart[],
  write: ObjectWrite,
): Promise<Written> {
  const sorted = [...completed].sort((a, b) => a.partNumber - b.partNumber);
  const copiedSource = write.decision.parts.some((p) => p.kind === "sourceCopy");
  // A retry of a complete the server carried out but whose answer was lost meets its own
  // object, and where the write's condition is enforced it is refused with 412: the object
  // whose ETag is that of these very parts, with the write's attributes, is the run's own.
  let takenAsOwn = false;
  const isOwn = (now: ObjectHead) => {
    const assembled = multipartEtag(sorted);
    takenAsOwn = assembled !== undefined && sameEtag(now.etag, assembled) && holdsAttributes(write, now);
    return takenAsOwn;
  };
  const written = await guarded(
    ctx,
    write,
    "complete",
    copiedSource,
    () => upload.complete(sorted, write.decision.condition),
    isOwn,
  );
  // The same object may be another writer's of the same parts (another run of the pair at
  // once): then this upload is still open. One completed already answers the abort 404.
  if (takenAsOwn) await upload.abort().catch(() => {});
  return written;
}

/**
 * How the server storing a part read into memory checks it: by its SHA-256, signed as its
 * payload hash, where the destination checks that and the part's chunk digest is that very
 * SHA-256 (then no MD5 is computed: each byte is hashed once); else by its Content-MD5. A
 * whole-object put keeps its Content-MD5: its ETag is that MD5, which tells a put whose answer
 * was lost from another writer's (see {@link isOwnPut}).
 */
type PartCheck = "sha256" | "md5";

function partCheck(ctx: WriteContext): PartCheck {
  const sha256 = ctx.destination.capabilities.writeChecksums.payloadSha256;
  return sha256 && ctx.uploaded?.algorithm === "sha256" ? "sha256" : "md5";
}

/**
 * Reads `part` from the part source and sends it (see {@link sendCollected}), handing its chunk
 * digest to `ctx.uploaded.read` first: the source's digest of that chunk. A part not streamed
 * is read whole into `buffer`, computing its checksum and its chunk digest in the same pass (a
 * retry reads it again). `stored` says whether the server stored the body `send` last sent
 * (see {@link streamOnce}).
 */
async function fromSource<T>(
  ctx: WriteContext,
  write: ObjectWrite,
  part: PlannedPart,
  buffer: Buffer,
  send: (body: WriteBody, digest: BodyDigest) => Promise<T>,
  check: PartCheck = "md5",
  stored: () => boolean = () => true,
): Promise<T> {
  const read = (digest: Buffer) => ctx.uploaded?.read?.(chunkOf(part), digest);
  const held = write.parts.held?.(part);
  if (held) return sendCollected(ctx, part, held, send, check, read);
  if (part.streamed) return sendStreamed(ctx, write, part, buffer, send, stored);
  const { bucket, key } = write.source;
  const got = await collectLanded(
    part.length,
    (into, landed) => write.parts.readInto(part, { into, piece: (piece) => landed.update(piece) }),
    ctx.uploaded?.algorithm,
    buffer,
    check === "md5",
  ).catch((error: unknown) => {
    throw failedRead(bucket, key, error);
  });
  return sendCollected(ctx, part, got, send, check, read);
}

/** The chunk a part of one chunk covers (an empty object's one part: an empty chunk). */
function chunkOf(part: PlannedPart): ChunkRange {
  return { index: part.firstChunk, offset: part.offset, length: part.length };
}

/**
 * Sends `part` (a whole new object, see `PlannedPart.streamed`) as its bytes are read from the
 * part source, with the source's ETag as its Content-MD5: the storing server refuses a body
 * whose MD5 is not the one the source states for its bytes (BadDigestError), so bytes altered
 * anywhere between the source's store and the destination's are caught. A refused body is
 * read once more for its MD5: the same as the ETag, the bytes were altered on the way and the
 * refusal stands (retried as any); another, the ETag is not the MD5 of the bytes though it has
 * the form of one (a server's own scheme), and the body is sent again with the MD5 measured.
 *
 * A source whose ETag is no MD5 (`PlannedPart.signed`) is sent in signed chunks, one a chunk of
 * its plan, each signed by the SHA-256 measured as it was read: the storing server checks every
 * chunk against it, so bytes altered between the destination's side and its store are refused.
 * Where the server refuses the body for the way it is sent (SignedChunksRefusedError: a bucket
 * under Object Lock, a server without signed chunks, a chunk whose signature did not match), the
 * object is read once more for its MD5 first, and sent with it as Content-MD5.
 */
async function sendStreamed<T>(
  ctx: WriteContext,
  write: ObjectWrite,
  part: PlannedPart,
  buffer: Buffer,
  send: (body: WriteBody, digest: BodyDigest) => Promise<T>,
  stored: () => boolean,
): Promise<T> {
  if (part.signed) {
    try {
      return await streamOnce(ctx, write, part, buffer, send, undefined, stored);
    } catch (error) {
      if (!(error instanceof SignedChunksRefusedError)) throw error;
    }
    return streamOnce(ctx, write, part, buffer, send, await measuredMd5(write, part), stored);
  }
  const stated = etagMd5(write.source.etag);
  if (stated === undefined)
    throw new ChunksyncError("UNEXPECTED", `${write.source.key} is streamed but its ETag is no MD5`);
  try {
    return await streamOnce(ctx, write, part, buffer, send, stated, stored);
  } catch (error) {
    if (!(error instanceof BadDigestError)) throw error;
    const md5 = await measuredMd5(write, part);
    if (md5 === stated) throw error;
    return streamOnce(ctx, write, part, buffer, send, md5, stored);
  }
}

/** The MD5 of `part`'s bytes, read for it alone, as Content-MD5 states one. */
async function measuredMd5(write: ObjectWrite, part: PlannedPart): Promise<string> {
  const measured = createDigester("md5");
  await write.parts.readInto(part, { piece: (piece) => measured.update(piece) });
  return measured.digest().toString("base64");
}

/**
 * Streams `part` from the part source into `send` with `contentMd5`, or without one in signed
 * chunks (each piece one chunk, see HalvesReader's `pieceSize`), hashing each chunk as it
 * passes; once the server accepted the body, those are the source's and, where the destination
 * checks the body so sent, the destination's digests of the chunks. Nothing is held but what is
 * in flight: `buffer`'s halves in turn (see HalvesReader). Where `send` settled without the
 * server storing the body (`stored`: the run's own object found after a 412), no server checked
 * the bytes hashed, and no digest is kept.
 */
async function streamOnce<T>(
  ctx: WriteContext,
  write: ObjectWrite,
  part: PlannedPart,
  buffer: Buffer,
  send: (body: WriteBody, digest: BodyDigest) => Promise<T>,
  contentMd5: string | undefined,
  stored: () => boolean,
): Promise<T> {
  const chunks = chunkRanges(write.plan).slice(part.firstChunk, part.firstChunk + part.chunkCount);
  const algorithm = ctx.uploaded?.algorithm;
  const hashing = algorithm === undefined ? undefined : new ChunkDigests(chunks, algorithm);
  // Signed chunks carry their SHA-256: the chunk digests themselves where those are SHA-256.
  const signing =
    contentMd5 !== undefined
      ? undefined
      : algorithm === "sha256"
        ? hashing
        : new ChunkDigests(chunks, "sha256");
  const sent: BodyDigest =
    signing === undefined
      ? { contentMd5 }
      : { chunks: { lengths: chunks.map((c) => c.length), sha256: (i) => signing.digests[i]! } };
  let handed = 0;
  const pieceSize = signing === undefined ? undefined : write.plan.chunkSize;
  const reader = new HalvesReader(
    write.parts.readInto,
    part,
    buffer,
    retryFor(ctx.signal),
    (bytes) => {
      hashing?.update(bytes);
      if (signing !== hashing) signing?.update(bytes);
      handed += bytes.length;
      ctx.sending?.(bytes.length);
    },
    pieceSize,
  );
  const body = reader.pieces();
  // Before the buffer is given back, or a retry reads into it: no read is left landing in it,
  // even where a refusal came before the body was read to its end. What the attempt handed
  // over is taken back from the live count: the caller counts a stored object as transferred.
  const stop = async () => {
    await reader.stop();
    await body.return(undefined);
    ctx.sending?.(-handed);
    handed = 0;
  };
  let done: T;
  try {
    done = await send(body, sent);
    hashing?.end();
  } catch (error) {
    await stop();
    // Unless the server answered, a body that broke or was not the planned length failed the
    // upload: the read is to blame, as a read reports it.
    const answered = (error as { cause?: { $metadata?: unknown } }).cause?.$metadata !== undefined;
    const readError = reader.failure;
    throw readError && !answered ? failedRead(write.source.bucket, write.source.key, readError) : error;
  }
  await stop();
  if (!stored()) return done;
  const checks = ctx.destination.capabilities.writeChecksums;
  const checked = signing === undefined ? checks.contentMd5 : checks.signedChunks;
  hashing?.digests.forEach((digest, i) => {
    const chunk = chunks[i]!;
    ctx.uploaded?.read?.(chunk, digest);
    if (checked) ctx.uploaded?.accepted?.(chunk, digest);
  });
  return done;
}

/**
 * Builds an assembled part in `buffer` on the destination's side, its pieces in order: ranges
 * of the old object read from the destination's own store (pinned to the challenged version)
 * or taken from what the direct engine's block exchange read of that very version, and ranges
 * of the source, the only bytes that cross; then sends it as parts from the source are sent.
 * Every piece is read at once, straight into its place in the part's buffer: one
 * after the other, a part's few pieces would cost their round trips in turn.
 */
async function assembled<T>(
  ctx: WriteContext,
  write: ObjectWrite,
  part: PlannedPart,
  buffer: Buffer,
  send: (body: Buffer, digest: BodyDigest) => Promise<T>,
  check: PartCheck,
): Promise<T> {
  const old = write.old;
  if (old === undefined)
    throw new ChunksyncError("NO_OLD_OBJECT", `part ${part.partNumber} needs the old object`);
  const { destination, signal, bytes } = ctx;
  const pieces = part.pieces ?? [];
  const fill = (data: Buffer, digests: InOrderDigests) => {
    let place = 0;
    return settleAll(
      pieces.map(async (piece) => {
        const at = place;
        place += piece.length;
        const fromSource = piece.from === "source";
        let got = 0;
        const sink = {
          into: data.subarray(at, at + piece.length),
          piece: (read: Uint8Array) => {
            digests.filled(at + got, at + got + read.length);
            got += read.length;
          },
        };
        // Old bytes the block exchange read for this very version are not read again.
        const held = fromSource ? undefined : old.held?.(piece);
        const what = `the range at ${piece.offset}`;
        if (fromSource) await write.parts.readInto(piece, sink);
        else if (!held) {
          const counted = counting(sink, (n) => {
            bytes.destinationRead += n;
          });
          await readRange(
            destination,
            "destination",
            old.ref.key,
            old.ref.etag,
            piece,
            counted,
            what,
            signal,
          );
        } else {
          // A body longer than its piece fails: none of it spills into the next piece.
          await feedBody(destination.bucket, old.ref.key, held, piece.length, what, sink);
        }
      }),
    );
  };
  const data = buffer.subarray(0, part.length);
  // Hashed as the pieces come in, in order: not all after the last one.
  const digests = new InOrderDigests(data, ctx.uploaded?.algorithm, check === "md5");
  await fill(data, digests);
  return sendCollected(ctx, part, { data, ...digests.digests() }, send, check);
}

/**
 * Sends the bytes of `part`, read whole, with their checksum (see {@link PartCheck}): the
 * storing server refuses a body that arrives altered (BadDigestError, retryable; a retry reads
 * the part again). Where the destination checks that checksum, the chunk digest computed in
 * the same pass is that of the bytes it stored, and goes to `ctx.uploaded.accepted` once the
 * part is.
 */
async function sendCollected<T>(
  ctx: WriteContext,
  part: PlannedPart,
  got: BodyDigests & { data: Buffer },
  send: (body: Buffer, digest: BodyDigest) => Promise<T>,
  check: PartCheck,
  read?: (digest: Buffer) => void,
): Promise<T> {
  if (got.chunk) read?.(got.chunk);
  const bySha256 = check === "sha256" && got.chunk !== undefined;
  // The MD5 is left out only beside a chunk digest, for a part sent by its SHA-256 (BodyHasher).
  const digest: BodyDigest = bySha256
    ? { sha256: got.chunk!.toString("hex") }
    : { contentMd5: got.md5!.toString("base64") };
  const sent = await send(got.data, digest);
  const checks = ctx.destination.capabilities.writeChecksums;
  if (got.chunk && (bySha256 ? checks.payloadSha256 : checks.contentMd5)) {
    ctx.uploaded?.accepted?.(chunkOf(part), got.chunk);
  }
  return sent;
}

/** A 412 on a copy source means that side's object changed under the run. */
async function pinned<T>(
  side: "source" | "destination",
  key: string,
  run: () => Promise<T>,
  replaced?: () => Promise<boolean>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof PreconditionFailedError) throw new ObjectChangedError(side, key, error);
    // A server that ignores the pin (Ceph RGW 16) copies from whatever version is current: one
    // another writer made smaller fails the copy as out of range (416), a deleted one as missing.
    // Where the pinned version is gone, the object changed, as a 412 says where the pin holds.
    const refused = error instanceof RequestRefusedError || error instanceof ObjectNotFoundError;
    if (refused && (await replaced?.().catch(() => false))) throw new ObjectChangedError(side, key, error);
    throw error;
  }
}

/**
 * A create (If-None-Match: *) refused with 412 where a HEAD just after finds no object under the
 * key: Ceph RGW 16, in a bucket whose versioning is suspended, refuses it where the key's current
 * version is a delete marker, so every run failed such an object as another writer's. Retryable:
 * the put is sent again without the condition, guarded by a HEAD just before it, as on a server
 * that does not enforce the condition.
 */
class AbsentRefusedError extends StorageError {
  constructor(ctx: StorageErrorContext, cause: unknown) {
    super(
      "PRECONDITION_FAILED",
      "a create refused with 412 though no object is there (a delete marker on top, in a bucket whose versioning is suspended)",
      ctx,
      { cause, retryable: true },
    );
  }
}

/**
 * Runs the final, visible write under the write's condition. Where the destination does not
 * declare that it enforces the condition on that write (Ceph RGW 16 ignores If-Match on
 * CompleteMultipartUpload and CopyObject), or the pin of a source copied server-side
 * (x-amz-copy-source-if-match), that pin is checked by HEAD just before the write: the
 * destination must still be the challenged version, and the source the planned one. That
 * narrows a concurrent writer's window to one round trip on such servers. `unconditional`: the
 * write is sent without its condition (the server refused it though it held: see
 * AbsentRefusedError), guarded by that HEAD alike.
 */
async function guarded(
  ctx: WriteContext,
  write: ObjectWrite,
  kind: ConditionalWrite,
  copiesSource: boolean,
  run: (condition: WriteCondition | undefined) => Promise<Written>,
  own?: (now: ObjectHead) => boolean,
  unconditional = false,
): Promise<Written> {
  const { destination, signal } = ctx;
  const { key } = write;
  const condition: WriteCondition = write.decision.condition;
  const holds = (now: ObjectHead | undefined) =>
    "ifMatch" in condition ? sameEtag(now?.etag, condition.ifMatch) : now === undefined;
  if (unconditional || !enforcesCondition(destination.capabilities, kind, condition)) {
    if (!holds(await destination.head(key, signal))) throw new ObjectChangedError("destination", key);
  }
  if (copiesSource && !destination.capabilities.conditionalWrites.copySourceIfMatch) {
    if (ctx.headSource === undefined) {
      throw new ChunksyncError(
        "UNSUPPORTED",
        "a server-side copy from the source needs a way to head the source",
      );
    }
    if (!sameEtag((await ctx.headSource(write.source.key))?.etag, write.source.etag)) {
      throw new ObjectChangedError("source", write.source.key);
    }
  }
  try {
    return await run(unconditional ? undefined : condition);
  } catch (error) {
    // A copy whose source (the planned source version, or the old destination object) is gone
    // (404): that side's object changed under the run, as a pinned read finds it.
    if (kind === "copy" && error instanceof ObjectNotFoundError)
      throw new ObjectChangedError(
        copiesSource ? "source" : "destination",
        copiesSource ? write.source.key : key,
        error,
      );
    if (!(error instanceof PreconditionFailedError)) throw error;
    const now = await destination.head(key, signal);
    if (now !== undefined && own?.(now)) return writtenOf(now);
    if (now === undefined && "ifNoneMatch" in condition && !copiesSource)
      throw new AbsentRefusedError({ operation: kind, bucket: destination.bucket, key }, error);
    // The copy source's pin and the write condition both answer 412; the HEAD tells which lost.
    const destinationMoved = !holds(now);
    throw new ObjectChangedError(destinationMoved || !copiesSource ? "destination" : "source", key, error);
  }
}

/** What a HEAD states of the version it names, as a write's answer states it. */
function writtenOf(now: ObjectHead): Written {
  return now.versionId === undefined ? { etag: now.etag } : { etag: now.etag, versionId: now.versionId };
}

/**
 * Whether `now` is the object this run's PutObject of `sent` stored: a retry of a put the server
 * stored but whose answer was lost (a connection reset after the reply) is refused with 412 by
 * its If-None-Match, though the object is the run's own. It is where the ETag is the MD5 sent
 * (so the bytes are) and the attributes are those written. Under SSE-KMS or SSE-C the ETag says
 * nothing of the bytes, and the 412 stands.
 */
function isOwnPut(write: ObjectWrite, sent: BodyDigest, now: ObjectHead): boolean {
  if (now.etagNotMd5 || sent.contentMd5 === undefined) return false;
  const md5 = Buffer.from(sent.contentMd5, "base64").toString("hex");
  return sameEtag(now.etag, md5) && holdsAttributes(write, now);
}

/**
 * Whether `now` holds the attributes `write` wrote (tags aside: a server may restate them after
 * the write). An ETag names the bytes only: another writer's object of the same bytes, in the
 * same parts, under other attributes is not the run's own.
 */
function holdsAttributes(write: ObjectWrite, now: ObjectHead): boolean {
  return !attributesDiffer(write.attributes, attributesOf(now), { tags: false });
}
