import type { Block } from "./blockChunker.js";
import { normalizeSegments, type Segment } from "./segments.js";

/**
 * The new object as segments: each source block whose digest (and length) some block of the
 * old object has becomes that old range, wherever it sits (moved data is reused); the rest are
 * source bytes. Where a digest occurs more than once in the old object, the occurrence that
 * continues the previous match is preferred, so runs stay whole. Neighbours are joined.
 *
 * @param source - the new object's blocks, in order, covering it exactly
 * @param old - the old object's blocks (any order)
 */
export function matchBlocks(source: readonly Block[], old: readonly Block[], oldSize: number): Segment[] {
  const first = new Map<string, number>();
  const at = new Map<number, Block>();
  for (const block of old) {
    const key = `${block.length}:${block.digest.toString("latin1")}`;
    if (!first.has(key)) first.set(key, block.offset);
    at.set(block.offset, block);
  }
  const segments: Segment[] = [];
  let size = 0;
  let next = -1; // the old offset that would continue the previous match
  for (const block of source) {
    size += block.length;
    const following = at.get(next);
    const offset =
      following !== undefined && following.length === block.length && following.digest.equals(block.digest)
        ? next
        : first.get(`${block.length}:${block.digest.toString("latin1")}`);
    if (offset === undefined) {
      segments.push({ from: "source", offset: block.offset, length: block.length });
      next = -1;
      continue;
    }
    segments.push({ from: "old", offset, length: block.length });
    next = offset + block.length;
  }
  return normalizeSegments(segments, size, oldSize);
}
