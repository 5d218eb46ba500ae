/**
 * One base class for every error chunksync raises on purpose. `name` is what a
 * Step Functions `ErrorEquals` matches and `code` is the stable machine-readable
 * identifier; neither ever carries a raw digest.
 */
export class ChunksyncError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: string,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details ?? {};
  }
}

/** Input (a CLI flag, an event field, a message field, a config value) is not what was expected. */
export class ValidationError extends ChunksyncError {
  readonly field: string;
  constructor(
    field: string,
    expected: string,
    // `code` lets a subclass keep this shape (field + expected) under its own stable code.
    options?: { cause?: unknown; received?: unknown; code?: string },
  ) {
    super(options?.code ?? "VALIDATION_FAILED", `${field}: expected ${expected}`, {
      cause: options?.cause,
      details: { field, expected },
    });
    this.field = field;
  }
}

/** Codes a {@link ChunkPlanError} carries. */
export type ChunkPlanErrorCode =
  | "CHUNK_SIZE_OUT_OF_RANGE"
  | "OBJECT_TOO_LARGE"
  | "INVALID_SIZE"
  | "CHUNK_INDEX_OUT_OF_RANGE";

/**
 * A chunk plan cannot be made: the requested chunk size breaks S3's part-size
 * limits, or the object cannot be split into at most 10,000 parts.
 */
export class ChunkPlanError extends ChunksyncError {
  declare readonly code: ChunkPlanErrorCode;
  constructor(code: ChunkPlanErrorCode, message: string, options?: { details?: Record<string, unknown> }) {
    super(code, message, options);
  }
}

/**
 * A protocol message (challenge request, response or expectation) received
 * from elsewhere is malformed. `field` is the path of the first offending
 * field, such as `answers[3].value`, or the message name when the message as a
 * whole is unusable (not JSON, too large).
 */
export class InvalidMessageError extends ValidationError {
  constructor(field: string, expected: string) {
    super(field, expected, { code: "INVALID_MESSAGE" });
  }
}

/**
 * A destination key is empty: the source prefix's own folder marker (`pre/` under `s3://b/pre`)
 * has the relative key "", which at a bucket's root names no object. Found before anything is
 * read, as for {@link KeyTooLongError}, where a server would refuse the write with HTTP 400.
 */
export class EmptyKeyError extends ChunksyncError {
  constructor() {
    super(
      "EMPTY_KEY",
      "destination key is empty: the source prefix's own folder marker maps to no key at the destination bucket's root; give the destination a prefix to hold it",
    );
  }
}

/**
 * A key is longer than S3 allows (1,024 bytes of UTF-8): found before anything is read, so
 * the object fails at once instead of after its bytes crossed, as a server's HTTP 400 would.
 */
export class KeyTooLongError extends ChunksyncError {
  readonly key: string;
  constructor(key: string, bytes: number, max: number) {
    super(
      "KEY_TOO_LONG",
      `destination key is ${bytes.toLocaleString("en-US")} bytes long (UTF-8), over S3's limit of ${max.toLocaleString("en-US")} bytes; shorten the destination prefix or the source key: ${key}`,
      { details: { key, bytes, max } },
    );
    this.key = key;
  }
}
