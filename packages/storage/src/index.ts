export { createS3Client, type S3ClientSettings } from "./createS3Client.js";
export * from "./errors.js";
export type * from "./ObjectStore.js";
export { isArchiveClass, S3ObjectStore, type S3ObjectStoreOptions } from "./S3ObjectStore.js";
export { sameEtag } from "./sameEtag.js";
