import type { CompletedPart } from "./ObjectStore.js";
import { parseXML, type XmlObject, type XmlValue } from "./parseXml.js";

/** A document S3 answered: its root element's name and content (an element of text only has none). */
export interface XmlAnswer {
  root: string;
  content: XmlObject;
}

/** Parses an answer as the SDK's deserialiser does: with its parser, the root element's content taken. */
export function parseAnswer(xml: string): XmlAnswer {
  const [root, content] = Object.entries(parseXML(xml))[0]!;
  return { root, content: typeof content === "object" && !Array.isArray(content) ? content : {} };
}

/** The text of `content`'s child `name`, where it holds text. */
export function textOf(content: XmlObject, name: string): string | undefined {
  const value = content[name];
  return typeof value === "string" ? value : undefined;
}

/** The children named `name`: S3 repeats an element for a list, which the parser gives as an array beyond one. */
function all(content: XmlObject, name: string): XmlObject[] {
  const value: XmlValue | undefined = content[name];
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return values.filter((v): v is XmlObject => typeof v === "object" && !Array.isArray(v));
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  '"': "&quot;",
  "'": "&apos;",
  "<": "&lt;",
  ">": "&gt;",
  "\r": "&#x0D;",
  "\n": "&#x0A;",
  "\u0085": "&#x85;",
  "\u2028": "&#x2028;",
};

/** Element text escaped as the SDK's XML builder escapes it. */
function escapeText(text: string): string {
  return text.replace(/[&"'<>\r\n\u0085\u2028]/g, (c) => ESCAPES[c]!);
}

/** The body of CompleteMultipartUpload, byte for byte as the SDK serialises it. */
export function completeMultipartUploadXml(parts: readonly CompletedPart[]): Buffer {
  const listed = parts
    .map((p) => `<Part><ETag>${escapeText(p.etag)}</ETag><PartNumber>${p.partNumber}</PartNumber></Part>`)
    .join("");
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${listed}</CompleteMultipartUpload>`,
  );
}

/** The tags of a `<Tagging>` answer (GetObjectTagging), as key and value, in the server's order. */
export function tagSetOf(content: XmlObject): [string, string][] {
  const [set] = all(content, "TagSet");
  return set === undefined
    ? []
    : all(set, "Tag").map((t) => [textOf(t, "Key") ?? "", textOf(t, "Value") ?? ""]);
}

/** The body of PutObjectTagging, as the SDK serialises it. */
export function taggingXml(tags: readonly (readonly [string, string])[]): Buffer {
  const listed = tags
    .map(([k, v]) => `<Tag><Key>${escapeText(k)}</Key><Value>${escapeText(v)}</Value></Tag>`)
    .join("");
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>${listed}</TagSet></Tagging>`,
  );
}
