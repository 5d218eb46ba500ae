import { createHmac } from "node:crypto";
import {
  fromBase64url,
  fromBase64urlInto,
  fromBase64urlOfAnyLength,
  toBase64url,
} from "../challenge/base64url.js";
import { constantTimeEqual } from "../challenge/constantTimeEqual.js";
import {
  drawBytes,
  drawNonce,
  NONCE_BYTES,
  type RandomSource,
  secureRandomBytes,
} from "../challenge/drawNonce.js";
import { encodeBlockContext } from "../challenge/encodeContext.js";
import { HmacSha256 } from "../challenge/HmacSha256.js";
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
import { type BlockDigest, sha256Block } from "./blockChunker.js";
import { BlockList } from "./blockList.js";
import { type BlockParams, validateBlockParams } from "./blockParams.js";
import { RangeList, type Ranges } from "./rangeList.js";

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
  /**
   * Ranges to cut into blocks (chunks of the old object's grid), ascending and disjoint. A
   * fine round names one for each place the object changed (about a hundred thousand at
   * 100 GiB): a list within one process, an array only as JSON.
   */
  cut: Ranges;
  /** Ranges to digest whole: where the source guesses its blocks sit in the old object. */
  whole: readonly OldRange[];
  /**
   * The cutting parameters the `whole` tags are keyed by, where they are not `params`: a fine
   * round that also asks about the first round's guesses, which the source tagged as that round
   * cut them. One request then does what two rounds in turn did.
   */
  wholeParams?: BlockParams;
}

/** The destination's tags: keyed by the pairing secret and the request's nonce, never a raw digest. */
export interface BlockResponse {
  v: 1;
  requestId: string;
  destination: { etag: string; size: number };
  /**
   * The blocks cut from the `cut` ranges within the object (see {@link rangesToCut}), in order:
   * as JSON, {@link EncodedBlocks}; within one process, the list as cut ({@link AnsweredBlocks}).
   */
  blocks: EncodedBlocks | AnsweredBlocks;
  /** One tag per `whole` range, in order; null for a range past the object's end. */
  whole: (string | null)[];
}

/**
 * A response's blocks as JSON carries them: each length a big-endian u32 and each 16-byte tag,
 * concatenated, in base64url. No offsets: the blocks tile the ranges cut exactly, so each
 * starts where the one before ends.
 */
export interface EncodedBlocks {
  lengths: string;
  tags: string;
}

/**
 * A response's blocks as the destination cut them: where both sides share a process (the
 * direct engine) the source reads the list itself, and it becomes {@link EncodedBlocks} only
 * when the response is written as JSON (the workflow's work area). At 100 GiB an answer is
 * about a million tags: as text, then decoded again, they were ~55 MB of the exchange's peak
 * (issue 12's memory bound).
 */
export class AnsweredBlocks {
  constructor(readonly list: BlockList) {}

  /** The blocks as JSON carries them. */
  toJSON(): EncodedBlocks {
    return { lengths: this.list.lengthBytes().toString("base64url"), tags: toBase64url(this.list.digests()) };
  }
}

/** Tags are 128 bits: a chance match between two blocks is 2^-128, and the write is verified anyway. */
export const BLOCK_TAG_BYTES = 16;

/** The `cut` ranges the destination cuts: those within its object of `size` bytes (the request's own list where all are). */
export function rangesToCut(request: Pick<BlockRequest, "cut">, size: number): RangeList {
  const cut = RangeList.from(request.cut);
  const within = (i: number) => cut.offset(i) + cut.length(i) <= size;
  let i = 0;
  while (i < cut.count && within(i)) i++;
  if (i === cut.count) return cut;
  const out = new RangeList(cut.count);
  for (let j = 0; j < cut.count; j++) if (within(j)) out.push(cut.offset(j), cut.length(j));
  return out;
}

/** Most ranges one request may name; bounds the message like the chunk challenge's. */
const MAX_RANGES = 1 << 20;

/** The `cut` ranges checked: ascending, disjoint, non-empty. */
const checkCut = (ranges: Ranges) => checkRanges(ranges, "cut", true, Number.MAX_SAFE_INTEGER);

/**
 * The `whole` ranges checked: each non-empty and at most a block (`params.max`), as the source
 * guesses blocks; the destination digests each from one copy of its bytes.
 */
const checkWhole = (ranges: readonly OldRange[], params: BlockParams) =>
  checkRanges(ranges, "whole", false, params.max);

function checkRanges<R extends Ranges>(ranges: R, field: string, ascending: boolean, longest: number): R {
  const list = ranges instanceof RangeList;
  const count = list ? ranges.count : Array.isArray(ranges) ? ranges.length : Number.POSITIVE_INFINITY;
  if (count > MAX_RANGES) throw new ValidationError(field, `at most ${MAX_RANGES} byte ranges`);
  let end = 0;
  for (let i = 0; i < count; i++) {
    const r = list ? undefined : (ranges as readonly OldRange[])[i];
    const offset = list ? ranges.offset(i) : r?.offset;
    const length = list ? ranges.length(i) : r?.length;
    const ok =
      Number.isSafeInteger(offset) &&
      Number.isSafeInteger(length) &&
      (offset as number) >= (ascending ? end : 0) &&
      (length as number) > 0 &&
      (length as number) <= longest;
    if (!ok)
      throw new ValidationError(
        `${field}[${i}]`,
        ascending ? "ascending, disjoint, non-empty byte ranges" : `a byte range of 1 to ${longest} bytes`,
      );
    end = (offset as number) + (length as number);
  }
  // Checked, not copied: a fine round names a range for each place the object changed
  // (hundreds of thousands), and a copy on each side stayed alive through its reads.
  return ranges;
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
    cut: Ranges;
    whole?: readonly OldRange[];
  },
  random: RandomSource = secureRandomBytes,
): BlockRequest {
  const blocks = validateBlockParams(params.params, "params");
  return {
    v: 1,
    id: toBase64url(drawBytes(16, random)),
    nonce: toBase64url(drawNonce(random)),
    direction: params.direction ?? "source-to-destination",
    source: params.source,
    destination: params.destination,
    params: blocks,
    cut: checkCut(params.cut),
    whole: checkWhole(params.whole ?? [], blocks),
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
    whole: checkWhole(whole, request.params),
  };
}

/**
 * `fine` (a request of the same exchange, its nonce the first round's) also asking for `whole`
 * ranges tagged with `first`'s parameters: the first round's guesses and the fine cut in one
 * round trip. The tags stay apart as before: the cutting parameters are part of what keys them.
 */
export function withGuesses(
  fine: BlockRequest,
  first: BlockRequest,
  whole: readonly OldRange[],
): BlockRequest {
  return { ...fine, whole: checkWhole(whole, first.params), wholeParams: first.params };
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
  /** Keyed once per request: one HMAC object per tag would be native memory freed late. */
  readonly #hmac: HmacSha256;
  /** The u64 length of the block being tagged (the MAC copies it at once, so one serves every tag). */
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
    const key = createHmac("sha256", checkSecret(secret)).update(context).update(nonce).digest();
    this.#hmac = new HmacSha256(key);
  }

  /**
   * The tag of a block from its bytes, as a {@link BlockDigest}: a chunker given it keeps only
   * tags, never a raw digest (a list of tags is 28 bytes a block, of digests 44). A view of the
   * MAC's own buffer, valid until the next tag: a list copies it as it is pushed.
   */
  readonly tagBytes: BlockDigest = (bytes) => this.#mac(bytes.length, sha256Block(bytes));

  #mac(length: number, digest: Uint8Array): Buffer {
    this.#length.writeBigUInt64BE(BigInt(length));
    return this.#hmac.mac(this.#length, digest).subarray(0, BLOCK_TAG_BYTES);
  }
}

/** `request` as the tagger of its `whole` ranges takes it: with the parameters those tags are keyed by. */
export function wholeTagging(request: BlockRequest): BlockRequest {
  return request.wholeParams === undefined ? request : { ...request, params: request.wholeParams };
}

/**
 * The destination's response: `tags` are the blocks it cut from the request's `cut` ranges
 * within its object ({@link rangesToCut}), `wholeTags` the tag of each `whole` range within its
 * object, in order, concatenated (16 bytes each; a range past its end has none): the first tagged
 * by a {@link BlockTagger} for `request`, the others by one for {@link wholeTagging} of it, so a raw
 * digest never leaves.
 */
export function answerBlocks(
  request: BlockRequest,
  destination: { etag: string; size: number },
  tags: BlockList,
  wholeTags: Buffer,
): BlockResponse {
  let w = 0;
  return {
    v: 1,
    requestId: request.id,
    destination: { etag: destination.etag, size: destination.size },
    blocks: new AnsweredBlocks(tags),
    whole: request.whole.map((r) =>
      r.offset + r.length > destination.size
        ? null
        : toBase64url(wholeTags.subarray(w * BLOCK_TAG_BYTES, ++w * BLOCK_TAG_BYTES)),
    ),
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
  const { v, id, nonce, direction, source, destination, params, cut, whole, wholeParams } = input;
  if (v !== 1) bad("v", "protocol version 1");
  if (fromBase64url(id, 16) === undefined) bad("id", "base64url of 16 bytes");
  if (fromBase64url(nonce, NONCE_BYTES) === undefined) bad("nonce", `base64url of ${NONCE_BYTES} bytes`);
  if (!DIRECTIONS.includes(direction as Direction)) bad("direction", `one of ${DIRECTIONS.join(", ")}`);
  const src = fittingIdentity(source) ?? bad("source", "an object identity within S3's limits");
  const dst = fittingIdentity(destination) ?? bad("destination", "an object identity within S3's limits");
  try {
    const blocks = validateBlockParams(params as BlockParams, "params");
    const guessed =
      wholeParams === undefined ? undefined : validateBlockParams(wholeParams as BlockParams, "wholeParams");
    return {
      v: 1,
      id: id as string,
      nonce: nonce as string,
      direction: direction as Direction,
      source: src,
      destination: dst,
      params: blocks,
      cut: checkCut(cut as Ranges),
      whole: checkWhole(whole as OldRange[], guessed ?? blocks),
      ...(guessed ? { wholeParams: guessed } : {}),
    };
  } catch (error) {
    if (error instanceof ValidationError) return bad(error.field, String(error.details.expected));
    throw error;
  }
}

/**
 * Source side: the destination's tagged blocks (as a list whose digests are the tags) and its
 * tag of each whole range. Nothing the destination sends can make this throw or place a block
 * outside what was asked: a response for another request or version drops everything, and
 * blocks that do not tile the `cut` ranges within its object exactly (a count that differs
 * between lengths and tags, an empty block, one across a range's end, bad base64url) are all
 * dropped, which only means their bytes cross.
 */
export function readBlockResponse(
  request: BlockRequest,
  response: unknown,
): { blocks: BlockList; whole: (Buffer | undefined)[] } {
  const none = { blocks: new BlockList(BLOCK_TAG_BYTES, 0), whole: request.whole.map(() => undefined) };
  if (!isRecord(response) || response.v !== 1 || response.requestId !== request.id) return none;
  const destination = response.destination;
  if (!isRecord(destination) || destination.etag !== request.destination.etag) return none;
  const size = destination.size;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) return none;
  const whole = request.whole.map((_, i) =>
    Array.isArray(response.whole) ? fromBase64url(response.whole[i], BLOCK_TAG_BYTES) : undefined,
  );
  return { blocks: tiledBlocks(rangesToCut(request, size), response.blocks) ?? none.blocks, whole };
}

/** Whether this machine keeps a Uint32Array's bytes little-endian (a response's lengths are big-endian). */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * The blocks of a response as they tile `ranges`, or undefined where they do not exactly: the
 * list itself where the destination's side answered in this process, else decoded from text.
 */
function tiledBlocks(ranges: RangeList, blocks: unknown): BlockList | undefined {
  if (blocks instanceof AnsweredBlocks) {
    const { list } = blocks;
    const tiled = tiles(
      ranges,
      list.count,
      (i) => list.length(i),
      (i, at) => list.offset(i) === at,
    );
    return tiled && list.width === BLOCK_TAG_BYTES ? list : undefined;
  }
  if (!isRecord(blocks)) return undefined;
  // The tags decoded are the list's own, the lengths decoded into its array: no copy, and no
  // object per block.
  const tags = fromBase64urlOfAnyLength(blocks.tags);
  if (tags === undefined || tags.length % BLOCK_TAG_BYTES !== 0) return undefined;
  const count = tags.length / BLOCK_TAG_BYTES;
  const lengths = new Uint32Array(count);
  if (!fromBase64urlInto(blocks.lengths, new Uint8Array(lengths.buffer))) return undefined;
  if (LITTLE_ENDIAN) Buffer.from(lengths.buffer).swap32();
  const offsets = new Float64Array(count);
  const placed = (i: number, at: number) => {
    offsets[i] = at;
    return true;
  };
  return tiles(ranges, count, (i) => lengths[i] as number, placed)
    ? BlockList.over(BLOCK_TAG_BYTES, offsets, lengths, tags)
    : undefined;
}

/**
 * Whether `count` blocks of lengths `length(i)` tile `ranges` exactly, in order, each starting
 * where the one before ends; `place` is told (and may refuse) where each block starts.
 */
function tiles(
  ranges: RangeList,
  count: number,
  length: (i: number) => number,
  place: (i: number, at: number) => boolean,
): boolean {
  let r = 0;
  let at = ranges.count > 0 ? ranges.offset(0) : 0;
  for (let i = 0; i < count; i++) {
    const n = length(i);
    if (r === ranges.count || n === 0 || at + n > ranges.offset(r) + ranges.length(r) || !place(i, at))
      return false;
    at += n;
    if (at === ranges.offset(r) + ranges.length(r) && ++r < ranges.count) at = ranges.offset(r);
  }
  return r === ranges.count;
}

/** Whether the destination's tag of a whole range equals the source's tag of its block there. */
export function sameTag(theirs: Buffer | undefined, ours: Buffer): boolean {
  return theirs !== undefined && constantTimeEqual(theirs, ours);
}
