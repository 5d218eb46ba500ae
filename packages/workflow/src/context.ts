import {
  type DestinationTraits,
  DIGEST_ALGORITHMS,
  type DigestAlgorithm,
  MAX_PARTS,
  type ObjectAttributes,
  type ObjectDecision,
  type PlannedPart,
  type Variant,
  type VerifyMode,
} from "@chunksync/core";
import type { ObjectReader, ObjectStore } from "@chunksync/storage";
import type { ByteCounts, KeyRule, PartBuffers, SideIndexOptions } from "@chunksync/sync";
import { z } from "zod";
import { relativeKey } from "./events.js";
import type { WorkArea } from "./WorkArea.js";

/** Makes a short-lived link to read one source object, pinned by the reader with If-Match. */
export interface ChunkLinkSigner {
  sign(key: string, expiresInSeconds: number): Promise<string>;
}

/** Run settings both sides agree on (from the deployment's config). */
export interface RunSettings {
  chunkSize: number;
  /** The challenge's digest: the source digests with it, and the destination reads ahead with it. */
  algorithm: DigestAlgorithm;
  /** Chunks digested, or parts written, per step invocation at most. */
  batchChunks: number;
  /**
   * Bytes one step invocation digests or writes at most (a batch holds fewer chunks when
   * chunks are large), so that each ends well inside Lambda's 15 minutes.
   */
  batchBytes: number;
  /** Requests in flight inside one step. */
  concurrency: number;
  /** Ordered include/exclude globs over keys relative to the prefixes (see keyFilter); both sides apply the same. */
  filters?: readonly KeyRule[];
  /** Copy the source's tag set onto written objects, and compare tag sets. */
  copyTags?: boolean;
  /** In-process runs only: stops the requests of the steps in flight. */
  signal?: AbortSignal;
  /** Set for one step invocation: the byte counts its steps made (see stepBytes.ts). */
  counted?: StepBytes[];
}

/** What the source-side steps need: the source store only, never the destination's. */
export interface SourceContext extends RunSettings {
  /** Read-only: the source side never writes to the source bucket. */
  store: ObjectReader;
  /** Directory prefix of the source ("" or ending in "/"). */
  prefix: string;
  /**
   * Directory prefix of the destination: names an object's destination key in its result where
   * the destination side recorded none (it failed at or before its HEAD), as the direct engine
   * names it. Nothing on the destination is read or written through it.
   */
  destinationPrefix: string;
  work: WorkArea;
  secret: Buffer;
  variant: Variant;
  verify: VerifyMode;
  /**
   * Both sides are one account: the decision copies changed chunks server-side from the
   * source too (the destination context then carries `copySource`).
   */
  serverSideCopy?: boolean;
  /**
   * Match changed chunks block by block against the old object (default), so that only what
   * changed crosses; false sends them whole.
   */
  blocks?: boolean;
  /** Objects per listing page (one Map run). */
  pageSize: number;
  signer: ChunkLinkSigner;
  /** How long a link to a changed chunk stays valid. */
  linkExpirySeconds: number;
  /** The source's digest index, which only source steps read and write (absent: none). */
  index?: SideIndexOptions;
}

/** Reads a range of a source object through a link the source side signed. */
export type LinkReader = (
  url: string,
  etag: string,
  range: { offset: number; length: number },
  signal?: AbortSignal,
) => Promise<import("node:stream").Readable>;

/** What the destination-side steps need: the destination store only. */
export interface DestinationContext extends RunSettings {
  store: ObjectStore;
  prefix: string;
  work: WorkArea;
  secret: Buffer;
  readLink: LinkReader;
  /**
   * The source as the destination's credentials read it, where both sides are one account:
   * server-side copies name it, and their pin is checked against it.
   */
  copySource?: ObjectReader;
  /** Delete the selected destination-only objects (otherwise they are only reported). */
  delete?: boolean;
  /** The destination's digest index, which only destination steps read and write (absent: none). */
  index?: SideIndexOptions;
  /**
   * The buffers ComposeBatch reads parts into, within the memory of the function (in AWS) or
   * of the run (in-process): shared by the steps this context serves.
   */
  buffers: PartBuffers;
}

/** Partial byte counts a step reports; the record step sums them per object. */
export type StepBytes = Partial<ByteCounts>;

/** The source object as planned, shared with the destination side (no digest in it). */
export interface SourceRecord {
  key: string;
  bucket: string;
  sourceKey: string;
  etag: string;
  versionId?: string;
  size: number;
  archived: boolean;
  storageClass?: string;
  /** The ETag is the MD5 of the bytes (see `etagIsMd5`): a new object can be streamed with it. */
  etagIsMd5?: boolean;
  plan: { size: number; chunkSize: number; count: number };
  /** Attributes to restate on the destination. */
  attributes: ObjectAttributes;
}

/** The destination object as found before the write. */
export interface DestinationRecord extends DestinationTraits {
  bucket: string;
  destinationKey: string;
  exists: boolean;
  etag?: string;
  size?: number;
  /** The version's ID where its bucket keeps versions: the write's copies from it name it (see `versionPin`). */
  versionId?: string;
  attributes?: ObjectAttributes;
}

/** What the decide step settled for one object: the core's decision, and how it is cut into batches. */
export interface Decision extends ObjectDecision {
  /** Parts (and verified chunks) per batch, fixed here so both sides cut batches alike. */
  batchSize: number;
  /**
   * Unless under `--verify full`: the destination keeps the digest, with this algorithm, of each
   * part it uploads with a Content-MD5 its store checks; it answers the verify challenge for
   * those chunks from it instead of reading them back, and its index entry of the version it
   * wrote holds them (as the direct engine's does).
   */
  uploadDigests?: DigestAlgorithm;
  /**
   * The block round rebuilt a chunk called changed from the old object in place (see
   * `rebuildsChangedInPlace`): neither side keeps an index entry of the object.
   */
  distrusted?: true;
}

const count = z.number().int().min(0);
/** Pieces of one assembled part at most, as many as ranges one block request may name. */
const MAX_PIECES = 1 << 20;
const chunkIndexes = z.array(count).max(MAX_PARTS);

/**
 * A stored decision as the steps after Decide read it back from the work area: a record
 * that is not what Decide wrote fails the step by name instead of writing wrong parts.
 */
export const DecisionSchema = z.strictObject({
  state: z.enum(["identical", "missing", "changed", "unreadable"]),
  action: z.enum(["none", "copy", "compose", "metadata", "tags"]),
  changed: chunkIndexes,
  parts: z
    .array(
      z.strictObject({
        partNumber: z.number().int().min(1).max(MAX_PARTS),
        kind: z.enum(["destinationCopy", "sourceCopy", "sourceBytes", "assembled"]),
        firstChunk: count,
        chunkCount: count,
        offset: count,
        length: count,
        oldOffset: count.optional(),
        streamed: z.literal(true).optional(),
        signed: z.literal(true).optional(),
        pieces: z
          .array(z.strictObject({ from: z.enum(["old", "source"]), offset: count, length: count }))
          .max(MAX_PIECES)
          .optional(),
      }) satisfies z.ZodType<PlannedPart>,
    )
    .max(MAX_PARTS),
  condition: z.union([
    z.strictObject({ ifMatch: z.string().min(1) }),
    z.strictObject({ ifNoneMatch: z.literal("*") }),
  ]),
  planned: z.strictObject({ transfer: count, serverSide: count }),
  verify: chunkIndexes,
  batchSize: z.number().int().min(1),
  uploadDigests: z.enum(DIGEST_ALGORITHMS).optional(),
  distrusted: z.literal(true).optional(),
}) satisfies z.ZodType<Decision>;

/**
 * The digests of the parts one compose batch uploaded with a checked Content-MD5, kept in the
 * destination's own part of the work area: raw digests would let whoever reads them answer a
 * challenge, so the source side never can.
 */
export interface UploadedRecord {
  /** The attempt whose upload they belong to. */
  attempt: number;
  algorithm: DigestAlgorithm;
  /** Base64 digest of each range uploaded. */
  ranges: { offset: number; length: number; digest: string }[];
}

export const UploadedRecordSchema = z.strictObject({
  attempt: z.number().int().min(1),
  algorithm: z.enum(DIGEST_ALGORITHMS),
  ranges: z
    .array(z.strictObject({ offset: count, length: count, digest: z.base64().max(64) }))
    .max(MAX_PARTS),
}) satisfies z.ZodType<UploadedRecord>;

/**
 * A header's text, bounded well above what S3 stores: a full tag set URL-encoded (10 tags of 128
 * and 256 characters, each up to 12 characters encoded: about 46,000) and headers as long as a
 * server takes them (AWS refuses a request whose headers pass 8 KB; RGW takes longer ones).
 */
const text = z.string().max(64 * 1024);
const AttributesSchema = z.strictObject({
  contentType: text.optional(),
  contentEncoding: text.optional(),
  contentLanguage: text.optional(),
  contentDisposition: text.optional(),
  cacheControl: text.optional(),
  // The header's text as the source states it, an HTTP date or not (see ObjectAttributes).
  expires: text.optional(),
  metadata: z.record(z.string(), z.string()),
  tagging: text.optional(),
}) satisfies z.ZodType<ObjectAttributes>;

const etag = z.string().min(1).max(1024);
const storedKey = z.string().min(1).max(2048);

/**
 * The source record as the destination side reads it back (and the source side after it):
 * what its writes are pinned to and restate. A record that is not what PlanSource wrote
 * fails the step by field instead of writing a wrong object.
 */
export const SourceRecordSchema = z.strictObject({
  key: relativeKey,
  bucket: z.string().min(1).max(255),
  sourceKey: storedKey,
  etag,
  versionId: z.string().min(1).optional(),
  size: count,
  archived: z.boolean(),
  storageClass: z.string().min(1).optional(),
  etagIsMd5: z.boolean().optional(),
  plan: z.strictObject({ size: count, chunkSize: z.number().int().min(1), count }),
  attributes: AttributesSchema,
}) satisfies z.ZodType<SourceRecord>;

/** A record's copy of what the decision takes of the destination's store (see `destinationTraits`). */
export const destinationTraitsShape = {
  checksContentMd5: z.boolean(),
  checksSignedChunks: z.boolean(),
  copySourceEscapesReadOnce: z.boolean(),
} satisfies Record<keyof DestinationTraits, z.ZodBoolean>;

/** The destination record as the source side reads it back to challenge and decide. */
export const DestinationRecordSchema = z.strictObject({
  bucket: z.string().min(1).max(255),
  destinationKey: storedKey,
  exists: z.boolean(),
  etag: etag.optional(),
  size: count.optional(),
  versionId: z.string().min(1).optional(),
  attributes: AttributesSchema.optional(),
  ...destinationTraitsShape,
}) satisfies z.ZodType<DestinationRecord>;

/** The multipart upload of one object: created once, completed once. */
export interface UploadRecord {
  /** The attempt that began it: a restarted object begins its write afresh. */
  attempt: number;
  /** The destination key, so that an interrupted run can abort the upload. */
  key: string;
  /** Absent for an object written in one request (PutObject or CopyObject). */
  uploadId?: string;
  /** Set once completed, so a retried completion answers the same. */
  etag?: string;
}

/** The upload record as both sides read it back: the verify challenge names the ETag it holds. */
export const UploadRecordSchema = z.strictObject({
  attempt: z.number().int().min(1),
  key: storedKey,
  uploadId: z.string().min(1).max(1024).optional(),
  etag: etag.optional(),
}) satisfies z.ZodType<UploadRecord>;

/** Chunks per batch for chunks of `chunkSize` bytes: within both `batchChunks` and `batchBytes`. */
export function chunksPerBatch(settings: RunSettings, chunkSize: number): number {
  return Math.max(1, Math.min(settings.batchChunks, Math.floor(settings.batchBytes / chunkSize)));
}
