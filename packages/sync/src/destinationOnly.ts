import type { ObjectStore, ObjectSummary } from "@chunksync/storage";
import { describeError } from "./errorCodes.js";
import type { ObjectResult } from "./ObjectResult.js";

/**
 * The result for an object only the destination holds: kept and reported, or, with
 * `deleteIt`, deleted (a failed delete is reported with its error, not thrown).
 */
export async function settleDestinationOnly(
  store: ObjectStore,
  object: ObjectSummary,
  options: { delete: boolean; dryRun: boolean },
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
      await store.delete(object.key);
      result.applied = true;
    } catch (error) {
      result.error = describeError(error);
    }
  }
  return result;
}
