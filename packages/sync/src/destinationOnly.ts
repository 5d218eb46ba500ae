import { isObjectKey } from "@chunksync/core";
import type { ObjectReader, ObjectStore, ObjectSummary } from "@chunksync/storage";
import { describeError } from "./errorCodes.js";
import { RunAbortedError } from "./errors.js";
import type { ObjectResult } from "./ObjectResult.js";

/**
 * The result for an object only the destination holds: kept and reported, or, with
 * `delete`, deleted (a failed delete is reported with its error, not thrown). With
 * `onSource`, the delete waits for it to say that the source has no object of that key:
 * one that does (listed out of order, or written since) keeps the destination's. Once `signal`
 * aborts, a failed request throws RunAbortedError instead.
 */
export async function settleDestinationOnly(
  store: ObjectStore,
  object: ObjectSummary,
  options: { delete: boolean; dryRun: boolean; onSource?: () => Promise<boolean>; signal?: AbortSignal },
): Promise<ObjectResult> {
  const result: ObjectResult = {
    destinationKey: object.key,
    size: object.size,
    state: "extra",
    action: options.delete ? "delete" : "keep",
    planned: { transfer: 0, serverSide: 0 },
    applied: false,
    attempts: 1,
  };
  if (options.delete && !options.dryRun) {
    try {
      if (await options.onSource?.()) {
        result.action = "keep";
        return result;
      }
      await store.delete(object.key);
      result.applied = true;
    } catch (error) {
      // A stopped run's request is no failure of the object: the run ends as stopped.
      if (options.signal?.aborted) throw new RunAbortedError(error);
      result.error = describeError(error);
    }
  }
  return result;
}

/**
 * Whether the source holds an object under `key`, asked before a destination-only object is
 * deleted. A key S3 cannot name (the empty key a whole-bucket source maps a destination
 * prefix's marker to, or one over 1,024 bytes where the source's prefix is the longer) is no
 * object: it is not asked, since the server would answer for the bucket, or refuse the request.
 */
export async function sourceHolds(source: ObjectReader, key: string, signal?: AbortSignal): Promise<boolean> {
  return isObjectKey(key) && (await source.head(key, signal)) !== undefined;
}
