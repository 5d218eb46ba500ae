import { isArchiveClass, type ObjectSummary } from "@chunksync/storage";
import { z } from "zod";
import { relativeKey } from "./events.js";

/**
 * What a page's lookup on the destination (LookUpDestinationPage) hands the source's page steps,
 * in the shared part of the work area: versions, sizes and keys only, never a digest.
 */

/** The destination's versions its page's lookup found entries for that may answer (see {@link mayAnswerFromEntry}). */
export const AnswerableRecordSchema = z.strictObject({
  bucket: z.string().min(1).max(255),
  objects: z.array(
    z.strictObject({ key: relativeKey, etag: z.string().min(1), size: z.number().int().min(0) }),
  ),
});
export type AnswerableRecord = z.infer<typeof AnswerableRecordSchema>;

/**
 * Whether a destination version `listed`, whose stored entry may stand for it, may be answered
 * for from that entry (after one HEAD where the listing cannot settle it, as HeadDestination
 * takes it): not an archived object (not challenged), nor one listed with no ETag to challenge.
 */
export function mayAnswerFromEntry(listed: ObjectSummary): boolean {
  return !isArchiveClass(listed.storageClass) && listed.etag !== "" && listed.etag !== '""';
}

/** The page's keys the destination's listing lacks, as its lookup found them, with what decides their writes. */
export const AbsentRecordSchema = z.strictObject({
  bucket: z.string().min(1).max(255),
  checksContentMd5: z.boolean(),
  copySourceEscapesReadOnce: z.boolean(),
  keys: z.array(relativeKey),
});
export type AbsentRecord = z.infer<typeof AbsentRecordSchema>;
