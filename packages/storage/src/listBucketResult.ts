import { notS3Answer } from "./errors.js";
import type { ObjectSummary, PendingUpload } from "./ObjectStore.js";

/** One page of a ListObjectsV2 answer, as the adapter uses it. */
export interface ListPage {
  objects: ObjectSummary[];
  /** The token of the next page; undefined on the last one. */
  nextToken: string | undefined;
}

/** One page of a ListObjectVersions answer: the current version of each key it holds. */
export interface VersionsPage {
  /** Each with its `versionId`; a key whose current version is a delete marker is left out. */
  objects: ObjectSummary[];
  /** How many versions and delete markers the page held, current or not. */
  entries: number;
  /** Where the next page starts; undefined on the last. */
  next: { keyMarker: string; versionIdMarker: string | undefined } | undefined;
}

/** One page of a ListMultipartUploads answer. */
export interface UploadsPage {
  uploads: PendingUpload[];
  /** Where the next page starts; undefined on the last. */
  next: { keyMarker: string; uploadIdMarker: string | undefined } | undefined;
}

/**
 * A ListObjectsV2 body that is not the XML S3 answers. The adapter reports it as it reported the
 * SDK's failure to deserialise one: a StorageUnavailableError (translateS3Error) with this message.
 */
export class ListingXmlError extends Error {
  override readonly name = "ListingXmlError";
  readonly code = "MALFORMED_LISTING";
}

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** XML's character references and its five named entities; anything else is malformed. */
function decodeText(raw: string): string {
  // XML turns a literal CR (alone or before LF) into LF; servers escape a CR in a key as &#x0d;.
  const text = raw.includes("\r") ? raw.replace(/\r\n?/g, "\n") : raw;
  if (!text.includes("&")) return text;
  // Every ETag in a listing: quotes around hex digits (or a part count), escaped.
  if (text.startsWith("&quot;") && text.indexOf("&", 6) === text.length - 6 && text.endsWith("&quot;"))
    return `"${text.slice(6, -6)}"`;
  let out = "";
  let from = 0;
  for (let amp = text.indexOf("&"); amp !== -1; amp = text.indexOf("&", from)) {
    const semi = text.indexOf(";", amp);
    if (semi === -1) throw new ListingXmlError(`unterminated entity in ${JSON.stringify(raw)}`);
    const name = text.slice(amp + 1, semi);
    let decoded = NAMED[name];
    if (decoded === undefined) {
      const code = /^#x[0-9a-fA-F]{1,6}$/.test(name)
        ? Number.parseInt(name.slice(2), 16)
        : /^#[0-9]{1,7}$/.test(name)
          ? Number.parseInt(name.slice(1), 10)
          : Number.NaN;
      if (!(code >= 0 && code <= 0x10ffff))
        throw new ListingXmlError(`unknown entity &${name}; in ${JSON.stringify(raw)}`);
      decoded = String.fromCodePoint(code);
    }
    out += text.slice(from, amp) + decoded;
    from = semi + 1;
  }
  return out + text.slice(from);
}

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;

/**
 * A scanner over the elements of one parent: each step reads the next child's name and the
 * raw text between its tags. S3's listing elements never nest an element of their own name,
 * so the first closing tag of that name ends a child (Owner, RestoreStatus are skipped whole).
 */
class Elements {
  at: number;
  name = "";
  /** Start and end of the current child's content. */
  start = 0;
  end = 0;
  /** Whether the current child holds markup (elements, CDATA), not text only. */
  markup = false;

  constructor(
    readonly xml: string,
    from: number,
    readonly parent: string,
  ) {
    this.at = from;
  }

  /** Moves to the next child; false at the parent's closing tag. */
  next(): boolean {
    const x = this.xml;
    while (this.at < x.length && isSpace(x.charCodeAt(this.at))) this.at++;
    if (x.charCodeAt(this.at) !== 0x3c)
      throw new ListingXmlError(`text where an element of <${this.parent}> was expected`);
    if (x.charCodeAt(this.at + 1) === 0x2f) {
      const close = x.indexOf(">", this.at);
      if (close === -1 || x.slice(this.at + 2, close).trim() !== this.parent)
        throw new ListingXmlError(`<${this.parent}> is not closed`);
      this.at = close + 1;
      return false;
    }
    const tagEnd = x.indexOf(">", this.at);
    if (tagEnd === -1) throw new ListingXmlError("unterminated tag");
    let nameEnd = this.at + 1;
    while (nameEnd < tagEnd && !isSpace(x.charCodeAt(nameEnd)) && x.charCodeAt(nameEnd) !== 0x2f) nameEnd++;
    this.name = x.slice(this.at + 1, nameEnd);
    if (x.charCodeAt(tagEnd - 1) === 0x2f) {
      this.start = this.end = this.at = tagEnd + 1;
      this.markup = false;
      return true;
    }
    this.start = tagEnd + 1;
    // Most children hold text only: the next markup is their own closing tag.
    const next = x.indexOf("<", this.start);
    const end = next + 2 + this.name.length;
    if (
      next !== -1 &&
      x.charCodeAt(next + 1) === 0x2f &&
      x.startsWith(this.name, next + 2) &&
      x.charCodeAt(end) === 0x3e
    ) {
      this.end = next;
      this.at = end + 1;
      this.markup = false;
      return true;
    }
    const closing = `</${this.name}>`;
    const close = x.indexOf(closing, this.start);
    if (close === -1) throw new ListingXmlError(`<${this.name}> is not closed`);
    this.end = close;
    this.at = close + closing.length;
    this.markup = true;
    return true;
  }

  /** The current child's text, entities decoded; an element inside it (or CDATA) is malformed here. */
  text(): string {
    if (this.markup) throw new ListingXmlError(`<${this.name}> holds markup where text was expected`);
    return decodeText(this.xml.slice(this.start, this.end));
  }
}

/** The value of digit `at` of `text`, or NaN. */
function digit(text: string, at: number): number {
  const c = text.charCodeAt(at) - 0x30;
  return c >= 0 && c <= 9 ? c : Number.NaN;
}

/** The number written by the digits `from` to `to` of `text`, or NaN. */
function digits(text: string, from: number, to: number): number {
  let n = 0;
  for (let at = from; at < to; at++) n = n * 10 + digit(text, at);
  return n;
}

/**
 * `Date.parse(text)`, taken straight from the digits where `text` is the form S3 states a
 * LastModified in (`2026-12-03T12:10:01.123Z`) with every field in its range: Date.parse was a
 * quarter of parsing a listing. Anything else goes to Date.parse.
 */
export function parseTimestamp(text: string): number {
  if (
    text.length === 24 &&
    text.charCodeAt(4) === 0x2d &&
    text.charCodeAt(7) === 0x2d &&
    text.charCodeAt(10) === 0x54 &&
    text.charCodeAt(13) === 0x3a &&
    text.charCodeAt(16) === 0x3a &&
    text.charCodeAt(19) === 0x2e &&
    text.charCodeAt(23) === 0x5a
  ) {
    const year = digits(text, 0, 4);
    const month = digits(text, 5, 7);
    const day = digits(text, 8, 10);
    const hour = digits(text, 11, 13);
    const minute = digits(text, 14, 16);
    const second = digits(text, 17, 19);
    const ms = digits(text, 20, 23);
    // NaN fails every comparison: a non-digit anywhere falls through to Date.parse.
    if (
      year >= 1970 &&
      month >= 1 &&
      month <= 12 &&
      day >= 1 &&
      day <= 31 &&
      hour <= 23 &&
      minute <= 59 &&
      second <= 59 &&
      ms >= 0
    )
      return Date.UTC(year, month - 1, day, hour, minute, second, ms);
  }
  return Date.parse(text);
}

/**
 * One `<Contents>` of a ListObjectsV2 answer, or one `<Version>` of a ListObjectVersions answer
 * (`parent`), which also states its VersionId and whether it is the key's current version.
 */
function contents(
  xml: string,
  from: number,
  parent = "Contents",
): { summary: ObjectSummary | undefined; latest: boolean | undefined; end: number } {
  const e = new Elements(xml, from, parent);
  let key: string | undefined;
  let size = 0;
  let etag = "";
  let storageClass: string | undefined;
  let lastModified: number | undefined;
  let versionId: string | undefined;
  let latest: boolean | undefined;
  while (e.next()) {
    switch (e.name) {
      case "Key":
        key = e.text();
        break;
      case "Size": {
        const text = e.text();
        size = Number(text);
        if (!/^\d+$/.test(text) || !Number.isSafeInteger(size)) throw new ListingXmlError(`bad Size ${text}`);
        break;
      }
      case "ETag":
        // Quotes and all, as the SDK gave it: ETags are compared as the server states them.
        etag = e.text();
        break;
      case "StorageClass":
        storageClass = e.text() || undefined;
        break;
      case "LastModified": {
        const text = e.text();
        lastModified = parseTimestamp(text);
        if (Number.isNaN(lastModified)) throw new ListingXmlError(`bad LastModified ${text}`);
        break;
      }
      case "VersionId":
        versionId = e.text() || undefined;
        break;
      case "IsLatest":
        latest = e.text() === "true";
        break;
    }
  }
  if (key === undefined) return { summary: undefined, latest, end: e.at };
  const summary: ObjectSummary = { key, size, etag };
  if (storageClass !== undefined) summary.storageClass = storageClass;
  if (lastModified !== undefined) summary.lastModified = lastModified;
  if (versionId !== undefined) summary.versionId = versionId;
  return { summary, latest, end: e.at };
}

/** The root element's content starts after this index of `xml`. */
function rootContent(xml: string, root: string): number {
  const at = xml.indexOf(`<${root}`);
  const open = at === -1 ? -1 : xml.indexOf(">", at);
  if (open === -1) {
    // A page of a web server (HTML, or no XML at all) is no S3 listing gone wrong.
    const xmlAtAll = /^\s*(<\?xml|<[A-Za-z][\w.-]*\s+xmlns=)/.test(xml);
    throw new ListingXmlError(
      xmlAtAll
        ? `no <${root}> in the answer`
        : notS3Answer(`no <${root}> in the answer, which is no S3 document`, xml),
    );
  }
  return open + 1;
}

/**
 * A ListObjectsV2 body (`<ListBucketResult>`) straight to listing entries. The AWS SDK's
 * deserialiser builds a generic tree of the XML, then walks the command's schema over it and
 * parses every date: per key of a `check` from the digest index, more CPU than the rest of the
 * listing's handling together. Keys come exactly as stored: entities and character references
 * decoded, whitespace kept (the SDK's parser dropped a key of only a line break).
 * EncodingType is not requested, so keys are never URL-encoded here.
 */
export function parseListBucketResult(xml: string): ListPage {
  const objects: ObjectSummary[] = [];
  let truncated = false;
  let token: string | undefined;
  const e = new Elements(xml, rootContent(xml, "ListBucketResult"), "ListBucketResult");
  while (e.next()) {
    if (e.name === "Contents") {
      const { summary, end } = contents(xml, e.start);
      if (end !== e.at) throw new ListingXmlError("<Contents> is not closed where it ends");
      if (summary !== undefined) objects.push(summary);
    } else if (e.name === "IsTruncated") truncated = e.text() === "true";
    else if (e.name === "NextContinuationToken") token = e.text() || undefined;
  }
  // A cut listing with no way on would silently drop the rest of the keys.
  if (truncated && token === undefined)
    throw new ListingXmlError("IsTruncated without a NextContinuationToken");
  return { objects, nextToken: truncated ? token : undefined };
}

/**
 * A ListObjectVersions body (`<ListVersionsResult>`) to the current version of each key it
 * holds, with its VersionId, read as {@link parseListBucketResult} reads a listing. Older
 * versions and delete markers are passed over: a key whose newest version is a delete marker
 * has no object. A current version without a VersionId is malformed (the digest index would
 * take it for the null version), and so is a version that does not say whether it is current.
 */
export function parseListVersionsResult(xml: string): VersionsPage {
  const read = (from: number) => {
    const { summary, latest, end } = contents(xml, from, "Version");
    // Without it no version would be taken for current, and the listing would seem empty.
    if (latest === undefined) throw new ListingXmlError("a <Version> states no IsLatest");
    if (summary === undefined || !latest) return { end };
    if (summary.versionId === undefined)
      throw new ListingXmlError(`the current version of ${JSON.stringify(summary.key)} states no VersionId`);
    return { item: summary, end };
  };
  const { items, next, count } = markedPage(
    xml,
    "ListVersionsResult",
    "Version",
    "NextVersionIdMarker",
    read,
    ["DeleteMarker"],
  );
  return {
    objects: items,
    entries: count,
    next: next && { keyMarker: next.keyMarker, versionIdMarker: next.marker },
  };
}

/**
 * The `item` children of a listing page continued by a key marker and a second marker
 * (`nextMarker`: uploads, versions), each read from its start by `read` (which says where it
 * ended, and gives none for a child to leave out), where the next page starts, and how many
 * children it held named `item` or one of `others` (read or not).
 */
function markedPage<T>(
  xml: string,
  root: string,
  item: string,
  nextMarker: string,
  read: (from: number) => { item?: T; end: number },
  others: readonly string[] = [],
): { items: T[]; next: { keyMarker: string; marker: string | undefined } | undefined; count: number } {
  const items: T[] = [];
  let count = 0;
  let truncated = false;
  let keyMarker: string | undefined;
  let marker: string | undefined;
  const e = new Elements(xml, rootContent(xml, root), root);
  while (e.next()) {
    if (e.name === item) {
      count++;
      const found = read(e.start);
      if (found.end !== e.at) throw new ListingXmlError(`<${item}> is not closed where it ends`);
      if (found.item !== undefined) items.push(found.item);
    } else if (e.name === "IsTruncated") truncated = e.text() === "true";
    else if (e.name === "NextKeyMarker") keyMarker = e.text();
    else if (e.name === nextMarker) marker = e.text() || undefined;
    else if (others.includes(e.name)) count++;
  }
  // A cut listing with no way on would silently leave the rest unseen.
  if (truncated && !keyMarker) throw new ListingXmlError("IsTruncated without a NextKeyMarker");
  return { items, next: truncated ? { keyMarker: keyMarker!, marker } : undefined, count };
}

function upload(xml: string, from: number): { item?: PendingUpload; end: number } {
  const e = new Elements(xml, from, "Upload");
  let key: string | undefined;
  let uploadId: string | undefined;
  let initiated: number | undefined;
  while (e.next()) {
    if (e.name === "Key") key = e.text();
    else if (e.name === "UploadId") uploadId = e.text();
    else if (e.name === "Initiated") initiated = parseTimestamp(e.text());
  }
  if (key === undefined || key === "" || !uploadId) return { end: e.at };
  const found: PendingUpload = { key, uploadId };
  if (initiated !== undefined && !Number.isNaN(initiated)) found.initiated = new Date(initiated);
  return { item: found, end: e.at };
}

/**
 * A ListMultipartUploads body (`<ListMultipartUploadsResult>`), keys exactly as stored, as
 * {@link parseListBucketResult} reads them: the SDK's parser took a key of only whitespace and a
 * line break for indentation and dropped its upload, which cleanup then never saw. Uploads
 * without a key or an id are left out.
 */
export function parseListMultipartUploadsResult(xml: string): UploadsPage {
  const { items, next } = markedPage(
    xml,
    "ListMultipartUploadsResult",
    "Upload",
    "NextUploadIdMarker",
    (from) => upload(xml, from),
  );
  return { uploads: items, next: next && { keyMarker: next.keyMarker, uploadIdMarker: next.marker } };
}
