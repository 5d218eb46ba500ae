/**
 * The AWS SDK's XML parser (`@aws-sdk/xml-builder`'s `parseXML`, which every S3 response body
 * goes through) with the same output and errors, scanning with indexOf and charCodeAt instead
 * of building every tag name and text one character at a time. A listing of 1,000 keys is
 * about 300 KB of XML: the SDK's parser took more CPU than the rest of a `check` of the same
 * objects from the digest index. The CLI bundle puts this module in the SDK's place
 * (scripts/build-cli.ts); test/unit/storage/parseXml.test.ts holds both to the same output.
 */

export type XmlValue = string | XmlObject | XmlValue[];
export interface XmlObject {
  [name: string]: XmlValue;
}

/** Makes `__proto__` an own, enumerable data property of `obj`, as the SDK's parser does. */
function writeKey(obj: object): void {
  Object.defineProperty(obj, "__proto__", {
    value: undefined,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
const ENTITY = /&(?:#x([0-9a-fA-F]{1,6})|#(\d{1,7})|([a-zA-Z][a-zA-Z0-9]{0,30}));/g;

function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(ENTITY, (_, hex: string | undefined, dec: string | undefined, named: string) => {
    if (hex) return String.fromCharCode(Number.parseInt(hex, 16));
    if (dec) return String.fromCharCode(Number.parseInt(dec, 10));
    return ENTITIES[named] ?? "";
  });
}

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
/** Ends a tag name: whitespace, `>` or `/`. */
const endsTagName = (c: number) => isSpace(c) || c === 0x3e || c === 0x2f;
/** Ends an attribute name: as a tag name, and `=` or `?`. */
const endsAttributeName = (c: number) => endsTagName(c) || c === 0x3d || c === 0x3f;
/** A text that is only whitespace with a line break in it is indentation, not content. */
const isIndentation = (text: string) => text.trim() === "" && text.includes("\n");

class Parser {
  readonly x: string;
  readonly z: number;
  i = 0;

  constructor(xml: string) {
    this.x = xml.replace(/\r\n?/g, "\n");
    this.z = this.x.length;
  }

  parse(): XmlObject {
    while (this.i < this.z) {
      this.trim();
      if (this.i >= this.z) break;
      if (this.x.startsWith("<?", this.i)) {
        this.readTo("?>");
        this.trim();
      } else if (this.x.startsWith("<!--", this.i)) {
        this.readTo("-->");
        this.trim();
      } else if (this.x.toLowerCase().startsWith("<!doctype", this.i)) {
        // As the SDK tests it (the whole text lowered: once per response, before its root).
        this.skipDoctype();
        this.trim();
      } else if (this.x.charCodeAt(this.i) === 0x3c) {
        const root = this.parseTag();
        return { [root.tag]: root.value };
      } else {
        throw new Error("@aws-sdk XML parse error: unexpected content.");
      }
    }
    throw new Error("@aws-sdk XML parse error: no root element.");
  }

  readTo(stop: string): string {
    const at = this.x.indexOf(stop, this.i);
    if (at === -1) throw new Error(`@aws-sdk XML parse error: expected "${stop}" not found.`);
    const result = this.x.slice(this.i, at);
    this.i = at + stop.length;
    return result;
  }

  trim(): void {
    while (this.i < this.z && isSpace(this.x.charCodeAt(this.i))) this.i++;
  }

  /** Characters from here up to the first one `stop` accepts (or the end). */
  readName(stop: (c: number) => boolean): string {
    const start = this.i;
    while (this.i < this.z && !stop(this.x.charCodeAt(this.i))) this.i++;
    return this.x.slice(start, this.i);
  }

  readAttrValue(): string {
    const quote = this.x[this.i];
    this.i++;
    // An unclosed value runs to the end, past which the tag fails as unterminated.
    const end = quote === undefined ? -1 : this.x.indexOf(quote, this.i);
    const value = this.x.slice(this.i, end === -1 ? this.z : end);
    this.i = (end === -1 ? this.z : end) + 1;
    return decodeEntities(value);
  }

  parseTag(): { tag: string; value: XmlValue } {
    this.i++;
    const tag = this.readName(endsTagName);
    let hasAttrs = false;
    const attrs: XmlObject = {};
    while (this.i < this.z) {
      this.trim();
      const c = this.x.charCodeAt(this.i);
      if (c === 0x3e || c === 0x2f) break;
      const name = this.readName(endsAttributeName);
      this.trim();
      if (this.x.charCodeAt(this.i) !== 0x3d) break;
      this.i++;
      this.trim();
      if (name === "__proto__") writeKey(attrs);
      attrs[name] = this.readAttrValue();
      hasAttrs = true;
    }
    if (this.i >= this.z) throw new Error("@aws-sdk XML parse error: unexpected end of input.");
    if (this.x.charCodeAt(this.i) === 0x2f) {
      this.i++;
      if (this.i >= this.z || this.x.charCodeAt(this.i) !== 0x3e) {
        throw new Error("@aws-sdk XML parse error: expected > at the end of self-closing tag.");
      }
      this.i++;
      return { tag, value: hasAttrs ? attrs : "" };
    }
    if (this.x.charCodeAt(this.i) !== 0x3e) {
      throw new Error("@aws-sdk XML parse error: expected > at the end of opening tag.");
    }
    this.i++;
    const textParts: string[] = [];
    const childTags: { tag: string; value: XmlValue }[] = [];
    while (this.i < this.z) {
      if (this.x.charCodeAt(this.i) === 0x3c) {
        if (this.x.startsWith("</", this.i)) break;
        if (this.x.startsWith("<!--", this.i)) this.readTo("-->");
        else if (this.x.startsWith("<![CDATA[", this.i)) {
          this.i += 9;
          textParts.push(this.readTo("]]>"));
        } else if (this.x.startsWith("<?", this.i)) this.readTo("?>");
        else childTags.push(this.parseTag());
      } else {
        const end = this.x.indexOf("<", this.i);
        const text = this.x.slice(this.i, end === -1 ? this.z : end);
        this.i = end === -1 ? this.z : end;
        textParts.push(decodeEntities(text));
      }
    }
    if (!this.x.startsWith("</", this.i)) {
      throw new Error(`@aws-sdk XML parse error: missing closing tag </${tag}>.`);
    }
    this.i += 2;
    const closeTag = this.readTo(">").trim();
    if (closeTag !== tag) {
      throw new Error(`@aws-sdk XML parse error: mismatched tags <${tag}> and </${closeTag}>.`);
    }
    if (!hasAttrs && textParts.length === 0 && childTags.length === 0) return { tag, value: "" };
    if (!hasAttrs && childTags.length === 0) {
      const text = textParts.length === 1 ? textParts[0]! : textParts.join("");
      return { tag, value: isIndentation(text) ? "" : text };
    }
    const obj: XmlObject = {};
    for (const text of textParts) {
      if (isIndentation(text)) continue;
      obj["#text"] = "#text" in obj ? `${obj["#text"] as string}${text}` : text;
    }
    for (const child of childTags) {
      if (child.tag === "__proto__") writeKey(obj);
      if (child.tag in obj) {
        const had = obj[child.tag]!;
        if (Array.isArray(had)) had.push(child.value);
        else obj[child.tag] = [had, child.value];
      } else {
        obj[child.tag] = child.value;
      }
    }
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "__proto__") writeKey(obj);
      obj[k] = v;
    }
    return { tag, value: obj };
  }

  skipDoctype(): void {
    this.i += 9;
    let depth = 0;
    while (this.i < this.z) {
      const c = this.x[this.i];
      if (c === "[") depth++;
      else if (c === "]") depth--;
      else if (c === ">" && depth === 0) {
        this.i++;
        return;
      }
      this.i++;
    }
    throw new Error("@aws-sdk XML parse error: unclosed DOCTYPE.");
  }
}

/** Parses `xml` exactly as `@aws-sdk/xml-builder`'s `parseXML` does (see the module comment). */
export function parseXML(xml: string): XmlObject {
  return new Parser(xml).parse();
}
