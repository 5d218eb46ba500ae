import { ChunksyncError } from "@chunksync/core";

/**
 * The code of every error class whose name alone says its code. A failure that crossed a
 * Step Functions Catch arrives as its name and message only; this table gives it back the
 * code the direct engine reports for the same failure (a unit test keeps it equal to what
 * each class sets).
 */
export const CODE_BY_NAME: Readonly<Record<string, string>> = {
  ValidationError: "VALIDATION_FAILED",
  InvalidMessageError: "INVALID_MESSAGE",
  ObjectNotFoundError: "OBJECT_NOT_FOUND",
  BucketNotFoundError: "BUCKET_NOT_FOUND",
  AccessDeniedError: "ACCESS_DENIED",
  InvalidCredentialsError: "INVALID_CREDENTIALS",
  MissingCredentialsError: "NO_CREDENTIALS",
  KeyTooLongError: "KEY_TOO_LONG",
  EmptyKeyError: "EMPTY_KEY",
  MemoryBudgetError: "MEMORY_BUDGET",
  PreconditionFailedError: "PRECONDITION_FAILED",
  ObjectArchivedError: "OBJECT_ARCHIVED",
  ThrottledError: "SLOW_DOWN",
  StorageUnavailableError: "STORAGE_UNAVAILABLE",
  RequestRefusedError: "STORAGE_REQUEST_FAILED",
  NotImplementedError: "STORAGE_REQUEST_FAILED",
  BadDigestError: "BAD_DIGEST",
  SourceChangedError: "SOURCE_CHANGED",
  SourceDeletedError: "SOURCE_CHANGED",
  SourceRottedError: "SOURCE_ROTTED",
  DestinationChangedError: "DESTINATION_CHANGED",
  VerificationFailedError: "VERIFICATION_FAILED",
  RunAbortedError: "RUN_ABORTED",
  ListingOrderError: "LISTING_ORDER",
  WorkItemMissingError: "WORK_ITEM_MISSING",
};

/** An object's failure as a result reports it. */
export interface FailureDescription {
  code: string;
  message: string;
}

/** A thrown error as a result reports it: its own code, or UNEXPECTED for an error chunksync did not raise. */
export function describeError(error: unknown): FailureDescription {
  if (error instanceof ChunksyncError) return { code: error.code, message: error.message };
  return { code: "UNEXPECTED", message: error instanceof Error ? error.message : String(error) };
}

/**
 * A failure known by its error name and message only (as a Step Functions Catch records
 * it), described with the same code {@link describeError} gives the error itself.
 */
export function describeFailure(name: string, message: string): FailureDescription {
  return { code: CODE_BY_NAME[name] ?? "UNEXPECTED", message };
}
