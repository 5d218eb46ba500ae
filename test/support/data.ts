import { createCipheriv, createHash } from "node:crypto";

/** Deterministic pseudo-random bytes (AES-CTR keystream of the seed): fast and reproducible. */
export function seededBytes(seed: string, length: number): Buffer {
  const key = createHash("sha256").update(seed).digest().subarray(0, 16);
  return createCipheriv("aes-128-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** A copy of `data` with the byte at `offset` flipped. */
export function flipByte(data: Buffer, offset: number): Buffer {
  const copy = Buffer.from(data);
  copy[offset] = (copy[offset] ?? 0) ^ 0xff;
  return copy;
}
