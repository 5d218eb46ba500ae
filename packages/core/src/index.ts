/**
 * `@chunksync/core`: the pure heart of chunksync. Chunk plans within S3's
 * multipart rules, chunk digests, and the challenge protocol by which two
 * sides sharing a pairing secret learn which chunks differ without either
 * revealing a digest. No AWS, no environment, no I/O.
 *
 * @packageDocumentation
 */

export {
  type ChunkPlan,
  ChunkPlanSchema,
  type ChunkRange,
  chunkRange,
  chunkRanges,
  DEFAULT_CHUNK_SIZE,
  formatBytes,
  GiB,
  KiB,
  MAX_CHUNK_SIZE,
  MAX_OBJECT_SIZE,
  MAX_PARTS,
  MIN_CHUNK_SIZE,
  MiB,
  parseByteSize,
  planChunks,
  TiB,
  validatePlan,
} from "./chunkPlan.js";
export { type ComposePart, type ComposePlan, planCompose } from "./composePlan.js";
export {
  createDigester,
  DEFAULT_ALGORITHM,
  DIGEST_ALGORITHMS,
  DIGEST_LENGTHS,
  type DigestAlgorithm,
  type Digester,
  digestOf,
  parseAlgorithm,
} from "./digest.js";
export {
  ChunkPlanError,
  type ChunkPlanErrorCode,
  ChunksyncError,
  InvalidMessageError,
  ValidationError,
} from "./errors.js";
