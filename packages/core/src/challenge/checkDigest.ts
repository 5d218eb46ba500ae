import { DIGEST_LENGTHS, type DigestAlgorithm } from "../digest.js";
import { ValidationError } from "../errors.js";

/**
 * Checks that `digest` has the length `algorithm` produces. The error names
 * the field and the expected length only: a digest never appears in an error.
 */
export function checkDigest(digest: unknown, algorithm: DigestAlgorithm, field: string): Buffer {
  const length = DIGEST_LENGTHS[algorithm];
  if (!(digest instanceof Uint8Array) || digest.byteLength !== length) {
    throw new ValidationError(field, `a ${length}-byte ${algorithm} digest`);
  }
  // A Buffer as it is: this runs for every keyed value of a run.
  return Buffer.isBuffer(digest) ? digest : Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength);
}
