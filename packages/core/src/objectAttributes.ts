/**
 * What a writer restates when it (re)creates an object: S3 carries nothing over on a new
 * upload, so these are also what keeps a destination in step when its bytes are equal.
 */
export interface ObjectAttributes {
  contentType?: string;
  contentEncoding?: string;
  contentLanguage?: string;
  contentDisposition?: string;
  cacheControl?: string;
  /**
   * The Expires header's text exactly as the server returns it: S3 stores the text it was given,
   * an HTTP date or not (`0`, `-1`, `never`), so it is copied and compared as text, never parsed.
   */
  expires?: string;
  metadata: Record<string, string>;
  /** URL-encoded tag set (`a=1&b=2`) as S3's Tagging header takes it; absent means no tags. */
  tagging?: string;
}

/** The attributes held as text, each a header of its own (the metadata and the tag set aside). */
export const ATTRIBUTE_TEXTS = [
  "contentType",
  "contentEncoding",
  "contentLanguage",
  "contentDisposition",
  "cacheControl",
  "expires",
] as const;

/**
 * The attributes of a head (which carries more than attributes), dropping empty ones.
 * A HEAD reports only a tag count, so the tag set read on its own is passed as `tagging`.
 */
export function attributesOf(head: ObjectAttributes, tagging = head.tagging): ObjectAttributes {
  const attributes: ObjectAttributes = { metadata: { ...head.metadata } };
  for (const field of ATTRIBUTE_TEXTS) {
    const value = head[field];
    if (value) attributes[field] = value;
  }
  if (tagging) attributes.tagging = tagging;
  return attributes;
}

/** A tag set in one spelling: S3 returns tags in any order and encodings may differ. */
function tagSet(tagging: string | undefined): string {
  return JSON.stringify([...new URLSearchParams(tagging ?? "")].sort());
}

/** Whether two metadata records hold the same names with the same values (checked once per object). */
function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return false;
  for (const name of names) if (!Object.hasOwn(b, name) || a[name] !== b[name]) return false;
  return true;
}

/**
 * The types a server gives an object written with no Content-Type: S3's and Ceph RGW's default,
 * and the one S3 clients (the AWS SDK, our own requests) send for a body of no stated type.
 */
const UNSTATED_TYPES = new Set(["", "binary/octet-stream", "application/octet-stream"]);

/**
 * Whether `have` must be rewritten to carry `want`: the attributes a write restates differ.
 * Tag sets count only with `tags` (`--tags`), since without it the engine neither reads nor
 * writes them. Absent and empty values are the same, as S3 stores them. A source that states
 * no Content-Type (an empty one) is matched by the default type a server gives an object
 * written without one: no write can give the destination an empty type everywhere, and any
 * other rule rewrote such an object in every run.
 */
export function attributesDiffer(
  want: ObjectAttributes,
  have: ObjectAttributes,
  { tags }: { tags: boolean },
): boolean {
  const unstated = (want.contentType ?? "") === "";
  if (unstated ? !UNSTATED_TYPES.has(have.contentType ?? "") : want.contentType !== have.contentType)
    return true;
  if (ATTRIBUTE_TEXTS.some((f) => f !== "contentType" && (want[f] ?? "") !== (have[f] ?? ""))) return true;
  if (!sameRecord(want.metadata, have.metadata)) return true;
  return tags && tagSet(want.tagging) !== tagSet(have.tagging);
}
