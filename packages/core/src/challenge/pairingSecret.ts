import { randomBytes } from "node:crypto";
import { ValidationError } from "../errors.js";
import { drawBytes, type RandomSource } from "./drawNonce.js";

/** Minimum pairing secret length: 256 bits, the HMAC-SHA256 key size. */
export const MIN_PAIRING_SECRET_BYTES = 32;
// Far above any sensible key; stops a pasted file from being taken as a secret.
const MAX_PAIRING_SECRET_BYTES = 1024;

const HEX = /^[0-9a-fA-F]+$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A new random pairing secret (32 bytes from the CSPRNG). Store it where only the two data planes can read it. */
export function drawPairingSecret(random: RandomSource = randomBytes): Buffer {
  return drawBytes(MIN_PAIRING_SECRET_BYTES, random);
}

/** A pairing secret as text (hex), the form {@link parsePairingSecret} reads back. */
export function formatPairingSecret(secret: Uint8Array): string {
  return Buffer.from(secret).toString("hex");
}

/** Where a mistyped hex secret is told from base64: at most one character in this many is not a hex digit. */
const HEX_TYPOS_PER = 16;

/**
 * The secret `text` spells, or why it spells none (never quoting it). A colon ends a prefix:
 * none of the three spellings holds one.
 */
function decodeText(text: string): Buffer | string {
  const colon = text.indexOf(":");
  const prefix = colon < 0 ? undefined : text.slice(0, colon);
  const known = prefix === undefined || prefix === "hex" || prefix === "base64" || prefix === "base64url";
  if (!known || text.includes(":", colon + 1))
    return "a colon may only end a prefix (hex:, base64: or base64url:)";
  // Tools wrap what they print (openssl rand -base64 and base64 at 64 or 76 columns, xxd -p at 60).
  const body = text
    .slice(colon + 1)
    .trim()
    .replace(/\r?\n/g, "");
  if (body === "") return "it is empty";
  // Text of only hex digits is read as hex; prefixes settle the rare base64 secret that looks like hex.
  if (prefix === "hex" || prefix === undefined) {
    if (HEX.test(body))
      return body.length % 2 === 0
        ? Buffer.from(body, "hex")
        : `it is ${body.length} hex digits, an odd number`;
    if (prefix === "hex") return "it holds characters that are not hex digits";
    // A hex secret with a digit mistyped (O for 0) is still base64, of other bytes: refused.
    const others = body.replace(/[0-9a-fA-F]/g, "").length;
    if (body.length >= 2 * MIN_PAIRING_SECRET_BYTES && others * HEX_TYPOS_PER <= body.length)
      return `it is hex digits but ${others} character${others === 1 ? "" : "s"} (a typo?)`;
  }
  if ((prefix === "base64" || prefix === undefined) && BASE64.test(body)) {
    const decoded = Buffer.from(body, "base64");
    // Node skips characters it cannot decode; only a canonical spelling is accepted.
    if (decoded.toString("base64").replace(/=+$/, "") === body.replace(/=+$/, "")) return decoded;
  }
  if ((prefix === "base64url" || prefix === undefined) && BASE64URL.test(body)) {
    const decoded = Buffer.from(body, "base64url");
    if (decoded.toString("base64url") === body) return decoded;
  }
  return "it is neither";
}

/**
 * Reads a pairing secret given as bytes, or as text in hex or base64
 * (standard or url-safe; `hex:`, `base64:` or `base64url:` may prefix it).
 * Errors say what was wrong and how long the secret was, never its content.
 *
 * @param field - where the secret came from, used in errors
 * @throws ValidationError unless it decodes to 32-1024 bytes that are not all the same
 */
export function parsePairingSecret(input: Uint8Array | string, field = "pairingSecret"): Buffer {
  const expected = `at least ${MIN_PAIRING_SECRET_BYTES} random bytes, as hex (${2 * MIN_PAIRING_SECRET_BYTES}+ hex digits) or base64`;
  const secret = typeof input === "string" ? decodeText(input.trim()) : Buffer.from(input);
  if (typeof secret === "string") throw new ValidationError(field, `${expected}; ${secret}`);
  if (secret.length < MIN_PAIRING_SECRET_BYTES || secret.length > MAX_PAIRING_SECRET_BYTES) {
    throw new ValidationError(field, `${expected}; it decodes to ${secret.length} bytes`);
  }
  // A placeholder such as 64 zeros passes the length check but is no secret at all.
  if (secret.every((byte) => byte === secret[0])) {
    throw new ValidationError(field, `${expected}; it is one byte repeated, not a random secret`);
  }
  return secret;
}

/** Checks a secret handed to the protocol functions, without revealing it. */
export function checkSecret(secret: unknown, field = "secret"): Buffer {
  if (!(secret instanceof Uint8Array) || secret.byteLength < MIN_PAIRING_SECRET_BYTES) {
    throw new ValidationError(field, `a pairing secret of at least ${MIN_PAIRING_SECRET_BYTES} bytes`);
  }
  // A Buffer as it is: this runs for every keyed value of a run.
  return Buffer.isBuffer(secret) ? secret : Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength);
}
