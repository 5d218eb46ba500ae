import { ValidationError } from "../errors.js";
import { checkDigest } from "./checkDigest.js";
import { NONCE_BYTES } from "./drawNonce.js";
import { type ChallengeContext, ContextWriter, writeContext } from "./encodeContext.js";
import { HmacSha256 } from "./HmacSha256.js";
import { checkSecret } from "./pairingSecret.js";

/** Where each answer's message is written: answers are made one at a time, synchronously. */
const message = new ContextWriter();
/**
 * The MAC keyed by the secret answered under last (a run answers under one), so that an answer
 * costs two one-shot hashes instead of a native HMAC object keyed afresh: both sides answer
 * every object a `check` decides, most of them from the index.
 */
let keyed: { secret: Buffer; mac: HmacSha256 } | undefined;

/** The MAC keyed by `secret`, kept for the next call under the same secret. Not for concurrent use. */
export function macUnder(secret: Buffer): HmacSha256 {
  if (keyed === undefined || !keyed.secret.equals(secret))
    keyed = { secret: Buffer.from(secret), mac: new HmacSha256(secret) };
  return keyed.mac;
}

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
  message.reset();
  writeContext(message, ctx);
  message.raw(nonce);
  message.raw(checked);
  return macUnder(key).mac(message.bytes());
}
