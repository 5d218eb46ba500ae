/** ETags compare without their quotes: some servers quote them in one response and not another. */
export function sameEtag(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  if (a === b) return true;
  return a.replace(/^"|"$/g, "") === b.replace(/^"|"$/g, "");
}

/**
 * The base64 of the MD5 an ETag states, for sending as Content-MD5, where the ETag has the form
 * of one (32 hex digits, no part count); undefined otherwise. Only the caller knows whether the
 * object's ETag is its MD5 at all (not under SSE-KMS or SSE-C, see `ObjectHead.etagNotMd5`).
 */
export function etagMd5(etag: string): string | undefined {
  return hasMd5Form(etag) ? Buffer.from(etag.replace(/^"|"$/g, ""), "hex").toString("base64") : undefined;
}

/** Whether {@link etagMd5} finds an MD5 in `etag`, without decoding it (asked of every source object). */
export function hasMd5Form(etag: string): boolean {
  return MD5_FORM.test(etag);
}

/** 32 hex digits, quoted or not (a lone quote on either side as `replace(/^"|"$/g, "")` drops it). */
const MD5_FORM = /^"?[0-9a-f]{32}"?$/i;
