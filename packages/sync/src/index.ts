export { DestinationSide, type DestinationSideOptions } from "./DestinationSide.js";
export { settleDestinationOnly } from "./destinationOnly.js";
export { ObjectChangedError, RunAbortedError, VerificationFailedError } from "./errors.js";
export { keyFilter } from "./keyFilter.js";
export { forEachConcurrent, Limiter, settleAll } from "./Limiter.js";
export type { ObjectAction, ObjectResult, ObjectState } from "./ObjectResult.js";
export { type ByteCounts, type ObjectCounts, RunStats } from "./RunStats.js";
export { isTransient, withRetry } from "./retry.js";
export {
  countResult,
  directoryPrefix,
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
  type VerifyMode,
} from "./syncObject.js";
