import { MAX_CHUNK_SIZE, MAX_OBJECT_SIZE, MAX_PARTS, MIN_CHUNK_SIZE } from "../chunkPlan.js";
import { ChunksyncError, ValidationError } from "../errors.js";
import { normalizeSegments, type Segment } from "./segments.js";

/** A part that is one range of the old object: an UploadPartCopy, nothing read anywhere. */
export interface CopyPart {
  readonly kind: "copy";
  /** Where the part sits in the new object. */
  readonly offset: number;
  readonly length: number;
  /** Where its bytes start in the old object. */
  readonly oldOffset: number;
}

/** A part the destination side builds from ranges of its old object and the source bytes that crossed. */
export interface MixedPart {
  readonly kind: "mixed";
  readonly offset: number;
  readonly length: number;
  /** Its bytes, in order. */
  readonly pieces: readonly Segment[];
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
  /** Old bytes copied in place by UploadPartCopy. */
  readonly copiedBytes: number;
  readonly mixedParts: number;
  /** Smallest part (but the last) the plan allowed itself: 5 MiB, more when 10,000 parts would not hold the object. */
  readonly minPartSize: number;
}

/** One way to have cut the segments so far: an open gap (bytes that will go into mixed parts) and a cost. */
interface State {
  /** Bytes of the open mixed run; 0 means a part ends exactly here. */
  readonly gap: number;
  /** Mixed bytes and mixed parts of runs already closed. */
  readonly bytes: number;
  readonly parts: number;
  readonly kept: Kept | undefined;
}

/** Segment `index` was kept as copy parts, less `left` and `right` bytes given to the mixed runs beside it. */
interface Kept {
  readonly index: number;
  readonly left: number;
  readonly right: number;
  readonly previous: Kept | undefined;
}

const partsFor = (length: number) => Math.ceil(length / MAX_CHUNK_SIZE);

/**
 * Plans the parts of the new object, given as segments: runs of old bytes long enough become
 * UploadPartCopy parts; source bytes, and old runs too short to be a part, go into mixed parts
 * the destination builds, padded with old bytes from the neighbouring runs up to the minimum
 * part size. Every source byte crosses exactly once whatever the cut, so among all cuts within
 * S3's rules (each part 5 MiB to 5 GiB but the last, at most 10,000 parts) this one reads the
 * fewest old bytes on the destination, then makes the fewest mixed parts.
 *
 * Exact, by dynamic programming over the segments: a mixed run shorter than a part borrows the
 * bytes it lacks from the old runs beside it (the one before first, as far as it can stay a
 * part), or swallows a neighbour whole and runs on; the few undominated ways are kept.
 *
 * @throws ValidationError when the segments do not cover an object of `size` bytes exactly
 */
export function planAssembly(
  segments: readonly Segment[],
  size: number,
  oldSize: number,
  maxMixedPart: number = MAX_CHUNK_SIZE,
): AssemblyPlan {
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_OBJECT_SIZE)
    throw new ValidationError("size", `a whole number of bytes from 0 to ${MAX_OBJECT_SIZE}`);
  if (!Number.isSafeInteger(oldSize) || oldSize < 0)
    throw new ValidationError("oldSize", "a non-negative whole number of bytes");
  // Mixed runs are cut into parts of at most this many bytes: at least two minimum parts, so every piece of a cut run stays a valid part.
  if (
    !Number.isSafeInteger(maxMixedPart) ||
    maxMixedPart < 2 * MIN_CHUNK_SIZE ||
    maxMixedPart > MAX_CHUNK_SIZE
  )
    throw new ValidationError(
      "maxMixedPart",
      `a whole number of bytes from ${2 * MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}`,
    );
  const normal = normalizeSegments(segments, size, oldSize);
  const first = planWith(normal, size, MIN_CHUNK_SIZE, maxMixedPart);
  if (first.parts.length <= MAX_PARTS) return first;
  // Every part but the last at least size / 9,999 bytes keeps the count within 10,000.
  const min = Math.max(MIN_CHUNK_SIZE, Math.ceil(size / (MAX_PARTS - 1)));
  const plan = planWith(normal, size, min, Math.max(maxMixedPart, 2 * min));
  if (plan.parts.length > MAX_PARTS)
    throw new ChunksyncError("ASSEMBLY_TOO_MANY_PARTS", `the plan needs ${plan.parts.length} parts`);
  return plan;
}

function planWith(segments: readonly Segment[], size: number, min: number, maxMixed: number): AssemblyPlan {
  const last = segments.length - 1;
  // Bytes from each segment on that cannot be a copy part, up to the next segment that can.
  const copyable = segments.map((s, i) => s.from === "old" && (s.length >= min || i === last));
  const runAfter = new Array<number>(segments.length + 1).fill(0);
  for (let i = last; i >= 0; i--)
    runAfter[i] = copyable[i] ? 0 : (segments[i] as Segment).length + (runAfter[i + 1] as number);

  let states: State[] = [{ gap: 0, bytes: 0, parts: 0, kept: undefined }];
  segments.forEach((segment, index) => {
    const length = segment.length;
    if (!copyable[index]) {
      states = states.map((s) => ({ ...s, gap: s.gap + length }));
      return;
    }
    // The last part may be short, so the last segment may keep any remainder; others keep a whole part.
    const keepAtLeast = index === last ? 1 : min;
    const next: State[] = [];
    for (const s of states) {
      next.push({ ...s, gap: s.gap + length });
      const left = s.gap === 0 ? 0 : Math.max(0, min - s.gap);
      if (length - left < keepAtLeast) continue;
      const closed = s.gap + left;
      const bytes = s.bytes + closed;
      const parts = s.parts + partsFor(closed);
      const slack = index === last ? 0 : length - left - min;
      const following = runAfter[index + 1] as number;
      const rights =
        following > 0 && following < min && slack > 0 ? [0, Math.min(slack, min - following)] : [0];
      for (const right of rights)
        next.push({ gap: right, bytes, parts, kept: { index, left, right, previous: s.kept } });
    }
    states = undominated(next, min);
  });

  let best: State | undefined;
  let bestCost: [number, number] = [Infinity, Infinity];
  for (const s of states) {
    const cost: [number, number] = [s.bytes + s.gap, s.parts + partsFor(s.gap)];
    if (cost[0] < bestCost[0] || (cost[0] === bestCost[0] && cost[1] < bestCost[1])) {
      best = s;
      bestCost = cost;
    }
  }
  return buildPlan(segments, size, min, maxMixed, best?.kept);
}

/**
 * Drops every state another beats for every future: among states with an open mixed run, a
 * longer run (up to a part) only helps, so keep those that need less borrowing for more bytes;
 * a state where a part just ended cannot absorb what follows, so the best such state is kept
 * on its own.
 */
function undominated(states: State[], min: number): State[] {
  const total = (s: State) => s.bytes + s.gap;
  const sorted = [...states].sort((a, b) => total(a) - total(b) || b.gap - a.gap || a.parts - b.parts);
  const kept: State[] = [];
  let longest = 0;
  let ended = false;
  for (const s of sorted) {
    if (s.gap === 0 ? !ended : Math.min(s.gap, min) > longest) kept.push(s);
    if (s.gap === 0) ended = true;
    else longest = Math.max(longest, Math.min(s.gap, min));
  }
  return kept;
}

function buildPlan(
  segments: readonly Segment[],
  size: number,
  min: number,
  maxMixed: number,
  kept: Kept | undefined,
): AssemblyPlan {
  const starts: number[] = [];
  let at = 0;
  for (const s of segments) {
    starts.push(at);
    at += s.length;
  }
  // Copy intervals in order: [start, end) of the new object, from old offset `old`.
  const copies: { start: number; end: number; old: number }[] = [];
  for (let k = kept; k !== undefined; k = k.previous) {
    const s = segments[k.index] as Segment;
    const start = (starts[k.index] as number) + k.left;
    copies.push({ start, end: (starts[k.index] as number) + s.length - k.right, old: s.offset + k.left });
  }
  copies.reverse();

  const parts: AssemblyPart[] = [];
  let sourceBytes = 0;
  let oldBytesRead = 0;
  let copiedBytes = 0;
  let mixedParts = 0;
  let cursor = 0; // segment index of the mixed bytes being cut
  const mixed = (from: number, to: number) => {
    for (const [offset, length] of evenSplit(from, to, maxMixed)) {
      const pieces: Segment[] = [];
      for (let i = cursor; i < segments.length; i++) {
        const s = segments[i] as Segment;
        const sStart = starts[i] as number;
        const lo = Math.max(offset, sStart);
        const hi = Math.min(offset + length, sStart + s.length);
        if (sStart >= offset + length) break;
        if (hi <= lo) {
          cursor = i + 1;
          continue;
        }
        const piece: Segment = { from: s.from, offset: s.offset + (lo - sStart), length: hi - lo };
        pieces.push(piece);
        if (s.from === "source") sourceBytes += piece.length;
        else oldBytesRead += piece.length;
      }
      parts.push({ kind: "mixed", offset, length, pieces });
      mixedParts++;
    }
  };
  let position = 0;
  for (const copy of copies) {
    if (copy.start > position) mixed(position, copy.start);
    for (const [offset, length] of evenSplit(copy.start, copy.end)) {
      parts.push({ kind: "copy", offset, length, oldOffset: copy.old + (offset - copy.start) });
      copiedBytes += length;
    }
    position = copy.end;
  }
  if (position < size) mixed(position, size);
  return { size, parts, sourceBytes, oldBytesRead, copiedBytes, mixedParts, minPartSize: min };
}

/** `[from, to)` cut into the fewest parts of at most `max` bytes (5 GiB), as even as whole bytes allow. */
function evenSplit(from: number, to: number, max = MAX_CHUNK_SIZE): [number, number][] {
  const count = Math.ceil((to - from) / max);
  const out: [number, number][] = [];
  const base = Math.floor((to - from) / count);
  let extra = (to - from) % count;
  for (let at = from; at < to; ) {
    const length = base + (extra-- > 0 ? 1 : 0);
    out.push([at, length]);
    at += length;
  }
  return out;
}
