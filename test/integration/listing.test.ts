import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { type ObjectSummary, S3Connection, S3ObjectStore } from "@chunksync/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createBucket,
  emptyAndDeleteBucket,
  localS3,
  putObject,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";

/** Keys that XML escapes, control characters, unicode, spaces; each put under every prefix below. */
const AWKWARD = [
  "plain",
  "a&b<c>d\"e'f",
  "tab\there",
  "cr\rhere",
  "lf\nmid",
  "ctl\u0001x",
  "ctl\u001fx",
  "del\u007fx",
  "uni/é/日本/😀",
  " lead",
  "trail ",
  "pct%20+plus",
  "&#x41;literal",
  "dir/sub/key",
];

/** Every page of the SDK's ListObjectsV2, as the adapter turned it into entries before. */
async function sdkListing(client: S3Client, bucket: string, prefix: string, maxKeys?: number) {
  const out: ObjectSummary[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ContinuationToken: token,
        MaxKeys: maxKeys,
      }),
    );
    for (const o of page.Contents ?? [])
      out.push({
        key: o.Key ?? "",
        size: o.Size ?? 0,
        etag: o.ETag ?? "",
        ...(o.StorageClass ? { storageClass: o.StorageClass } : {}),
        ...(o.LastModified ? { lastModified: o.LastModified.getTime() } : {}),
      });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

async function all(listing: AsyncIterable<ObjectSummary>): Promise<ObjectSummary[]> {
  const out: ObjectSummary[] = [];
  for await (const o of listing) out.push(o);
  return out;
}

/** S3's order: UTF-8 bytes. */
const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe("listing sent without the SDK (ListObjectsV2 parsed by listBucketResult)", () => {
  let client: S3Client;
  let store: S3ObjectStore;
  let bucket: string;
  const keys = [...AWKWARD.map((k) => `p/${k}`), ...AWKWARD.map((k) => `q/${k}`), "\n"];

  beforeAll(async () => {
    client = s3Client("source");
    bucket = uniqueBucketName("src-listing");
    await createBucket(client, bucket);
    await Promise.all(keys.map((k, i) => putObject(client, bucket, k, "x".repeat(i))));
    const s3 = localS3();
    store = new S3ObjectStore({
      connection: await S3Connection.open({
        endpoint: s3.endpoint,
        region: s3.region,
        credentials: s3.users.source,
      }),
      bucket,
    });
  });
  afterAll(async () => {
    // One by one: a DeleteObjects body cannot carry keys with control characters in XML.
    for (const k of keys) await store.delete(k);
    await emptyAndDeleteBucket(client, bucket);
    client.destroy();
  });

  it("gives every stored key, in UTF-8 order, with the entries the SDK's listing gave", async () => {
    const listed = await all(store.list("p/"));
    expect(listed.map((o) => o.key)).toEqual(AWKWARD.map((k) => `p/${k}`).sort(byUtf8));
    expect(listed).toEqual(await sdkListing(client, bucket, "p/"));
    expect(listed.find((o) => o.key === "p/uni/é/日本/😀")).toMatchObject({
      size: AWKWARD.indexOf("uni/é/日本/😀"),
      etag: expect.stringMatching(/^"[0-9a-f]{32}"$/),
      storageClass: "STANDARD",
      lastModified: expect.any(Number),
    });
  });

  it("pages with a small page size through continuation tokens, none lost or repeated", async () => {
    const paged = await all(store.list("", undefined, undefined, 2));
    expect(paged.map((o) => o.key)).toEqual([...keys].sort(byUtf8));
    expect(paged).toHaveLength(keys.length);
    // The SDK's parser drops a key that is only a line break (it reads it as indentation): the
    // same entries otherwise.
    const sdk = await sdkListing(client, bucket, "", 3);
    expect(sdk.find((o) => o.key === "")).toBeDefined();
    expect(paged.filter((o) => o.key !== "\n")).toEqual(sdk.filter((o) => o.key !== ""));
  });

  it("starts after a key on the first page only, across pages", async () => {
    const after = "q/del\u007fx";
    const listed = await all(store.list("q/", undefined, after, 2));
    expect(listed.map((o) => o.key)).toEqual(
      AWKWARD.map((k) => `q/${k}`)
        .sort(byUtf8)
        .filter((k) => byUtf8(k, after) > 0),
    );
  });

  it("an empty prefix lists nothing; a missing bucket is BUCKET_NOT_FOUND", async () => {
    expect(await all(store.list("none/"))).toEqual([]);
    const missing = new S3ObjectStore({
      connection: await S3Connection.open({
        endpoint: localS3().endpoint,
        region: localS3().region,
        credentials: localS3().users.source,
      }),
      bucket: uniqueBucketName("src-missing"),
    });
    await expect(all(missing.list(""))).rejects.toMatchObject({ code: "BUCKET_NOT_FOUND" });
  });

  it("an aborted listing stops with the abort", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(all(store.list("", controller.signal))).rejects.toThrow(/abort/i);
  });
});
