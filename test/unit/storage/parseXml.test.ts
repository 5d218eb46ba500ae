import { parseXML as sdkParseXML } from "@aws-sdk/xml-builder";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseXML } from "../../../packages/storage/src/parseXml.js";

/** What a parse gave, own keys (a `__proto__` one too) and inherited oddities spelt out; or its error. */
function outcome(parse: (xml: string) => unknown, xml: string): unknown {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon);
    if (typeof v === "function") return `function ${v.name}`;
    if (typeof v !== "object" || v === null) return v;
    return Object.keys(v).map((k) => [k, canon((v as Record<string, unknown>)[k])]);
  };
  try {
    return { value: canon(parse(xml)) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

const same = (xml: string): void => {
  expect(outcome(parseXML, xml)).toEqual(outcome(sdkParseXML, xml));
};

// Pieces S3 responses are made of, and the ones that make parsers go wrong.
const name = fc.constantFrom("Key", "Contents", "a", "__proto__", "toString", "x:y", "ETag", "#text");
const text = fc
  .array(
    fc.constantFrom(
      "abc",
      " ",
      "\n",
      "\r\n",
      "\r",
      "\t",
      "&amp;",
      "&lt;",
      "&#x41;",
      "&#65;",
      "&#x1F600;",
      "&bogus;",
      "&",
      ";",
      "é",
      "😀",
      '"',
      "'",
      ">",
    ),
    { maxLength: 6 },
  )
  .map((parts) => parts.join(""));
const attribute = fc
  .tuple(name, fc.constantFrom('"', "'"), text, fc.constantFrom("", " ", "\n"))
  .map(([n, q, v, sp]) => ` ${n}${sp}=${sp}${q}${v.replaceAll(q, "")}${q}`);
const element: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    text,
    fc.tuple(name, fc.array(attribute, { maxLength: 2 })).map(([n, a]) => `<${n}${a.join("")}/>`),
    fc.constantFrom("<!-- c -->", "<![CDATA[<raw>&amp;]]>", "<?pi x?>"),
    fc
      .tuple(
        name,
        fc.array(attribute, { maxLength: 2 }),
        fc.array(tie("node"), { maxLength: 4 }),
        fc.constantFrom("", " ", "\n"),
      )
      .map(([n, a, children, sp]) => `<${n}${a.join("")}>${children.join("")}</${n}${sp}>`),
  ),
})).node;
const documents = fc
  .tuple(
    fc.constantFrom(
      "",
      '<?xml version="1.0" encoding="UTF-8"?>\n',
      "<!DOCTYPE x [<!ENTITY a 'b'>]>",
      " <!-- c -->",
    ),
    element,
  )
  .map(([prolog, body]) => prolog + body);

describe("parseXML (the SDK's XML parser, faster)", () => {
  it("gives what the SDK's parser gives for documents of every shape", () => {
    fc.assert(fc.property(documents, same), { numRuns: 3000 });
  });

  it("fails where the SDK's parser fails, with its message: cut, altered or unbalanced documents", () => {
    const damaged = fc
      .tuple(
        documents,
        fc.nat(),
        fc.constantFrom("", "<", ">", "/", "=", '"', "</a>", "<a", "&", "<!--", "<![CDATA[", "<?"),
      )
      .map(([xml, at, insert]) => {
        const cut = at % (xml.length + 1);
        return xml.slice(0, cut) + insert + xml.slice(cut + (insert === "" ? 1 : 0));
      });
    fc.assert(fc.property(damaged, same), { numRuns: 3000 });
    for (const xml of [
      "",
      "  ",
      "text",
      "<a>",
      "<a></b>",
      "<a/",
      "<a b='x>",
      "<a b=>",
      "<!DOCTYPE x",
      "<?xml",
    ])
      same(xml);
  });

  it("reads a ListObjectsV2 page as the SDK does", () => {
    const key = fc
      .string({ unit: "grapheme", maxLength: 20 })
      .map((k) => k.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;"));
    const page = fc
      .array(key, { minLength: 1, maxLength: 30 })
      .map(
        (keys) =>
          '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
          "<Name>b</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>" +
          keys
            .map(
              (k) =>
                `<Contents><Key>${k}</Key><LastModified>2026-12-02T13:58:07.123Z</LastModified>` +
                "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>4096</Size>" +
                "<Owner><ID>o</ID><DisplayName>o</DisplayName></Owner><StorageClass>STANDARD</StorageClass><Type>Normal</Type></Contents>",
            )
            .join("\n  ") +
          "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>",
      );
    fc.assert(fc.property(page, same), { numRuns: 300 });
  });
});
