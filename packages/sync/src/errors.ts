import { ChunksyncError } from "@chunksync/core";
import { ObjectNotFoundError, PreconditionFailedError } from "@chunksync/storage";

/**
 * An object changed under the run: a pinned read, copy or conditional write lost.
 * The engine restarts the object from its plan a bounded number of times. Its `name`
 * says which side (SourceChangedError, DestinationChangedError): a Step Functions Catch
 * keeps only the name, and the code must come back from it alone (see describeFailure).
 */
export class ObjectChangedError extends ChunksyncError {
  readonly side: "source" | "destination";
  readonly key: string;
  constructor(side: "source" | "destination", key: string, cause?: unknown) {
    super(
      side === "source" ? "SOURCE_CHANGED" : "DESTINATION_CHANGED",
      side === "source"
        ? `source object ${key} changed or was deleted during the run (the version planned is no longer the one there)`
        : `destination object ${key} was written or deleted by someone else during the run; the run left it as they did, and the next run decides`,
      { cause, details: { side, key } },
    );
    this.name = side === "source" ? "SourceChangedError" : "DestinationChangedError";
    this.side = side;
    this.key = key;
  }
}

/**
 * `error` of a request that names `key`'s planned version (a pinned read, a tag set read after
 * its HEAD), as the run takes it: that version replaced (412) or gone (404) is the object changed
 * under the run on `side`, which the object's next attempt heads again; anything else as it is.
 */
export function changedUnderRun(side: "source" | "destination", key: string, error: unknown): unknown {
  return error instanceof PreconditionFailedError || error instanceof ObjectNotFoundError
    ? new ObjectChangedError(side, key, error)
    : error;
}

/**
 * A source object listed and gone when it was headed: deleted during the run. Not restarted
 * (an attempt more would head nothing again): reported as SOURCE_CHANGED, and the next run
 * lists it no more. Its own name, which the workflow's MayRestart passes over.
 */
export class SourceDeletedError extends ObjectChangedError {
  constructor(key: string) {
    super("source", key);
    this.name = "SourceDeletedError";
    this.message = `source object ${key} was deleted during the run (listed, then gone); the next run decides`;
  }
}

/**
 * The source version a scrub found rotted (its index entry marked so): the bytes stored are
 * not the ones indexed, and sent they would overwrite the destination's copy with the rot. The
 * object is not written; the mark stands until a new version replaces the source object.
 */
export class SourceRottedError extends ChunksyncError {
  constructor(key: string) {
    super(
      "SOURCE_ROTTED",
      `source object ${key} is not copied: a scrub found its stored bytes differ from those indexed for ` +
        "this version (rot, or a change below the S3 API), and the destination's object, if any, is left " +
        "as it is; restore the source object (a sync back from a destination that holds a good copy), " +
        "or take its bytes as they are now with a `check --full` of this pair",
      { details: { key } },
    );
    this.name = "SourceRottedError";
  }
}

/**
 * After a write, the challenge over the written chunks did not come back all-equal. Either side
 * may be why: the source's digests of a chunk can come from its index entry while its bytes were
 * read now, and bytes that rotted below the S3 API read otherwise under the same version.
 */
export class VerificationFailedError extends ChunksyncError {
  constructor(key: string, chunks: number[]) {
    super(
      "VERIFICATION_FAILED",
      `destination object ${key} does not match the source after writing (chunks ${chunks.join(", ")}): ` +
        "the destination stored other bytes than it was sent, or the source's stored bytes changed below the " +
        "S3 API since they were indexed (chunksync scrub of the source tells)",
      { details: { key, chunks } },
    );
  }
}

/** The run was cancelled (Ctrl-C or an AbortSignal); every started upload was aborted. */
export class RunAbortedError extends ChunksyncError {
  constructor(cause?: unknown) {
    super("RUN_ABORTED", "the run was aborted; no destination object was left half-written", { cause });
  }
}

/**
 * A listing did not come in strictly rising UTF-8 byte order of its keys, as S3, MinIO and
 * Ceph RGW list: the run merges the two listings as sorted streams and cannot trust one
 * that is not, so it stops rather than call an object missing or destination-only.
 */
export class ListingOrderError extends ChunksyncError {
  constructor(side: "source" | "destination", previous: string, key: string) {
    super(
      "LISTING_ORDER",
      `the ${side} listing is not in UTF-8 byte order of keys, as S3 lists: ` +
        `${JSON.stringify(key)} came after ${JSON.stringify(previous)}`,
      { details: { side, previous, key } },
    );
  }
}
