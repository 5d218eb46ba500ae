import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ListingXmlError,
  parseListBucketResult,
  parseListMultipartUploadsResult,
  parseListVersionsResult,
  parseTimestamp,
} from "../../../packages/storage/src/listBucketResult.js";

const HEAD =
  '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">';
const ETAG = "&quot;9dd4e461268c8034f5c8564e155c67a6&quot;";

/** One `<Contents>` as Ceph RGW 16 writes it. */
const rgwContents = (escapedKey: string, size = 1, modified = "2026-12-03T02:26:03.888Z") =>
  `<Contents><Key>${escapedKey}</Key><LastModified>${modified}</LastModified><ETag>${ETAG}</ETag>` +
  `<Size>${size}</Size><StorageClass>STANDARD</StorageClass><Type>Normal</Type></Contents>`;

const rgwPage = (contents: string[], tail = "<IsTruncated>false</IsTruncated>") =>
  `${HEAD}<Name>b</Name><Prefix></Prefix><MaxKeys>1000</MaxKeys>${tail}${contents.join("")}<KeyCount>${contents.length}</KeyCount></ListBucketResult>`;

/** How RGW escapes a key: the five XML specials named, control characters and DEL as hex references. */
function rgwEscape(key: string): string {
  const named: Record<string, string> = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&apos;",
  };
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are the point
  return key.replace(/[&<>"'\u0000-\u0008\u000b-\u001f\u007f]/g, (c) => {
    const name = named[c];
    return name ?? `&#x${c.charCodeAt(0).toString(16).padStart(2, "0")};`;
  });
}

describe("parseListBucketResult", () => {
  it("reads RGW's answer for awkward keys exactly as they were stored", () => {
    // Captured from the local RGW (bench probe): its escapes, its raw tab and line feed.
    const xml = rgwPage([
      rgwContents("\n"),
      rgwContents(" "),
      rgwContents(" lead space"),
      rgwContents("a&amp;b&lt;c&gt;d&quot;e&apos;f"),
      rgwContents("cr&#x0d;here"),
      rgwContents("ctl&#x01;x"),
      rgwContents("del&#x7f;x"),
      rgwContents("lf\nhere"),
      rgwContents("pct%20+plus"),
      rgwContents("tab\there"),
      rgwContents("trail space "),
      rgwContents("uni/é/日本/😀"),
    ]);
    const page = parseListBucketResult(xml);
    expect(page.objects.map((o) => o.key)).toEqual([
      "\n",
      " ",
      " lead space",
      "a&b<c>d\"e'f",
      "cr\rhere",
      "ctl\u0001x",
      "del\u007fx",
      "lf\nhere",
      "pct%20+plus",
      "tab\there",
      "trail space ",
      "uni/é/日本/😀",
    ]);
    expect(page.objects[0]).toEqual({
      key: "\n",
      size: 1,
      etag: '"9dd4e461268c8034f5c8564e155c67a6"',
      storageClass: "STANDARD",
      lastModified: Date.UTC(2026, 11, 3, 2, 26, 3, 888),
    });
    expect(page.nextToken).toBeUndefined();
  });

  it("an empty listing has no entries and no next page", () => {
    expect(parseListBucketResult(rgwPage([]))).toEqual({ objects: [], nextToken: undefined });
    const selfClosed = `${HEAD}<Name>b</Name><Prefix/><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`;
    expect(parseListBucketResult(selfClosed)).toEqual({ objects: [], nextToken: undefined });
  });

  it("a truncated page gives its continuation token, decoded; a last page gives none", () => {
    const tail = "<IsTruncated>true</IsTruncated><NextContinuationToken>1/a+b=&amp;c</NextContinuationToken>";
    const page = parseListBucketResult(rgwPage([rgwContents("k", 4096)], tail));
    expect(page.nextToken).toBe("1/a+b=&c");
    expect(page.objects).toEqual([expect.objectContaining({ key: "k", size: 4096 })]);
    const last = "<IsTruncated>false</IsTruncated><NextContinuationToken>stale</NextContinuationToken>";
    expect(parseListBucketResult(rgwPage([rgwContents("k")], last)).nextToken).toBeUndefined();
  });

  it("refuses a truncated page without a token rather than end the listing early", () => {
    expect(() =>
      parseListBucketResult(rgwPage([rgwContents("k")], "<IsTruncated>true</IsTruncated>")),
    ).toThrow(ListingXmlError);
  });

  it("reads AWS's shape: pretty-printed, nested Owner and RestoreStatus, checksum fields, no storage class", () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name>
  <Prefix>p/</Prefix>
  <KeyCount>2</KeyCount>
  <MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents>
    <Key>p/one</Key>
    <LastModified>2024-11-05T10:00:00.000Z</LastModified>
    <ETag>"abc-2"</ETag>
    <ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm>
    <ChecksumType>FULL_OBJECT</ChecksumType>
    <Size>10485760</Size>
    <Owner><ID>o</ID><DisplayName>Key</DisplayName></Owner>
    <StorageClass>GLACIER</StorageClass>
    <RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress></RestoreStatus>
  </Contents>
  <Contents>
    <Key>p/two</Key>
    <LastModified>2024-11-05T10:00:01+00:00</LastModified>
    <ETag>&quot;def&quot;</ETag>
    <Size>0</Size>
  </Contents>
  <CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>
  <NextContinuationToken>tok</NextContinuationToken>
  <StartAfter>p/</StartAfter>
</ListBucketResult>
`;
    expect(parseListBucketResult(xml)).toEqual({
      objects: [
        {
          key: "p/one",
          size: 10485760,
          etag: '"abc-2"',
          storageClass: "GLACIER",
          lastModified: Date.UTC(2024, 10, 5, 10, 0, 0),
        },
        { key: "p/two", size: 0, etag: '"def"', lastModified: Date.UTC(2024, 10, 5, 10, 0, 1) },
      ],
      nextToken: "tok",
    });
  });

  it("decodes numeric references beyond the BMP, and turns literal CR LF into LF as XML does", () => {
    const xml = rgwPage([rgwContents("&#x1F600;&#128512;&#65;&#x41;"), rgwContents("a\r\nb\rc&#13;d")]);
    expect(parseListBucketResult(xml).objects.map((o) => o.key)).toEqual(["😀😀AA", "a\nb\nc\rd"]);
  });

  it("skips an entry without a key, as the SDK path did", () => {
    const xml = rgwPage(["<Contents><Size>1</Size></Contents>", rgwContents("k")]);
    expect(parseListBucketResult(xml).objects.map((o) => o.key)).toEqual(["k"]);
  });

  it.each([
    ["no root", "<?xml version='1.0'?><Error><Code>x</Code></Error>"],
    ["an unknown entity", rgwPage([rgwContents("a&nbsp;b")])],
    ["an unterminated entity", rgwPage([rgwContents("a&amp b")])],
    ["a reference past Unicode", rgwPage([rgwContents("&#x110000;")])],
    ["a bad size", rgwPage([rgwContents("k", -1)])],
    ["a bad date", rgwPage([rgwContents("k", 1, "yesterday")])],
    ["markup inside a key", rgwPage(["<Contents><Key>a<b/>c</Key></Contents>"])],
    ["an unclosed Contents", `${HEAD}<IsTruncated>false</IsTruncated><Contents><Key>k</Key>`],
    ["an unclosed root", `${HEAD}<IsTruncated>false</IsTruncated>${rgwContents("k")}`],
    ["text between elements", `${HEAD}stray${rgwContents("k")}</ListBucketResult>`],
  ])("refuses %s", (_, xml) => {
    expect(() => parseListBucketResult(xml)).toThrow(ListingXmlError);
  });

  it("gives back any key RGW can store, from its escaping", () => {
    const key = fc.string({ unit: "binary", minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(fc.array(key, { maxLength: 5 }), (keys) => {
        const xml = rgwPage(keys.map((k) => rgwContents(rgwEscape(k))));
        expect(parseListBucketResult(xml).objects.map((o) => o.key)).toEqual(keys);
      }),
    );
  });
});

describe("parseTimestamp", () => {
  const two = (n: number) => String(n).padStart(2, "0");
  // Every field a little past its range too, and a non-digit now and then.
  const stamp = fc
    .tuple(
      fc.integer({ min: 1900, max: 9999 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 25 }),
      fc.integer({ min: 0, max: 61 }),
      fc.integer({ min: 0, max: 61 }),
      fc.integer({ min: 0, max: 999 }),
    )
    .map(
      ([y, mo, d, h, mi, s, ms]) =>
        `${y}-${two(mo)}-${two(d)}T${two(h)}:${two(mi)}:${two(s)}.${String(ms).padStart(3, "0")}Z`,
    );
  const garbled = fc
    .tuple(stamp, fc.nat({ max: 23 }), fc.constantFrom("x", " ", "/", "9", "-"))
    .map(([t, at, c]) => t.slice(0, at) + c + t.slice(at + 1));

  it("is Date.parse for any text of S3's form, in range or not, and for any other text", () => {
    fc.assert(
      fc.property(fc.oneof(stamp, garbled, fc.string()), (text) => {
        expect(parseTimestamp(text)).toBe(Date.parse(text));
      }),
      { numRuns: 20_000 },
    );
  });

  it("reads a listing's LastModified to the millisecond", () => {
    const xml = rgwPage([rgwContents("k", 1, "2026-12-03T02:26:03.888Z")]);
    expect(parseListBucketResult(xml).objects[0]?.lastModified).toBe(Date.UTC(2026, 11, 3, 2, 26, 3, 888));
  });
});

describe("parseListMultipartUploadsResult", () => {
  const uploadXml = (key: string, id: string, initiated = "2026-12-04T03:59:40.011Z") =>
    `<Upload><Key>${key}</Key><UploadId>${id}</UploadId><Initiator><ID>u</ID><DisplayName>u</DisplayName></Initiator>` +
    `<Owner><ID>u</ID><DisplayName>u</DisplayName></Owner><StorageClass>STANDARD</StorageClass><Initiated>${initiated}</Initiated></Upload>`;
  const page = (uploads: string[], tail: string) =>
    '<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Bucket>b</Bucket><Prefix></Prefix><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><MaxUploads>1000</MaxUploads>${tail}` +
    `${uploads.join("")}</ListMultipartUploadsResult>`;

  it("keeps a key of only whitespace and a line break, which the SDK's parser took for indentation", () => {
    const xml = page(
      [
        uploadXml("\n", "1"),
        uploadXml("\t\n ", "2"),
        uploadXml("a&amp;&#x01;", "3"),
        uploadXml("k", "4", "bad"),
      ],
      "<NextKeyMarker>\n</NextKeyMarker><NextUploadIdMarker>4</NextUploadIdMarker><IsTruncated>true</IsTruncated>",
    );
    expect(parseListMultipartUploadsResult(xml)).toEqual({
      uploads: [
        { key: "\n", uploadId: "1", initiated: new Date(Date.UTC(2026, 11, 4, 3, 59, 40, 11)) },
        { key: "\t\n ", uploadId: "2", initiated: new Date(Date.UTC(2026, 11, 4, 3, 59, 40, 11)) },
        { key: "a&\u0001", uploadId: "3", initiated: new Date(Date.UTC(2026, 11, 4, 3, 59, 40, 11)) },
        { key: "k", uploadId: "4" },
      ],
      next: { keyMarker: "\n", uploadIdMarker: "4" },
    });
  });

  it("a last page has no next; a truncated one without a key marker is refused rather than end the listing", () => {
    const tail = "<NextKeyMarker>k</NextKeyMarker><IsTruncated>false</IsTruncated>";
    expect(parseListMultipartUploadsResult(page([uploadXml("k", "1")], tail)).next).toBeUndefined();
    expect(parseListMultipartUploadsResult(page([], "<IsTruncated>false</IsTruncated>")).uploads).toEqual([]);
    expect(() => parseListMultipartUploadsResult(page([], "<IsTruncated>true</IsTruncated>"))).toThrow(
      ListingXmlError,
    );
  });
});

describe("parseListVersionsResult", () => {
  const version = (key: string, id: string, latest: boolean, size = 1) =>
    `<Version><Key>${key}</Key><VersionId>${id}</VersionId><IsLatest>${latest}</IsLatest>` +
    `<LastModified>2026-12-04T03:59:40.011Z</LastModified><ETag>${ETAG}</ETag><Size>${size}</Size>` +
    `<StorageClass>STANDARD</StorageClass><Owner><ID>u</ID><DisplayName>u</DisplayName></Owner></Version>`;
  const marker = (key: string, id: string, latest: boolean) =>
    `<DeleteMarker><Key>${key}</Key><VersionId>${id}</VersionId><IsLatest>${latest}</IsLatest>` +
    "<LastModified>2026-12-04T03:59:41.000Z</LastModified><Owner><ID>u</ID></Owner></DeleteMarker>";
  const page = (entries: string[], tail: string) =>
    '<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Name>b</Name><Prefix></Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><MaxKeys>1000</MaxKeys>${tail}` +
    `${entries.join("")}</ListVersionsResult>`;

  it("keeps each key's current version with its ID; older versions and keys whose newest version is a delete marker are passed over", () => {
    const xml = page(
      [
        version("a", "a2", true, 2),
        version("a", "a1", false),
        marker("b", "b2", true),
        version("b", "b1", false),
        marker("c", "c3", false),
        version("c", "null", true, 3),
        version("d&amp;", "d1", false),
      ],
      "<IsTruncated>true</IsTruncated><NextKeyMarker>d&amp;</NextKeyMarker><NextVersionIdMarker>d1</NextVersionIdMarker>",
    );
    const lastModified = Date.UTC(2026, 11, 4, 3, 59, 40, 11);
    const etag = '"9dd4e461268c8034f5c8564e155c67a6"';
    expect(parseListVersionsResult(xml)).toEqual({
      objects: [
        { key: "a", size: 2, etag, storageClass: "STANDARD", lastModified, versionId: "a2" },
        { key: "c", size: 3, etag, storageClass: "STANDARD", lastModified, versionId: "null" },
      ],
      entries: 7,
      next: { keyMarker: "d&", versionIdMarker: "d1" },
    });
  });

  it("refuses a current version without an ID, a version that does not say whether it is current, and a truncated page without a key marker", () => {
    const noId = `<Version><Key>k</Key><IsLatest>true</IsLatest><ETag>${ETAG}</ETag><Size>1</Size></Version>`;
    expect(() => parseListVersionsResult(page([noId], "<IsTruncated>false</IsTruncated>"))).toThrow(
      ListingXmlError,
    );
    const unsaid = `<Version><Key>k</Key><VersionId>v</VersionId><ETag>${ETAG}</ETag><Size>1</Size></Version>`;
    expect(() => parseListVersionsResult(page([unsaid], "<IsTruncated>false</IsTruncated>"))).toThrow(
      /states no IsLatest/,
    );
    expect(() => parseListVersionsResult(page([], "<IsTruncated>true</IsTruncated>"))).toThrow(
      ListingXmlError,
    );
    expect(parseListVersionsResult(page([], "<IsTruncated>false</IsTruncated>"))).toEqual({
      objects: [],
      entries: 0,
      next: undefined,
    });
  });
});
