import { createHmac } from "node:crypto";
import { fromBase64url, toBase64url } from "../challenge/base64url.js";
import { constantTimeEqual } from "../challenge/constantTimeEqual.js";
import {
  drawBytes,
  drawNonce,
  NONCE_BYTES,
  type RandomSource,
  secureRandomBytes,
} from "../challenge/drawNonce.js";
import { encodeBlockContext } from "../challenge/encodeContext.js";
import { checkSecret } from "../challenge/pairingSecret.js";
import {
  DIRECTIONS,
  type Direction,
  type ObjectIdentity,
  type PairRequest,
  PROTOCOL_VERSION,
} from "../challenge/types.js";
import { InvalidMessageError, ValidationError } from "../errors.js";
import { fittingIdentity } from "../messages.js";
import type { Block } from "./blockChunker.js";
import { type BlockParams, validateBlockParams } from "./blockParams.js";

/** A byte range of the old destination object. */
export interface OldRange {
  offset: number;
  length: number;
}

/**
 * What the source asks of the destination about its old object: cut `cut` into blocks and tag
 * each, and tag each `whole` range as one block. Holds no digest.
 */
export interface BlockRequest extends PairRequest {
  params: BlockParams;
  /** Ranges to cut into blocks (chunks of the old object's grid), ascending and disjoint. */
  cut: OldRange[];
  /** Ranges to digest whole: where the source guesses its blocks sit in the old object. */
  whole: OldRange[];
}

/** The destination's tags: keyed by the pairing secret and the request's nonce, never a raw digest. */
export interface BlockResponse {
  v: 1;
  requestId: string;
  destination: { etag: string; size: number };
  /** The blocks cut from `cut`, in order, each with its tag (base64url). */
  blocks: { offset: number; length: number; tag: string }[];
  /** One tag per `whole` range, in order; null for a range past the object's end. */
  whole: (string | null)[];
}

/** Tags are 128 bits: a chance match between two blocks is 2^-128, and the write is verified anyway. */
export const BLOCK_TAG_BYTES = 16;
/** Most ranges one request may name; bounds the message like the chunk challenge's. */
const MAX_RANGES = 1 << 20;

function checkRanges(ranges: readonly OldRange[], field: string, ascending: boolean): OldRange[] {
  if (!Array.isArray(ranges) || ranges.length > MAX_RANGES)
    throw new ValidationError(field, `at most ${MAX_RANGES} byte ranges`);
  let end = 0;
  return ranges.map((r, i) => {
    const ok =
      Number.isSafeInteger(r?.offset) &&
      Number.isSafeInteger(r?.length) &&
      r.offset >= (ascending ? end : 0) &&
      r.length > 0;
    if (!ok)
      throw new ValidationError(
        `${field}[${i}]`,
        ascending ? "ascending, disjoint, non-empty byte ranges" : "a non-empty byte range",
      );
    end = r.offset + r.length;
    return { offset: r.offset, length: r.length };
  });
}

/**
 * Builds a block request with a fresh id and nonce.
 *
 * @throws ValidationError for bad block parameters or ranges
 */
export function blockRequest(
  params: {
    direction?: Direction;
    source: ObjectIdentity;
    destination: ObjectIdentity;
    params: BlockParams;
    cut: readonly OldRange[];
    whole?: readonly OldRange[];
  },
  random: RandomSource = secureRandomBytes,
): BlockRequest {
  return {
    v: 1,
    id: toBase64url(drawBytes(16, random)),
    nonce: toBase64url(drawNonce(random)),
    direction: params.direction ?? "source-to-destination",
    source: params.source,
    destination: params.destination,
    params: validateBlockParams(params.params, "params"),
    cut: checkRanges(params.cut, "cut", true),
    whole: checkRanges(params.whole ?? [], "whole", false),
  };
}

/** The same request asking only for `whole` ranges: same nonce, so the source's tags stand; a new id. */
export function wholeRequest(
  request: BlockRequest,
  whole: readonly OldRange[],
  random: RandomSource = secureRandomBytes,
): BlockRequest {
  return {
    ...request,
    id: toBase64url(drawBytes(16, random)),
    cut: [],
    whole: checkRanges(whole, "whole", false),
  };
}

/**
 * Tags blocks for one request, on either side:
 * `HMAC-SHA256(HMAC-SHA256(K, encodeBlockContext(ctx) || nonce), u64 length || digest)`, cut to
 * 128 bits. The context binds both objects' identities (versions included), the direction and
 * the cutting parameters, and the nonce binds the run, but nothing binds a position: a block
 * moved anywhere in the object still matches. An answer recorded for another run, object,
 * version or direction was keyed otherwise and matches nothing, so at worst bytes cross that
 * need not have; and the write is verified by the chunk challenge after it.
 */
export class BlockTagger {
  readonly #key: Buffer;
  /** The u64 length of the block being tagged (update copies it at once, so one serves every tag). */
  readonly #length = Buffer.alloc(8);

  /** @throws ValidationError for a short secret, a bad nonce or a context that does not encode */
  constructor(
    secret: Uint8Array,
    request: Pick<BlockRequest, "nonce" | "direction" | "source" | "destination" | "params">,
  ) {
    const nonce = fromBase64url(request.nonce, NONCE_BYTES);
    if (nonce === undefined) throw new ValidationError("nonce", `base64url of ${NONCE_BYTES} bytes`);
    const { min, avg, max } = validateBlockParams(request.params, "params");
    const context = encodeBlockContext({
      version: PROTOCOL_VERSION,
      direction: request.direction,
      source: request.source,
      destination: request.destination,
      min,
      avg,
      max,
    });
    this.#key = createHmac("sha256", checkSecret(secret)).update(context).update(nonce).digest();
  }

  /** The tag of a block of `length` bytes whose digest is `digest`. */
  tag(length: number, digest: Uint8Array): Buffer {
    this.#length.writeBigUInt64BE(BigInt(length));
    const mac = createHmac("sha256", this.#key).update(this.#length).update(digest).digest();
    // Copied out of the MAC's own buffer into a shared pool slab: 16 bytes kept, not 0.5 KB.
    return Buffer.from(mac.subarray(0, BLOCK_TAG_BYTES));
  }

  /** `blocks` with each digest replaced by its tag. */
  tagged(blocks: readonly Block[]): Block[] {
    return blocks.map((b) => ({ offset: b.offset, length: b.length, digest: this.tag(b.length, b.digest) }));
  }
}

/**
 * The destination's response: `cut` are the blocks it cut from the request's `cut` ranges,
 * `whole` its digest of each `whole` range (undefined past its end), all with raw digests
 * that leave only as tags.
 */
export function answerBlocks(
  secret: Uint8Array,
  request: BlockRequest,
  destination: { etag: string; size: number },
  cut: readonly Block[],
  whole: readonly (Buffer | undefined)[],
): BlockResponse {
  const tagger = new BlockTagger(secret, request);
  return {
    v: 1,
    requestId: request.id,
    destination: { etag: destination.etag, size: destination.size },
    blocks: cut.map((b) => ({
      offset: b.offset,
      length: b.length,
      tag: toBase64url(tagger.tag(b.length, b.digest)),
    })),
    whole: request.whole.map((r, i) => {
      const digest = whole[i];
      return digest === undefined || r.offset + r.length > destination.size
        ? null
        : toBase64url(tagger.tag(r.length, digest));
    }),
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * A block request as the destination receives it (from the other side, through a work area),
 * checked field by field: a malformed one fails naming its field, before anything is read.
 *
 * @throws InvalidMessageError naming the first field that is not what a request holds
 */
export function parseBlockRequest(input: unknown): BlockRequest {
  const bad = (field: string, expected: string): never => {
    throw new InvalidMessageError(`blockRequest.${field}`, expected);
  };
  if (!isRecord(input)) return bad("", "a JSON object");
  const { v, id, nonce, direction, source, destination, params, cut, whole } = input;
  if (v !== 1) bad("v", "protocol version 1");
  if (fromBase64url(id, 16) === undefined) bad("id", "base64url of 16 bytes");
  if (fromBase64url(nonce, NONCE_BYTES) === undefined) bad("nonce", `base64url of ${NONCE_BYTES} bytes`);
  if (!DIRECTIONS.includes(direction as Direction)) bad("direction", `one of ${DIRECTIONS.join(", ")}`);
  const src = fittingIdentity(source) ?? bad("source", "an object identity within S3's limits");
  const dst = fittingIdentity(destination) ?? bad("destination", "an object identity within S3's limits");
  try {
    return {
      v: 1,
      id: id as string,
      nonce: nonce as string,
      direction: direction as Direction,
      source: src,
      destination: dst,
      params: validateBlockParams(params as BlockParams, "params"),
      cut: checkRanges(cut as OldRange[], "cut", true),
      whole: checkRanges(whole as OldRange[], "whole", false),
    };
  } catch (error) {
    if (error instanceof ValidationError) return bad(error.field, String(error.details.expected));
    throw error;
  }
}

/**
 * Source side: the destination's tagged blocks (as blocks whose digest is the tag) and its tag
 * of each whole range. Nothing the destination sends can make this throw or place a block
 * outside what was asked: a response for another request or version, a block outside the
 * `cut` ranges or a malformed tag is dropped, which only means its bytes cross.
 */
export function readBlockResponse(
  request: BlockRequest,
  response: unknown,
): { blocks: Block[]; whole: (Buffer | undefined)[] } {
  const none = { blocks: [], whole: request.whole.map(() => undefined) };
  if (!isRecord(response) || response.v !== 1 || response.requestId !== request.id) return none;
  const destination = response.destination;
  if (!isRecord(destination) || destination.etag !== request.destination.etag) return none;
  const size = destination.size;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) return none;
  const blocks: Block[] = [];
  if (Array.isArray(response.blocks)) {
    let range = 0;
    for (const item of response.blocks as unknown[]) {
      if (!isRecord(item)) continue;
      const { offset, length, tag } = item;
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || (length as number) <= 0) continue;
      const start = offset as number;
      const end = start + (length as number);
      while (range < request.cut.length && request.cut[range]!.offset + request.cut[range]!.length <= start)
        range++;
      const within = request.cut[range];
      if (within === undefined || start < within.offset || end > within.offset + within.length || end > size)
        continue;
      const digest = fromBase64url(tag, BLOCK_TAG_BYTES);
      if (digest !== undefined) blocks.push({ offset: start, length: end - start, digest });
    }
  }
  const whole = request.whole.map((_, i) =>
    Array.isArray(response.whole) ? fromBase64url(response.whole[i], BLOCK_TAG_BYTES) : undefined,
  );
  return { blocks, whole };
}

/** Whether the destination's tag of a whole range equals the source's tag of its block there. */
export function sameTag(theirs: Buffer | undefined, ours: Buffer): boolean {
  return theirs !== undefined && constantTimeEqual(theirs, ours);
}
