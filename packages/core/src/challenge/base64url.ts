/** Base64url without padding, the form every binary value takes in protocol messages. */
export function toBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** Number of base64url characters (unpadded) that encode `bytes` bytes. */
export function base64urlLength(bytes: number): number {
  return Math.ceil((bytes * 4) / 3);
}

const ALPHABET = /^[A-Za-z0-9_-]*$/;

/**
 * Strictly decodes unpadded base64url of exactly `bytes` bytes, or returns
 * undefined. Node's decoder skips bad characters silently; this one accepts
 * only the canonical spelling, so one value has exactly one encoding.
 */
export function fromBase64url(text: unknown, bytes: number): Buffer | undefined {
  if (typeof text !== "string" || text.length !== base64urlLength(bytes) || !ALPHABET.test(text)) {
    return undefined;
  }
  const decoded = Buffer.from(text, "base64url");
  if (decoded.length !== bytes || decoded.toString("base64url") !== text) return undefined;
  return decoded;
}

/** Strictly decodes unpadded base64url of any number of bytes (see {@link fromBase64url}), or returns undefined. */
export function fromBase64urlOfAnyLength(text: unknown): Buffer | undefined {
  if (typeof text !== "string") return undefined;
  return fromBase64url(text, Math.floor((text.length * 3) / 4));
}
