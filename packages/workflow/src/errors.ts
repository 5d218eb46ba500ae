import { ChunksyncError } from "@chunksync/core";

/** An item an earlier step should have written to the work area is not there. */
export class WorkItemMissingError extends ChunksyncError {
  constructor(key: string) {
    super("WORK_ITEM_MISSING", `work area item ${key} is missing (an earlier step did not run or expired)`, {
      details: { key },
    });
  }
}

/**
 * A function invoked on the other side failed. Its `name` is the remote error's
 * name (such as ThrottledError), so Retry and Catch match it as if it were local.
 */
export class RemoteFunctionError extends ChunksyncError {
  constructor(name: string, message: string) {
    super("REMOTE_FUNCTION_FAILED", message, { details: { remoteName: name } });
    this.name = name;
  }
}
