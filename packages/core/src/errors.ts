/**
 * One base class for every error chunksync raises on purpose. `name` is what a
 * Step Functions `ErrorEquals` matches and `code` is the stable machine-readable
 * identifier; neither ever carries a raw digest.
 */
export class ChunksyncError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details ?? {};
  }
}

/** Input (a CLI flag, an event field, a message field, a config value) is not what was expected. */
export class ValidationError extends ChunksyncError {
  readonly field: string;
  constructor(field: string, expected: string, options?: { cause?: unknown; received?: unknown }) {
    super("VALIDATION_FAILED", `${field}: expected ${expected}`, {
      cause: options?.cause,
      details: { field, expected },
    });
    this.field = field;
  }
}
