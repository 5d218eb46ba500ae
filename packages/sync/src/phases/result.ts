import type { ObjectDecision } from "@chunksync/core";
import { describeError, type FailureDescription } from "../errorCodes.js";
import type { ObjectResult } from "../ObjectResult.js";

/** The keys of one object on both sides, and how many attempts it took. */
export interface ResultKeys {
  sourceKey: string;
  destinationKey: string;
  attempts: number;
}

/** The source object as planned, as far as its result names it. */
export interface PlannedSource {
  bucket: string;
  size: number;
  archived: boolean;
  storageClass?: string;
  plan: { count: number; chunkSize: number };
}

/**
 * The result of an object that was decided: its state and action, the chunks found
 * changed and the bytes planned; `applied` once its write (if any) succeeded. An archived
 * source is reported with its own error, never passed over.
 */
export function decidedResult(
  keys: ResultKeys,
  source: PlannedSource,
  decision: Pick<ObjectDecision, "state" | "action" | "changed" | "planned">,
  written: boolean,
): ObjectResult {
  // No spreads, fields in the report's order: this runs for every object.
  const { sourceKey, destinationKey, attempts } = keys;
  const { state, action, planned } = decision;
  const size = source.size;
  const applied = state === "identical" || (written && state !== "unreadable");
  const result: ObjectResult = source.archived
    ? { sourceKey, destinationKey, attempts, size, state, action, planned, applied }
    : {
        sourceKey,
        destinationKey,
        attempts,
        size,
        state,
        action,
        chunks: { total: source.plan.count, chunkSize: source.plan.chunkSize, changed: decision.changed },
        planned,
        applied,
      };
  if (source.archived) {
    result.error = {
      code: "OBJECT_ARCHIVED",
      message: `s3://${source.bucket}/${keys.sourceKey} is in storage class ${source.storageClass} and must be restored before it can be synced`,
    };
  }
  return result;
}

/**
 * `written`, the result of an object whose write completed as the run was stopped, before its
 * verification: the write is reported, and the next run reads and challenges the object.
 */
export function unverifiedResult(written: ObjectResult): ObjectResult {
  return {
    ...written,
    error: {
      code: "VERIFY_INTERRUPTED",
      message: "written; the run was stopped before its verification, which the next run makes",
    },
  };
}

/** Whether `result` is of an object written and then stopped before its verification (see {@link unverifiedResult}). */
export function interruptedVerification(result: ObjectResult): boolean {
  return result.error?.code === "VERIFY_INTERRUPTED";
}

/**
 * The result of an object whose sync failed (after its last attempt); `size` is the source
 * object's as the run listed it (its head may never have been read).
 */
export function failedResult(keys: ResultKeys, error: FailureDescription, size: number): ObjectResult {
  return {
    ...keys,
    size,
    state: "failed",
    action: "none",
    planned: { transfer: 0, serverSide: 0 },
    applied: false,
    error,
  };
}

/** {@link failedResult} of a thrown error. */
export function failedWith(keys: ResultKeys, error: unknown, size: number): ObjectResult {
  return failedResult(keys, describeError(error), size);
}
