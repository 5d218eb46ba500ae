import { timingSafeEqual } from "node:crypto";

/**
 * Compares two byte strings without revealing, through timing, how many
 * leading bytes match (which would let a destination guess an expected value
 * byte by byte). Lengths are public, so unequal lengths return false at once.
 * Never throws.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  try {
    if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array)) return false;
    if (a.byteLength !== b.byteLength) return false;
    return timingSafeEqual(a, b);
  } catch {
    return false;
  }
}
