import { EmptyKeyError, KeyTooLongError } from "./errors.js";

/** S3's limit on a key's length, in bytes of its UTF-8 encoding. */
export const MAX_KEY_BYTES = 1024;

/**
 * The most bytes a digest index adds after the prefix it is kept under: the last segment of its
 * keys, `chunksync-digest-index.` and a piece's name (see indexKey.ts: 59 bytes with room for
 * its run start and its count to grow). The prefix of an index is at most {@link MAX_KEY_BYTES}
 * less this, or its pieces could not be written.
 */
export const INDEX_NAME_MAX_BYTES = 64;

/**
 * Checks that a destination key can be written at all.
 *
 * @throws EmptyKeyError when it is empty
 * @throws KeyTooLongError naming the key, when it is over {@link MAX_KEY_BYTES}
 */
export function checkDestinationKey(key: string): void {
  if (key === "") throw new EmptyKeyError();
  const bytes = Buffer.byteLength(key, "utf8");
  if (bytes > MAX_KEY_BYTES) throw new KeyTooLongError(key, bytes, MAX_KEY_BYTES);
}

/**
 * Whether S3 can hold an object under `key`: not empty (a request for "" names the bucket), and
 * within {@link MAX_KEY_BYTES} (a longer one is refused with HTTP 400). A key that fails this
 * names no object anywhere, so no request needs to ask for it.
 */
export function isObjectKey(key: string): boolean {
  return key !== "" && (key.length * 3 <= MAX_KEY_BYTES || Buffer.byteLength(key, "utf8") <= MAX_KEY_BYTES);
}

const isSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdfff;
const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Orders two keys as S3 lists them: by their UTF-8 bytes, as `Buffer.compare` of their
 * encodings would, without encoding them (this runs several times per object of a run).
 * UTF-16 code units order alike except around surrogates (characters beyond U+FFFF sort above
 * U+E000..U+FFFF in UTF-8, lone ones encode as U+FFFD): where a surrogate is next to the
 * first difference, the keys are encoded and their bytes compared.
 */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  // Keys without a surrogate (nearly all) order as the engine compares strings: a native
  // comparison and two native scans cost less than this loop over the keys' characters.
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : 1;
  const common = Math.min(a.length, b.length);
  let i = 0;
  while (i < common && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (
    (i > 0 && isSurrogate(a.charCodeAt(i - 1))) ||
    (i < a.length && isSurrogate(a.charCodeAt(i))) ||
    (i < b.length && isSurrogate(b.charCodeAt(i)))
  ) {
    return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
  }
  if (i === common) return a.length < b.length ? -1 : 1;
  return a.charCodeAt(i) < b.charCodeAt(i) ? -1 : 1;
}
