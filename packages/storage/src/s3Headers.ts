import { isArchiveClass } from "./archiveClass.js";
import type { ObjectHead } from "./ObjectStore.js";

/** The header each SDK input member the adapter's object requests use travels in (S3's REST binding). */
const HEADER_OF: Record<string, string> = {
  ContentLength: "content-length",
  ContentMD5: "content-md5",
  ContentSHA256: "x-amz-content-sha256",
  ContentType: "content-type",
  ContentEncoding: "content-encoding",
  ContentLanguage: "content-language",
  ContentDisposition: "content-disposition",
  CacheControl: "cache-control",
  Expires: "expires",
  Range: "range",
  IfMatch: "if-match",
  IfNoneMatch: "if-none-match",
  StorageClass: "x-amz-storage-class",
  ServerSideEncryption: "x-amz-server-side-encryption",
  SSEKMSKeyId: "x-amz-server-side-encryption-aws-kms-key-id",
  SSEKMSEncryptionContext: "x-amz-server-side-encryption-context",
  Tagging: "x-amz-tagging",
  ExpectedBucketOwner: "x-amz-expected-bucket-owner",
  SSECustomerAlgorithm: "x-amz-server-side-encryption-customer-algorithm",
  SSECustomerKey: "x-amz-server-side-encryption-customer-key",
  SSECustomerKeyMD5: "x-amz-server-side-encryption-customer-key-md5",
  CopySource: "x-amz-copy-source",
  CopySourceIfMatch: "x-amz-copy-source-if-match",
  CopySourceRange: "x-amz-copy-source-range",
  CopySourceSSECustomerAlgorithm: "x-amz-copy-source-server-side-encryption-customer-algorithm",
  CopySourceSSECustomerKey: "x-amz-copy-source-server-side-encryption-customer-key",
  CopySourceSSECustomerKeyMD5: "x-amz-copy-source-server-side-encryption-customer-key-md5",
  MetadataDirective: "x-amz-metadata-directive",
  TaggingDirective: "x-amz-tagging-directive",
};

/**
 * The headers the SDK would send for `input` (members named as in its commands): empty values
 * left out as its serializer leaves them, Metadata as x-amz-meta-*, an empty value included (S3
 * keeps `x-amz-meta-k:` as the key with an empty value, and a HEAD states it). Expires is text,
 * sent as it is (the SDK's Date would turn `0` into a date the source never stated).
 */
export function requestHeaders(input: Record<string, unknown>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [member, value] of Object.entries(input)) {
    if (value === undefined || value === "") continue;
    if (member === "Metadata") {
      for (const [name, text] of Object.entries(value as Record<string, string>))
        headers[`x-amz-meta-${name.toLowerCase()}`] = text;
      continue;
    }
    const header = HEADER_OF[member];
    if (header === undefined) throw new Error(`no header for request member ${member}`);
    headers[header] = String(value);
  }
  return headers;
}

type ResponseHeaders = Record<string, string | string[] | undefined>;

function text(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function validDate(value: string | undefined): Date | undefined {
  const date = value === undefined ? undefined : new Date(value);
  return date === undefined || Number.isNaN(date.getTime()) ? undefined : date;
}

/** The version a write's answer names (x-amz-version-id), where it names one. */
export function writtenVersion(headers: ResponseHeaders): { versionId?: string } {
  const versionId = text(headers, "x-amz-version-id");
  return versionId ? { versionId } : {};
}

/** An object's head from the headers of a HEAD or GET response; `size` is the whole object's. */
export function headOfResponse(key: string, headers: ResponseHeaders, size: number): ObjectHead {
  const storageClass = text(headers, "x-amz-storage-class");
  const restored = text(headers, "x-amz-restore")?.includes('ongoing-request="false"') ?? false;
  const lastModified = validDate(text(headers, "last-modified"));
  const versionId = text(headers, "x-amz-version-id");
  const sealed =
    text(headers, "x-amz-server-side-encryption")?.startsWith("aws:kms") === true ||
    text(headers, "x-amz-server-side-encryption-customer-algorithm") !== undefined;
  const metadata: Record<string, string> = {};
  for (const name of Object.keys(headers))
    if (name.startsWith("x-amz-meta-")) metadata[name.slice(11)] = text(headers, name) ?? "";
  const optional = {
    contentType: text(headers, "content-type"),
    contentEncoding: text(headers, "content-encoding"),
    contentLanguage: text(headers, "content-language"),
    contentDisposition: text(headers, "content-disposition"),
    cacheControl: text(headers, "cache-control"),
    expires: text(headers, "expires"),
  };
  return {
    key,
    size,
    etag: text(headers, "etag") ?? "",
    ...(lastModified ? { lastModified: lastModified.getTime() } : {}),
    // "null" too (a version written while the bucket did not keep versions): it says the
    // bucket keeps or kept versions, which the digest index must know (see `entryNeedsHead`).
    ...(versionId ? { versionId } : {}),
    ...(storageClass ? { storageClass } : {}),
    archived: isArchiveClass(storageClass) && !restored,
    ...(sealed ? { etagNotMd5: true as const } : {}),
    ...Object.fromEntries(Object.entries(optional).filter(([, value]) => value)),
    metadata,
  };
}
