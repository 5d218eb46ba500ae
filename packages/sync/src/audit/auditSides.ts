import {
  type AuditRequest,
  type AuditResponse,
  auditResponse,
  compareAudit,
  type RangeVerdict,
  rangeHasher,
  rangesWithin,
  sameEtag,
  ValidationError,
} from "@chunksync/core";
import type { ObjectHead } from "@chunksync/storage";
import { ObjectChangedError } from "../errors.js";
import { settleAll } from "../Limiter.js";
import { hashRanges, type RangeReading } from "./hashRanges.js";

/** One side of an audit: how it reads, and the pairing secret its values are keyed by. */
export interface AuditSide extends RangeReading {
  secret: Buffer;
}

/** The source's own possession values of the request's ranges, read from its own bytes now. */
export async function expectAudit(side: AuditSide, request: AuditRequest): Promise<Map<number, Buffer>> {
  const { key, etag } = request.source;
  return hashRanges(side, key, etag, request.ranges, (range) => rangeHasher(side.secret, request, range));
}

/**
 * The destination's answer to an audit request, from its own bytes read now (pinned to the
 * ETag the request names): a value per range inside its object, `missing` past its end.
 * `current` is its listing of the object (one process, or the step that listed it); without
 * it the side HEADs the object.
 *
 * @throws ObjectChangedError when the object is no longer the version the request names
 */
export async function answerAudit(
  side: AuditSide,
  request: AuditRequest,
  current?: Pick<ObjectHead, "etag" | "size">,
): Promise<AuditResponse> {
  const { bucket, key, etag } = request.destination;
  if (bucket !== side.store.bucket) {
    throw new ValidationError("destination.bucket", `the bucket this side serves (${side.store.bucket})`);
  }
  const head = current ?? (await side.store.head(key, side.signal));
  if (head === undefined || !sameEtag(head.etag, etag)) throw new ObjectChangedError("destination", key);
  const ranges = rangesWithin(request, head.size);
  const values = await hashRanges(side, key, etag, ranges, (range) =>
    rangeHasher(side.secret, request, range),
  );
  return auditResponse(request, { etag, size: head.size }, values);
}

/** One object's audit: the source's values, the destination's answer, the verdict per range. */
export async function auditObject(
  source: AuditSide,
  answer: (request: AuditRequest) => Promise<AuditResponse>,
  request: AuditRequest,
): Promise<RangeVerdict[]> {
  const [expected, response] = (await settleAll<unknown>([
    expectAudit(source, request),
    answer(request),
  ])) as [Map<number, Buffer>, AuditResponse];
  return compareAudit(request, expected, response);
}
