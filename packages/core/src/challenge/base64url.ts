/** Base64url without padding, the form every binary value takes in protocol messages. */
export function toBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** Number of base64url characters (unpadded) that encode `bytes` bytes. */
export function base64urlLength(bytes: number): number {
  return Math.ceil((bytes * 4) / 3);
}

/** Each base64url character's 6-bit value by char code; -1 for a character outside the alphabet. */
const VALUE = new Int8Array(128).fill(-1);
for (const [i, c] of [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"].entries())
  VALUE[c.charCodeAt(0)] = i;

/**
 * Strictly decodes unpadded base64url of exactly `bytes` bytes, or returns
 * undefined. Node's decoder skips bad characters silently; this one accepts
 * only the canonical spelling, so one value has exactly one encoding: every
 * character in the alphabet, and the bits of the last character past the
 * value's end zero (checked here rather than by encoding the value again: three
 * of these per object in a `check`).
 */
export function fromBase64url(text: unknown, bytes: number): Buffer | undefined {
  if (!canonical(text, bytes)) return undefined;
  const decoded = Buffer.from(text, "base64url");
  return decoded.length === bytes ? decoded : undefined;
}

/**
 * Strictly decodes unpadded base64url (see {@link fromBase64url}) of exactly `into.length` bytes
 * into `into` (a typed array's bytes: no buffer of its own); whether it did.
 */
export function fromBase64urlInto(text: unknown, into: Uint8Array): boolean {
  if (!canonical(text, into.length)) return false;
  return Buffer.from(into.buffer, into.byteOffset, into.length).write(text, "base64url") === into.length;
}

/** Whether `text` is the canonical unpadded base64url of some `bytes` bytes. */
function canonical(text: unknown, bytes: number): text is string {
  if (typeof text !== "string" || text.length !== base64urlLength(bytes)) return false;
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    last = code < 128 ? VALUE[code]! : -1;
    if (last < 0) return false;
  }
  // 6 bits a character, 8 a byte: the last character carries this many bits past the end.
  const spare = (text.length * 6) % 8;
  return spare === 0 || (last & ((1 << spare) - 1)) === 0;
}

/** Strictly decodes unpadded base64url of any number of bytes (see {@link fromBase64url}), or returns undefined. */
export function fromBase64urlOfAnyLength(text: unknown): Buffer | undefined {
  if (typeof text !== "string") return undefined;
  return fromBase64url(text, Math.floor((text.length * 3) / 4));
}
