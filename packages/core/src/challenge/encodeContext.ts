import type { DigestAlgorithm } from "../digest.js";
import { ValidationError } from "../errors.js";
import type { Direction, ObjectIdentity } from "./types.js";

/** Everything one chunk's challenge is bound to. */
export interface ChallengeContext {
  readonly version: number;
  readonly direction: Direction;
  readonly algorithm: DigestAlgorithm;
  readonly source: ObjectIdentity;
  readonly destination: ObjectIdentity;
  readonly index: number;
  readonly offset: number;
  readonly length: number;
}

// A label first, so these bytes can never be mistaken for another structure keyed by the same secret.
const DOMAIN = "chunksync/challenge-context";
const AUDIT_DOMAIN = "chunksync/audit-context";
const BLOCK_DOMAIN = "chunksync/block-context";
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Whether `text` is well-formed Unicode (no unpaired surrogate). An unpaired
 * surrogate becomes U+FFFD in UTF-8, so two different strings would encode,
 * and therefore sign, alike.
 */
export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/** Room for a typical context (two short keys); a longer one grows the buffer. */
const INITIAL_BYTES = 512;
const TWO_TO_32 = 2 ** 32;

/** Writes the fields into one buffer: a context is encoded twice per challenged chunk. */
export class ContextWriter {
  #out = Buffer.allocUnsafe(INITIAL_BYTES);
  #at = 0;

  /** Starts over in the same buffer: what {@link bytes} returned before is overwritten. */
  reset(): void {
    this.#at = 0;
  }

  #room(bytes: number): void {
    if (this.#at + bytes <= this.#out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.#out.length, this.#at + bytes));
    this.#out.copy(grown, 0, 0, this.#at);
    this.#out = grown;
  }

  string(value: unknown, field: string): void {
    if (typeof value !== "string") throw new ValidationError(field, "a well-formed Unicode string");
    // ASCII (keys, ETags, buckets, labels, almost always) is its own UTF-8 and well-formed:
    // copied a character a byte, without a call into Node's encoder per field.
    const n = value.length;
    this.#room(4 + n);
    const out = this.#out;
    const start = this.#at + 4;
    let i = 0;
    while (i < n) {
      const c = value.charCodeAt(i);
      if (c > 0x7f) break;
      out[start + i++] = c;
    }
    if (i === n) {
      out.writeUInt32BE(n, this.#at);
      this.#at = start + n;
      return;
    }
    if (!isWellFormedText(value)) throw new ValidationError(field, "a well-formed Unicode string");
    const length = Buffer.byteLength(value, "utf8");
    this.#room(4 + length);
    this.#out.writeUInt32BE(length, this.#at);
    this.#out.write(value, this.#at + 4, "utf8");
    this.#at += 4 + length;
  }

  u64(value: unknown, field: string): void {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw new ValidationError(field, "a non-negative safe integer");
    }
    this.#room(8);
    // Two 32-bit halves: a safe integer fits in 53 bits, and no BigInt is made.
    const high = Math.floor(value / TWO_TO_32);
    this.#out.writeUInt32BE(high, this.#at);
    this.#out.writeUInt32BE(value - high * TWO_TO_32, this.#at + 4);
    this.#at += 8;
  }

  byte(value: number): void {
    this.#room(1);
    this.#out[this.#at++] = value;
  }

  identity(identity: ObjectIdentity, field: string): void {
    this.string(identity.bucket, `${field}.bucket`);
    this.string(identity.key, `${field}.key`);
    this.string(identity.etag, `${field}.etag`);
    // A presence byte keeps "no version" apart from an empty version id.
    if (identity.versionId === undefined) {
      this.byte(0);
    } else {
      this.byte(1);
      this.string(identity.versionId, `${field}.versionId`);
    }
  }

  /** Bytes as they are, unframed: only where their length is fixed by what came before. */
  raw(bytes: Uint8Array): void {
    this.#room(bytes.length);
    this.#out.set(bytes, this.#at);
    this.#at += bytes.length;
  }

  bytes(): Buffer {
    return this.#out.subarray(0, this.#at);
  }
}

/**
 * Encodes a challenge context injectively: every string is a u32 big-endian
 * byte length followed by its UTF-8, every number a u64 big-endian, an absent
 * `versionId` a 0 byte (present: 1 then the string). Because every field is
 * self-delimiting, two different contexts never encode to the same bytes, so
 * a MAC over the encoding cannot be moved to another chunk, object or direction.
 *
 * @throws ValidationError for a string that is not well-formed Unicode or a number that is not a non-negative safe integer
 */
export function encodeContext(ctx: ChallengeContext): Buffer {
  const w = new ContextWriter();
  writeContext(w, ctx);
  return w.bytes();
}

/**
 * The fields every context of a run starts with (label, version, direction, algorithm), as
 * last encoded: a run has one of each, and both sides encode a context per challenged chunk.
 */
let opening: { version: unknown; direction: unknown; algorithm: unknown; bytes: Buffer } | undefined;

/** Writes {@link encodeContext}'s bytes of `ctx` into `w`. */
export function writeContext(w: ContextWriter, ctx: ChallengeContext): void {
  const { version, direction, algorithm } = ctx;
  if (opening?.version !== version || opening.direction !== direction || opening.algorithm !== algorithm) {
    const first = new ContextWriter();
    first.string(DOMAIN, "domain");
    first.u64(version, "version");
    first.string(direction, "direction");
    first.string(algorithm, "algorithm");
    opening = { version, direction, algorithm, bytes: Buffer.from(first.bytes()) };
  }
  w.raw(opening.bytes);
  w.identity(ctx.source, "source");
  w.identity(ctx.destination, "destination");
  w.u64(ctx.index, "index");
  w.u64(ctx.offset, "offset");
  w.u64(ctx.length, "length");
}

/** Everything one audited byte range's possession value is bound to. */
export interface AuditContext {
  readonly version: number;
  readonly direction: Direction;
  readonly source: ObjectIdentity;
  readonly destination: ObjectIdentity;
  readonly offset: number;
  readonly length: number;
}

/**
 * Encodes an audit context as {@link encodeContext} encodes a challenge's, under its own
 * label: a possession value over raw bytes can never stand for a challenge answer over a
 * digest, nor the other way round, though both are keyed by the pairing secret.
 *
 * @throws ValidationError as {@link encodeContext}
 */
export function encodeAuditContext(ctx: AuditContext): Buffer {
  return encodePairContext(AUDIT_DOMAIN, ctx, { offset: ctx.offset, length: ctx.length });
}

/** Everything one block exchange's tags are bound to: not a position, so moved data still matches. */
export interface BlockContext {
  readonly version: number;
  readonly direction: Direction;
  readonly source: ObjectIdentity;
  readonly destination: ObjectIdentity;
  /** The cutting parameters both sides use. */
  readonly min: number;
  readonly avg: number;
  readonly max: number;
}

/**
 * Encodes a block exchange's context as {@link encodeContext} encodes a challenge's, under its
 * own label, so a block tag never stands for a chunk answer or an audit value.
 *
 * @throws ValidationError as {@link encodeContext}
 */
export function encodeBlockContext(ctx: BlockContext): Buffer {
  return encodePairContext(BLOCK_DOMAIN, ctx, { min: ctx.min, avg: ctx.avg, max: ctx.max });
}

/**
 * A context of one object pair under its own label: the label, the protocol version, the
 * direction and both identities, then `numbers` in the order given, each a u64.
 */
function encodePairContext(
  domain: string,
  ctx: { version: number; direction: Direction; source: ObjectIdentity; destination: ObjectIdentity },
  numbers: Record<string, number>,
): Buffer {
  const w = new ContextWriter();
  w.string(domain, "domain");
  w.u64(ctx.version, "version");
  w.string(ctx.direction, "direction");
  w.identity(ctx.source, "source");
  w.identity(ctx.destination, "destination");
  for (const [field, value] of Object.entries(numbers)) w.u64(value, field);
  return w.bytes();
}
