import { type ChunkPlan, MAX_CHUNK_SIZE, validatePlan } from "../chunkPlan.js";
import { ValidationError } from "../errors.js";
import { type Segment, SegmentList } from "./segments.js";

/** A part that is one range of the old object: an UploadPartCopy, nothing read anywhere. */
export interface CopyPart {
  readonly kind: "copy";
  /** Where the part sits in the new object. */
  readonly offset: number;
  readonly length: number;
  /** Where its bytes start in the old object. */
  readonly oldOffset: number;
}

/**
 * A part the destination side builds from ranges of its old object and the source bytes that
 * crossed: its bytes are the plan's segments from `segment` on, cut to the part ({@link partPieces}).
 */
export interface MixedPart {
  readonly kind: "mixed";
  readonly offset: number;
  readonly length: number;
  /** The first of the plan's segments that reaches into the part. */
  readonly segment: number;
  /** Where that segment starts in the new object. */
  readonly segmentStart: number;
}

export type AssemblyPart = CopyPart | MixedPart;

/** How the destination assembles the new object as a multipart upload, and what that costs. */
export interface AssemblyPlan {
  readonly size: number;
  readonly parts: readonly AssemblyPart[];
  /** Bytes that cross from the source side (the source segments). */
  readonly sourceBytes: number;
  /** Old bytes the destination reads to build mixed parts. */
  readonly oldBytesRead: number;
  /** Old bytes copied by UploadPartCopy. */
  readonly copiedBytes: number;
  readonly mixedParts: number;
  /**
   * The new object's segments the parts were planned from, checked. A mixed part's pieces are
   * read from them as it is built, not held: at 100 GiB with a page changed in every MiB they
   * are hundreds of thousands, and as objects they were most of what an exchange left behind.
   */
  readonly segments: SegmentList;
}

/**
 * Plans the parts of the new object, given as segments, on the source's chunk grid: a chunk
 * wholly inside one run of old bytes is copied from where the old object holds it (in place
 * or moved), neighbouring copies that continue each other in the old object joining into one
 * UploadPartCopy of up to 5 GiB; every other chunk is one mixed part the destination builds
 * from its pieces. A mixed part is thus exactly a chunk, so the destination digests it as it
 * uploads it and the verification after the write reads nothing back. The plan's chunks keep
 * S3's rules (5 MiB to 5 GiB, at most 10,000), so every part does.
 *
 * Every source byte crosses exactly once, as in any cut. The grid's cost is in old bytes read:
 * a mixed chunk reads all its old bytes where padding its source bytes up to the minimum part
 * would read at most 5 MiB, so at most a chunk more per boundary between a run of copies and
 * a run of mixed bytes.
 *
 * @throws ValidationError for a plan out of S3's rules, or segments that do not cover an
 *   object of `plan.size` bytes exactly within the old one of `oldSize`
 */
export function planAssembly(
  plan: ChunkPlan,
  segments: SegmentList | readonly Segment[],
  oldSize: number,
): AssemblyPlan {
  const { size, chunkSize } = validatePlan(plan);
  if (!Number.isSafeInteger(oldSize) || oldSize < 0)
    throw new ValidationError("oldSize", "a non-negative whole number of bytes");
  const normal =
    segments instanceof SegmentList ? segments.check(size, oldSize) : SegmentList.of(segments, size, oldSize);
  const parts: AssemblyPart[] = [];
  let sourceBytes = 0;
  let oldBytesRead = 0;
  let copiedBytes = 0;
  let mixedParts = 0;
  // The first segment that reaches into the current chunk, and where it starts in the new object.
  let s = 0;
  let start = 0;
  for (let offset = 0; offset < size; offset += chunkSize) {
    const end = Math.min(offset + chunkSize, size);
    while (start + normal.length(s) <= offset) start += normal.length(s++);
    if (normal.isOld(s) && start + normal.length(s) >= end) {
      const oldOffset = normal.offset(s) + (offset - start);
      const last = parts.at(-1);
      if (
        last?.kind === "copy" &&
        last.oldOffset + last.length === oldOffset &&
        last.length + (end - offset) <= MAX_CHUNK_SIZE
      )
        parts[parts.length - 1] = { ...last, length: last.length + (end - offset) };
      else parts.push({ kind: "copy", offset, length: end - offset, oldOffset });
      copiedBytes += end - offset;
      continue;
    }
    const part: MixedPart = { kind: "mixed", offset, length: end - offset, segment: s, segmentStart: start };
    for (const piece of partPieces({ segments: normal }, part))
      if (piece.from === "old") oldBytesRead += piece.length;
      else sourceBytes += piece.length;
    parts.push(part);
    mixedParts++;
  }
  return { size, parts, sourceBytes, oldBytesRead, copiedBytes, mixedParts, segments: normal };
}

/** The bytes of `part`, a mixed part of `plan`, in order: the plan's segments cut to the part. */
export function* partPieces(plan: Pick<AssemblyPlan, "segments">, part: MixedPart): Generator<Segment> {
  const { segments } = plan;
  const end = part.offset + part.length;
  for (let i = part.segment, at = part.segmentStart; at < end; at += segments.length(i++)) {
    const lo = Math.max(part.offset, at);
    const length = Math.min(end, at + segments.length(i)) - lo;
    yield { from: segments.from(i), offset: segments.offset(i) + (lo - at), length };
  }
}

/**
 * Whether `assembly` rebuilds one of the `changed` chunks of `plan` wholly from the old object
 * at the chunk's own offsets: that chunk is byte for byte alike on both sides, as each side's
 * block round read it, so a digest that called it changed was not of those bytes (an index
 * entry that no longer matches its object, with every check it carries intact). Neither
 * side's digests of the object can then be trusted for the next run.
 */
export function rebuildsChangedInPlace(
  plan: ChunkPlan,
  changed: readonly number[],
  assembly: Pick<AssemblyPlan, "segments">,
): boolean {
  const wanted = [...changed].sort((a, b) => a - b);
  let next = 0;
  let at = 0;
  for (const { from, offset, length } of assembly.segments) {
    const end = at + length;
    // Changed chunks that end before this segment starts were not rebuilt in place by it.
    while (next < wanted.length && Math.min((wanted[next]! + 1) * plan.chunkSize, plan.size) <= at) next++;
    if (from === "old" && offset === at) {
      for (; next < wanted.length; next++) {
        const start = wanted[next]! * plan.chunkSize;
        const stop = Math.min(start + plan.chunkSize, plan.size);
        if (start >= end) break;
        if (start >= at && stop <= end) return true;
      }
    }
    at = end;
  }
  return false;
}
