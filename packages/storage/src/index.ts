// The ETag comparison belongs to the core (the digest index compares ETags too); stores use it alike.
export { sameEtag } from "@chunksync/core";
export { isArchiveClass } from "./archiveClass.js";
export { type BodySink, counting, pour } from "./bodySink.js";
export {
  type ConditionalWrite,
  type ConditionalWrites,
  type ConditionSupport,
  destinationTraits,
  enforcesCondition,
  type StoreCapabilities,
  type WriteChecksums,
} from "./capabilities.js";
export * from "./errors.js";
export {
  type FailureMode,
  MemoryBuckets,
  MemoryObjectStore,
  type MemoryObjectStoreOptions,
  type StoreOperation,
} from "./MemoryObjectStore.js";
export { multipartEtag } from "./multipartEtag.js";
export type * from "./ObjectStore.js";
export { createS3Client, type S3ClientSettings, S3Connection } from "./S3Connection.js";
export { S3_CAPABILITIES, S3ObjectStore, type S3ObjectStoreOptions } from "./S3ObjectStore.js";
