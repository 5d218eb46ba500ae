// The verify mode is the core decision's; the CLI names it through this package.
export type { VerifyMode } from "@chunksync/core";
export { DestinationSide, type DestinationSideOptions } from "./DestinationSide.js";
export { settleDestinationOnly } from "./destinationOnly.js";
export { ObjectChangedError, RunAbortedError, VerificationFailedError } from "./errors.js";
export { ineffectiveIncludes, type KeyRule, keyFilter } from "./keyFilter.js";
export { forEachConcurrent, Limiter, settleAll } from "./Limiter.js";
export type { ObjectAction, ObjectResult, ObjectState } from "./ObjectResult.js";
export { type ByteCounts, type ObjectCounts, RunStats } from "./RunStats.js";
export { isTransient, withRetry } from "./retry.js";
export {
  countResult,
  plannedOf,
  type RunReport,
  runSync,
  type SyncOptions,
} from "./runSync.js";
export { SourceSide, type SourceSideOptions } from "./SourceSide.js";
export {
  describeError,
  type ListedPair,
  type ObjectSyncContext,
  syncObject,
} from "./syncObject.js";
