import { createHmac } from "node:crypto";
import { ValidationError } from "../errors.js";
import { checkDigest } from "./checkDigest.js";
import { NONCE_BYTES } from "./drawNonce.js";
import { type ChallengeContext, encodeContext } from "./encodeContext.js";
import { checkSecret } from "./pairingSecret.js";

/**
 * The "encode" variant's answer for one chunk:
 * `HMAC-SHA256(K, encodeContext(ctx) || nonce || digest)`.
 *
 * Both sides compute it, each from its own digest; only a side holding the
 * same chunk data and the pairing secret gets the source's value. The context
 * ties it to one chunk of one object pair and direction, the request's fresh
 * nonce to one request, so a recorded answer is useless anywhere else. The
 * concatenation is unambiguous: the context is self-delimiting, the nonce has
 * a fixed length and the digest's length is fixed by the algorithm in the context.
 */
export function encodeAnswer(
  secret: Uint8Array,
  ctx: ChallengeContext,
  nonce: Uint8Array,
  digest: Uint8Array,
): Buffer {
  const key = checkSecret(secret);
  if (!(nonce instanceof Uint8Array) || nonce.byteLength !== NONCE_BYTES) {
    throw new ValidationError("nonce", `${NONCE_BYTES} bytes`);
  }
  const checked = checkDigest(digest, ctx.algorithm, "digest");
  return createHmac("sha256", key).update(encodeContext(ctx)).update(nonce).update(checked).digest();
}
