import { createHash } from "node:crypto";
import { isBrokenConnection, type S3ObjectStore } from "@chunksync/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededBytes } from "../support/data.js";
import { proxiedServer, storeVia } from "../support/faultWorld.js";
import { createBucket, emptyAndDeleteBucket, putObject, s3Client, uniqueBucketName } from "../support/s3.js";

const MiB = 1024 * 1024;

/**
 * A read into a sink takes one of two transports: over plain HTTP the socket is read straight
 * into the sink's buffer (PlainGets), otherwise (HTTPS, or `plainGets: false`) undici's Pool
 * streams the body into it. Both, through a proxy before the local server, land the same bytes,
 * and fail a body cut mid-way as a broken connection, never as a short success.
 */
describe("reads into a sink, over either transport", () => {
  const served = proxiedServer();
  const client = s3Client("source");
  const bucket = uniqueBucketName("src-into");
  const data = seededBytes("into-transports", 20 * MiB + 123);
  const stores: Record<string, S3ObjectStore> = {};
  let etag = "";

  beforeAll(async () => {
    await createBucket(client, bucket);
    etag = (await putObject(client, bucket, "object.bin", data)).ETag ?? "";
    const endpoint = served.proxy.url;
    stores.plain = await storeVia("source", bucket, endpoint, { maxAttempts: 1 });
    stores.pool = await storeVia("source", bucket, endpoint, { maxAttempts: 1, plainGets: false });
  });
  afterAll(async () => {
    await emptyAndDeleteBucket(client, bucket);
    client.destroy();
  });

  for (const transport of ["plain", "pool"]) {
    it(`${transport}: lands each range and the first bytes whole, in order`, async () => {
      const store = stores[transport] as S3ObjectStore;
      const range = { offset: 3 * MiB + 1, length: 9 * MiB };
      const into = Buffer.alloc(range.length);
      const hash = createHash("sha256");
      expect(await store.readInto("object.bin", range, etag, { into, piece: (p) => hash.update(p) })).toBe(
        range.length,
      );
      const expected = data.subarray(range.offset, range.offset + range.length);
      expect(into.equals(expected)).toBe(true);
      expect(hash.digest().equals(createHash("sha256").update(expected).digest())).toBe(true);
      const first = Buffer.alloc(32 * MiB);
      const got = await store.readFirstInto("object.bin", 32 * MiB, { into: first });
      expect(got).toMatchObject({ head: { size: data.length, etag }, landed: data.length });
      expect(first.subarray(0, data.length).equals(data)).toBe(true);
    });

    it(`${transport}: fails a body cut mid-way as a broken connection`, async () => {
      const store = stores[transport] as S3ObjectStore;
      const { proxy } = served;
      proxy.setRules([{ name: `cut-${transport}`, action: "truncate", method: "GET", ranged: true }]);
      try {
        const range = { offset: 0, length: 8 * MiB };
        const error = await store
          .readInto("object.bin", range, etag, { into: Buffer.alloc(range.length) })
          .then(
            (landed) => landed,
            (e: unknown) => e,
          );
        // A cut body either fails, or ends short for the caller to refuse: never the whole range.
        if (typeof error === "number") expect(error).toBeLessThan(range.length);
        else expect(isBrokenConnection(error)).toBe(true);
        expect(proxy.firedCount(`cut-${transport}`)).toBeGreaterThan(0);
      } finally {
        proxy.setRules([]);
      }
    });
  }
});
