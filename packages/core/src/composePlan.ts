import { type ChunkPlan, chunkRange, MAX_CHUNK_SIZE } from "./chunkPlan.js";

/**
 * One part of a re-composed object. `copy` parts come server-side from the old
 * destination object at the same offsets; `upload` parts come from the source.
 */
export interface ComposePart {
  kind: "copy" | "upload";
  offset: number;
  length: number;
}

export interface ComposePlan {
  parts: ComposePart[];
  /** Bytes that must cross from the source side. */
  uploadBytes: number;
  /** Bytes copied server-side inside the destination. */
  copyBytes: number;
}

/**
 * Parts for re-composing a destination object whose chunks in `changed` differ.
 * Adjacent unchanged chunks merge into one UploadPartCopy of at most 5 GiB (S3's
 * part limit); changed chunks stay one part each so a failed part retries alone.
 * Every part but the last is a whole chunk or more, so S3's 5 MiB minimum holds.
 */
export function planCompose(plan: ChunkPlan, changed: ReadonlySet<number>): ComposePlan {
  const parts: ComposePart[] = [];
  let uploadBytes = 0;
  let copyBytes = 0;
  for (let index = 0; index < plan.count; index++) {
    const { offset, length } = chunkRange(plan, index);
    if (changed.has(index)) {
      parts.push({ kind: "upload", offset, length });
      uploadBytes += length;
      continue;
    }
    copyBytes += length;
    const last = parts.at(-1);
    if (last?.kind === "copy" && last.length + length <= MAX_CHUNK_SIZE) last.length += length;
    else parts.push({ kind: "copy", offset, length });
  }
  return { parts, uploadBytes, copyBytes };
}
