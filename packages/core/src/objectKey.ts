import { KeyTooLongError } from "./errors.js";

/** S3's limit on a key's length, in bytes of its UTF-8 encoding. */
export const MAX_KEY_BYTES = 1024;

/**
 * Checks that a destination key can be written at all.
 *
 * @throws KeyTooLongError naming the key, when it is over {@link MAX_KEY_BYTES}
 */
export function checkKeyLength(key: string): void {
  const bytes = Buffer.byteLength(key, "utf8");
  if (bytes > MAX_KEY_BYTES) throw new KeyTooLongError(key, bytes, MAX_KEY_BYTES);
}
