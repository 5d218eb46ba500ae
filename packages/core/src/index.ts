/**
 * `@chunksync/core`: the pure heart of chunksync. Chunk plans within S3's
 * multipart rules, chunk digests, and the challenge protocol by which two
 * sides sharing a pairing secret learn which chunks differ without either
 * revealing a digest; and the one decision of what to write for an object.
 * Content-defined blocks inside chunks, matched against the old object's, and
 * the plan by which the destination assembles the new object from its own
 * bytes and those that crossed. No AWS, no environment, no I/O.
 *
 * @packageDocumentation
 */

export {
  type AuditRequest,
  type AuditResponse,
  auditContext,
  auditRequest,
  auditResponse,
  compareAudit,
  drawAuditNonce,
  type PossessionHasher,
  possessionHasher,
  type RangeVerdict,
  rangeHasher,
  rangesWithin,
} from "./audit/possession.js";
export {
  type SampledObject,
  type SampledRange,
  Sampler,
  type SamplerState,
  seededRandom,
  uniform,
} from "./audit/sampler.js";
export {
  formatSampleSpec,
  parseSampleSpec,
  type SampleSpec,
  type SampleUnit,
  unseenProbability,
} from "./audit/sampleSpec.js";
export { BlockBytes } from "./blocks/blockBytes.js";
export {
  BLOCK_DIGEST,
  BLOCK_DIGEST_BYTES,
  BlockChunker,
  type BlockDigest,
  blocksOf,
  sha256Block,
} from "./blocks/blockChunker.js";
export {
  AnsweredBlocks,
  answerBlocks,
  BLOCK_TAG_BYTES,
  type BlockRequest,
  type BlockResponse,
  BlockTagger,
  blockRequest,
  type EncodedBlocks,
  type OldRange,
  parseBlockRequest,
  rangesToCut,
  readBlockResponse,
  sameTag,
  wholeRequest,
  wholeTagging,
} from "./blocks/blockExchange.js";
export { type Block, BlockList, type StoredBlockList } from "./blocks/blockList.js";
export {
  type BlockParams,
  blockParams,
  DEFAULT_AVG_BLOCK,
  TARGET_MAX_BLOCKS,
  validateBlockParams,
} from "./blocks/blockParams.js";
export { type BlockRounds, chooseAssembly, nextBlockRound } from "./blocks/blockRounds.js";
export { confirmGaps, filterGuesses, type GapGuesses, guessGaps } from "./blocks/guessGaps.js";
export { BlockMatcher, matchBlocks, oldRangesToCut, segmentsOf } from "./blocks/matchBlocks.js";
export {
  type AssemblyPart,
  type AssemblyPlan,
  type CopyPart,
  type MixedPart,
  partPieces,
  planAssembly,
  rebuildsChangedInPlace,
} from "./blocks/planAssembly.js";
export { RangeList, type Ranges } from "./blocks/rangeList.js";
export { type Segment, SegmentList, type StoredSegmentList, sourceBytes } from "./blocks/segments.js";
export { type AnswerChallengeParams, answerChallenge } from "./challenge/answerChallenge.js";
export { chunksToAnswer } from "./challenge/chunksToAnswer.js";
export { constantTimeEqual } from "./challenge/constantTimeEqual.js";
export { type CreateChallengeParams, createChallenge } from "./challenge/createChallenge.js";
export { drawNonce, NONCE_BYTES, type RandomSource } from "./challenge/drawNonce.js";
export { encodeAnswer } from "./challenge/encodeAnswer.js";
export {
  type AuditContext,
  type BlockContext,
  type ChallengeContext,
  encodeAuditContext,
  encodeBlockContext,
  encodeContext,
} from "./challenge/encodeContext.js";
export { HmacSha256 } from "./challenge/HmacSha256.js";
export {
  answerHeldBatch,
  type HeldBatch,
  type HeldPair,
  heldBatchEqual,
  holdBatch,
} from "./challenge/heldBatch.js";
export {
  answerHeldChallenge,
  changedHeldChunks,
  type HeldChallenge,
  type HeldDigests,
  holdChallenge,
} from "./challenge/heldChallenge.js";
export {
  drawPairingSecret,
  formatPairingSecret,
  MIN_PAIRING_SECRET_BYTES,
  parsePairingSecret,
} from "./challenge/pairingSecret.js";
export {
  deriveChunkKey,
  deriveChunkNonce,
  hkdfSha256,
  IV_BYTES,
  openChunkNonce,
  sealChunkNonce,
} from "./challenge/sealChunkNonce.js";
export {
  type ChallengeExpectation,
  type ChallengeRequest,
  type ChallengeResponse,
  type ChunkVerdict,
  type CompareResult,
  DIRECTIONS,
  type Direction,
  type ObjectIdentity,
  PROTOCOL_VERSION,
  VARIANTS,
  type Variant,
} from "./challenge/types.js";
export { type VerifyResponseParams, verifyResponse } from "./challenge/verifyResponse.js";
export {
  allChunks,
  type ChunkPlan,
  type ChunkRange,
  chunkPlanSchema,
  chunkRange,
  chunkRanges,
  DEFAULT_CHUNK_SIZE,
  formatBytes,
  GiB,
  KiB,
  MAX_CHUNK_SIZE,
  MAX_OBJECT_SIZE,
  MAX_PARTS,
  MAX_REQUESTED_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  MiB,
  parseByteSize,
  planChunks,
  TiB,
  validatePlan,
} from "./chunkPlan.js";
export {
  copiedFromSource,
  crossingBytes,
  type DecideObjectParams,
  type DecisionOptions,
  type DestinationTraits,
  decideObject,
  decisionOptionsOf,
  nameableAsCopySource,
  type ObjectDecision,
  type ObjectFacts,
  type PartKind,
  type PlannedPart,
  STREAMED_COPY_MAX,
  settledCopies,
  type VerifyMode,
  type WriteCondition,
} from "./decideObject.js";
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
  BodyDigestError,
  type BodyDigests,
  ChunkDigests,
  collectDigested,
  collectLanded,
  digestWhilePassing,
  forEachPiece,
  InOrderDigests,
} from "./digestBody.js";
export {
  decodeEntryLine,
  decodeManifest,
  decodePiece,
  encodeManifest,
  entryLine,
  INDEX_FORMAT,
  INDEX_VERSION,
  type IndexManifest,
  IndexRejectedError,
  type IndexRejection,
  type PieceRef,
  pieceChecksum,
  pieceHeader,
} from "./digestIndex/indexCodec.js";
export {
  asListed,
  entryAsListed,
  entryMayStand,
  entryNeedsHead,
  entryStanding,
  entryStands,
  type IndexEntry,
  type IndexProof,
  type ListedVersion,
  markStandsFor,
  versionPin,
  wholeSecond,
} from "./digestIndex/indexEntry.js";
export { INDEX_KEY_MARKER, isIndexKey, pieceRunStart } from "./digestIndex/indexKey.js";
export { type IndexScope, pairingTag, sameScope, scopeName } from "./digestIndex/indexScope.js";
export {
  ChunkPlanError,
  type ChunkPlanErrorCode,
  ChunksyncError,
  EmptyKeyError,
  InvalidMessageError,
  KeyTooLongError,
  ValidationError,
} from "./errors.js";
export { jsonText } from "./jsonText.js";
export {
  admitsBuffer,
  checkChunkBuffer,
  concurrencyMemoryBudget,
  LAMBDA_RESERVE,
  lambdaMemoryBudget,
  type MemoryBudget,
  MemoryBudgetError,
} from "./memoryBudget.js";
export {
  challengeExpectationSchema,
  challengeRequestSchema,
  challengeResponseSchema,
  MAX_MESSAGE_BYTES,
  objectIdentitySchema,
  parseChallengeExpectation,
  parseChallengeRequest,
  parseChallengeResponse,
} from "./messages.js";
export {
  ATTRIBUTE_TEXTS,
  attributesDiffer,
  attributesOf,
  type ObjectAttributes,
} from "./objectAttributes.js";
export {
  checkDestinationKey,
  compareUtf8,
  INDEX_NAME_MAX_BYTES,
  isObjectKey,
  MAX_KEY_BYTES,
} from "./objectKey.js";
export {
  directoryPrefix,
  prefixesOverlap,
  type SideLocation,
  SidesOverlapError,
  sidesOverlap,
  storageOf,
} from "./overlap.js";
export { etagMd5, hasMd5Form, sameEtag } from "./sameEtag.js";
