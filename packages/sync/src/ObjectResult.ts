/** What a run found for one object, and what it did (or, in a dry run, would do) about it. */
export type ObjectState = "identical" | "missing" | "changed" | "extra" | "unreadable" | "failed";

/**
 * - `copy`: write the whole object (destination missing, or an object of fewer than two chunks
 *   whose chunk changed).
 * - `compose`: multipart re-compose, unchanged ranges copied server-side from the old destination.
 * - `metadata`: bytes equal, attributes differ; rewritten server-side.
 * - `tags`: bytes and attributes equal, tag sets differ (`--tags`); the tag set put alone.
 * - `delete` / `keep`: destination-only objects, with and without `--delete`.
 */
export type ObjectAction = "none" | "copy" | "compose" | "metadata" | "tags" | "delete" | "keep";

export interface ObjectResult {
  sourceKey?: string;
  destinationKey: string;
  size: number;
  state: ObjectState;
  action: ObjectAction;
  /** Chunks in the plan, and the indexes that differed or were missing on the destination. */
  chunks?: { total: number; chunkSize: number; changed: number[] };
  /** Bytes this action moves through the process, and bytes the servers copy themselves. */
  planned: { transfer: number; serverSide: number };
  /** False for `check`/`plan` (dry runs) and for failures. */
  applied: boolean;
  /** Attempts made: an object restarts from its plan when it changes under the run. */
  attempts: number;
  error?: { code: string; message: string };
}
