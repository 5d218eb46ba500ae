// The verify mode is the core decision's; the CLI names it through this package.
export type { VerifyMode } from "@chunksync/core";
export { type AuditSide, answerAudit, auditObject, expectAudit } from "./audit/auditSides.js";
export { hashRanges, type RangeReading, spansOf } from "./audit/hashRanges.js";
export {
  type AuditDifference,
  type AuditOptions,
  type AuditReport,
  AuditTally,
  runAudit,
} from "./audit/runAudit.js";
export { type RottedObject, runScrub, type ScrubOptions, type ScrubReport } from "./audit/runScrub.js";
export { DestinationSide, type DestinationSideOptions } from "./DestinationSide.js";
export { type DigestSource, RangedReadDigests, type RangedReadDigestsOptions } from "./DigestSource.js";
export { settleDestinationOnly, sourceHolds } from "./destinationOnly.js";
export {
  type BucketVersioningVerdict,
  bucketVersioning,
  VERSIONS_UNLISTED_NOTE,
} from "./digestIndex/bucketVersioning.js";
export { IndexCursor, type IndexOpening, MANIFEST } from "./digestIndex/IndexCursor.js";
export {
  DirectoryIndexLocation,
  type IndexLocation,
  StoreIndexLocation,
} from "./digestIndex/IndexLocation.js";
export { IndexRecorder, type IndexSlot, type KeyEntries } from "./digestIndex/IndexRecorder.js";
export { commitIndex, IndexWriter } from "./digestIndex/IndexWriter.js";
export { makeDirectory } from "./digestIndex/makeDirectory.js";
export {
  isNotWrittenNote,
  notWrittenNote,
  SideIndex,
  type SideIndexOptions,
  type SideIndexReport,
} from "./digestIndex/SideIndex.js";
export { feedBody } from "./digestRange.js";
export { CODE_BY_NAME, describeError, describeFailure, type FailureDescription } from "./errorCodes.js";
export {
  changedUnderRun,
  ListingOrderError,
  ObjectChangedError,
  RunAbortedError,
  SourceDeletedError,
  SourceRottedError,
  VerificationFailedError,
} from "./errors.js";
export { KeepRoom } from "./KeptChunks.js";
export { ineffectiveIncludes, type KeyRule, keyFilter, keySelection } from "./keyFilter.js";
export { keyGlob } from "./keyGlob.js";
export { forEachConcurrent, Limiter, mapAhead, readAhead, settleAll } from "./Limiter.js";
export { inListingOrder, type Listing, type MergedKey, mergeListings } from "./mergeListings.js";
export type { ObjectAction, ObjectResult, ObjectState } from "./ObjectResult.js";
export { PartBuffers } from "./PartBuffers.js";
export { afterBlockAnswer, type BlockSettings, MIN_BLOCK_BYTES, startBlockRounds } from "./phases/blocks.js";
export { type ChallengeExchange, changedChunks, checkWritten, exchange } from "./phases/challenge.js";
export {
  copiedFromOld,
  copiesKnown,
  DISTRUSTED_NOTE,
  destinationEntry,
  destinationWrittenEntry,
  readEntry,
  sourceEntry,
  UNPINNED_COPIES_NOTE,
  writtenEntry,
} from "./phases/indexEntries.js";
export {
  type DestinationInspectContext,
  destinationFromIndex,
  destinationFromStanding,
  etagIsMd5,
  headOfEntry,
  type IndexedPair,
  type InspectedSide,
  inspect,
  inspectDestination,
  type ListedPair,
  listedHead,
  presentSource,
  readAttributes,
  refuseRottedSource,
  type SidesVersioned,
  type StandingEntry,
  sourceFromIndex,
  sourceFromStanding,
  sourceIdentity,
  standingEntry,
} from "./phases/inspect.js";
export {
  addPlanned,
  buildReport,
  countResult,
  noPlanned,
  objectLine,
  type PlannedTotals,
  type ReportLine,
  type RunReport,
  summaryLine,
} from "./phases/report.js";
export {
  decidedResult,
  failedResult,
  type PlannedSource,
  type ResultKeys,
  unverifiedResult,
} from "./phases/result.js";
export {
  abandonEarly,
  checkMemory,
  completeUpload,
  type EarlyUpload,
  keepingTags,
  type ObjectWrite,
  type PartSource,
  type WriteContext,
  type WriteRequests,
  writeEarly,
  writeObject,
  writeParts,
  writeRequestsOf,
  writeWhole,
} from "./phases/write.js";
export { type ByteCounts, type ObjectCounts, RunStats } from "./RunStats.js";
export { readAtMost } from "./readAtMost.js";
export { isTransient, withRetry } from "./retry.js";
export { runMemoryBudget, runSync, type SyncOptions } from "./runSync.js";
export { SourceSide, type SourceSideOptions } from "./SourceSide.js";
export { newIndexing, type ObjectIndexing, type ObjectSyncContext, syncObject } from "./syncObject.js";
