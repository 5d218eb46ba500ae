import { createCipheriv, createHmac } from "node:crypto";
import { ValidationError } from "../errors.js";
import { checkDigest } from "./checkDigest.js";
import { NONCE_BYTES } from "./drawNonce.js";
import { type ChallengeContext, encodeContext } from "./encodeContext.js";
import { checkSecret } from "./pairingSecret.js";

/** AES-CTR initialisation vector length. */
export const IV_BYTES = 16;
const CHUNK_NONCE_LABEL = Buffer.from("chunk-nonce", "utf8");

/**
 * The "decode" variant's per-chunk nonce: `HMAC-SHA256(nonce, "chunk-nonce" || encodeContext(ctx))`.
 * A destination that learns one chunk's nonce (because it holds that chunk)
 * learns nothing about any other chunk's.
 */
export function deriveChunkNonce(nonce: Uint8Array, ctx: ChallengeContext): Buffer {
  if (!(nonce instanceof Uint8Array) || nonce.byteLength !== NONCE_BYTES) {
    throw new ValidationError("nonce", `${NONCE_BYTES} bytes`);
  }
  return createHmac("sha256", nonce).update(CHUNK_NONCE_LABEL).update(encodeContext(ctx)).digest();
}

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const mac = createHmac("sha256", key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/**
 * HKDF-SHA256 (RFC 5869) with a 32-byte output: one HMAC to extract, one to
 * expand. Written out because node's `hkdfSync` refuses `info` over 1024 bytes,
 * and a context holding two 1024-byte keys is longer than that.
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): Buffer {
  const prk = hmac(salt, ikm);
  return hmac(prk, info, Buffer.of(1));
}

/**
 * The "decode" variant's chunk key:
 * `HKDF-SHA256(ikm = digest, salt = K, info = encodeContext(ctx))`, 32 bytes.
 * The pairing secret as salt makes the extract step a PRF keyed by K, so
 * without K nobody can test guesses of a digest (a CRC32C has only 2^32).
 */
export function deriveChunkKey(secret: Uint8Array, ctx: ChallengeContext, digest: Uint8Array): Buffer {
  const salt = checkSecret(secret);
  return hkdfSha256(checkDigest(digest, ctx.algorithm, "digest"), salt, encodeContext(ctx));
}

function aesCtr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  if (!(iv instanceof Uint8Array) || iv.byteLength !== IV_BYTES) {
    throw new ValidationError("iv", `${IV_BYTES} bytes`);
  }
  const cipher = createCipheriv("aes-256-ctr", key, iv);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

/**
 * Encrypts a chunk nonce under a chunk key with AES-256-CTR and a fresh random
 * IV. The chunk key repeats across requests for the same chunk, so the IV must
 * never repeat: 128 random bits make that negligible.
 */
export function sealChunkNonce(key: Uint8Array, chunkNonce: Uint8Array, iv: Uint8Array): Buffer {
  if (!(chunkNonce instanceof Uint8Array) || chunkNonce.byteLength !== NONCE_BYTES) {
    throw new ValidationError("chunkNonce", `${NONCE_BYTES} bytes`);
  }
  return aesCtr(key, iv, chunkNonce);
}

/**
 * Decrypts a sealed chunk nonce. With the wrong key (a different digest) the
 * result is unrelated bytes, never an error, so a mismatch looks like any
 * other answer and the source alone decides.
 */
export function openChunkNonce(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Buffer {
  if (!(ciphertext instanceof Uint8Array) || ciphertext.byteLength !== NONCE_BYTES) {
    throw new ValidationError("ct", `${NONCE_BYTES} bytes`);
  }
  return aesCtr(key, iv, ciphertext);
}
