import { randomBytes, randomFillSync } from "node:crypto";
import { ChunksyncError } from "../errors.js";

/** Nonce length in bytes: 256 bits, so a repeat is never expected across any number of runs. */
export const NONCE_BYTES = 32;

/** A source of random bytes; injectable so tests can be deterministic. */
export type RandomSource = (n: number) => Buffer;

// Each randomBytes() call costs a trip into OpenSSL (about 2.5 us here), which dominates
// when a decode challenge draws 10,000 IVs. Drawing 8 KiB at a time from the same CSPRNG
// and handing each byte out once is as random and about 15 times faster (node's
// randomUUID caches entropy the same way).
const POOL_BYTES = 8192;
let pool = Buffer.alloc(0);
let used = 0;

/** The CSPRNG, through a small pool; every byte is handed out once and then wiped. */
export function secureRandomBytes(n: number): Buffer {
  if (n > POOL_BYTES / 4) return randomBytes(n);
  if (used + n > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafeSlow(POOL_BYTES));
    used = 0;
  }
  const out = Buffer.allocUnsafe(n);
  pool.copy(out, 0, used, used + n);
  pool.fill(0, used, used + n);
  used += n;
  return out;
}

/** Draws `n` bytes from `random`, refusing a source that returns the wrong amount. */
export function drawBytes(n: number, random: RandomSource = secureRandomBytes): Buffer {
  const bytes = random(n);
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== n) {
    throw new ChunksyncError("RANDOM_SOURCE_FAILED", `the random source did not return ${n} bytes`);
  }
  // The pool hands out a fresh copy already; another source's buffer is copied, in case it reuses it.
  return random === secureRandomBytes ? (bytes as Buffer) : Buffer.from(bytes);
}

/** A fresh 32-byte nonce from the CSPRNG (or from `random`, in tests). */
export function drawNonce(random: RandomSource = secureRandomBytes): Buffer {
  return drawBytes(NONCE_BYTES, random);
}
