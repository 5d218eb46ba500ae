import { createHash } from "node:crypto";

/**
 * The ETag S3 gives an object completed from `parts` (in the order sent): the MD5 of the
 * parts' own ETags as bytes, a dash and the count. Undefined where a part's ETag is not the
 * hex of an MD5 (a server that does not say, or says something else), so nothing is guessed.
 */
export function multipartEtag(parts: readonly { etag: string }[]): string | undefined {
  const md5s: Buffer[] = [];
  for (const { etag } of parts) {
    const hex = etag.replace(/^"|"$/g, "");
    if (!/^[0-9a-f]{32}$/i.test(hex)) return undefined;
    md5s.push(Buffer.from(hex, "hex"));
  }
  if (md5s.length === 0) return undefined;
  return `"${createHash("md5").update(Buffer.concat(md5s)).digest("hex")}-${md5s.length}"`;
}
