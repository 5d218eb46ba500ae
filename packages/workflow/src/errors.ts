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

/**
 * A state's output is larger than Step Functions passes between states (256 KiB of UTF-8 JSON):
 * in AWS the execution fails with States.DataLimitExceeded, so an in-process run fails too.
 */
export class StateDataLimitError extends ChunksyncError {
  constructor(state: string, bytes: number, limit: number) {
    super(
      "STATE_DATA_LIMIT",
      `state ${state} output ${bytes} bytes, over Step Functions' ${limit}-byte limit (States.DataLimitExceeded)`,
      { details: { state, bytes, limit } },
    );
  }
}
