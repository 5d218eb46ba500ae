import { createHash } from "node:crypto";
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { S3Connection, S3ObjectStore, translateS3Error } from "@chunksync/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededBytes } from "../support/data.js";
import { FaultProxy } from "../support/faultProxy.js";
import { createBucket, emptyAndDeleteBucket, localS3, s3Client, uniqueBucketName } from "../support/s3.js";

const attrs = { metadata: {} };

/**
 * HEAD, GET, PUT and UploadPart go to the server without the SDK (S3Requests); the same
 * refusal must reach the engine as the same typed error either way.
 */
describe("object requests sent without the SDK fail as the SDK's do", () => {
  let admin: S3Client;
  let bucket: string;
  let proxy: FaultProxy;

  beforeAll(async () => {
    admin = s3Client("destination");
    bucket = uniqueBucketName("dst-lean-errors");
    await createBucket(admin, bucket);
    proxy = await FaultProxy.start({ upstream: localS3().endpoint });
  });
  afterAll(async () => {
    await proxy.stop();
    await emptyAndDeleteBucket(admin, bucket);
    admin.destroy();
  });

  /** A store and an SDK client with the same settings, sending to `endpoint`. */
  async function pair(
    credentials = localS3().users.destination,
    endpoint = localS3().endpoint,
  ): Promise<{ store: S3ObjectStore; client: S3Client }> {
    const connection = await S3Connection.open({
      endpoint,
      region: localS3().region,
      credentials,
      maxAttempts: 1,
    });
    return { store: new S3ObjectStore({ connection, bucket }), client: (await connection.sdk()).client };
  }

  /** The `code` the adapter's translation gives the SDK's error for the same request. */
  async function sdkCode(send: () => Promise<unknown>): Promise<string> {
    try {
      await send();
    } catch (error) {
      return translateS3Error(error, { operation: "sdk", bucket }).code;
    }
    throw new Error("the SDK's request succeeded");
  }

  it("a missing key: OBJECT_NOT_FOUND on read, absent on head and readFirst", async () => {
    const { store, client } = await pair();
    await expect(store.read("missing", { offset: 0, length: 4 }, '"x"')).rejects.toMatchObject({
      code: "OBJECT_NOT_FOUND",
      key: "missing",
    });
    expect(await sdkCode(() => client.send(new GetObjectCommand({ Bucket: bucket, Key: "missing" })))).toBe(
      "OBJECT_NOT_FOUND",
    );
    expect(await store.head("missing")).toBeUndefined();
    expect(await store.readFirst("missing", 4)).toBeUndefined();
  });

  it("If-None-Match on an existing key and If-Match on a changed one: PRECONDITION_FAILED (412)", async () => {
    const { store, client } = await pair();
    const data = seededBytes("lean-412", 4096);
    const { etag } = await store.put("taken", data, data.length, attrs, { ifNoneMatch: "*" });
    await expect(store.put("taken", data, data.length, attrs, { ifNoneMatch: "*" })).rejects.toMatchObject({
      code: "PRECONDITION_FAILED",
    });
    const md5 = createHash("md5").update(data).digest("base64");
    expect(
      await sdkCode(() =>
        client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: "taken",
            Body: data,
            ContentMD5: md5,
            IfNoneMatch: "*",
          }),
        ),
      ),
    ).toBe("PRECONDITION_FAILED");
    await expect(store.read("taken", { offset: 0, length: 4 }, '"0000"')).rejects.toMatchObject({
      code: "PRECONDITION_FAILED",
    });
    const body = await store.read("taken", { offset: 0, length: 4 }, etag);
    expect(Buffer.concat(await body.toArray())).toEqual(data.subarray(0, 4));
  });

  it("a wrong secret or an unknown key id: INVALID_CREDENTIALS naming the server's code (403)", async () => {
    const user = localS3().users.destination;
    for (const [credentials, reason] of [
      [{ ...user, secretAccessKey: `${user.secretAccessKey}x` }, "SignatureDoesNotMatch"],
      [{ ...user, accessKeyId: "NOSUCHKEY" }, "InvalidAccessKeyId"],
    ] as const) {
      const { store, client } = await pair(credentials);
      const data = seededBytes("lean-403", 4096);
      const refused = store.put("denied", data, data.length, attrs, undefined);
      await expect(refused).rejects.toMatchObject({ code: "INVALID_CREDENTIALS" });
      await expect(refused).rejects.toThrow(reason);
      await expect(store.read("denied", { offset: 0, length: 4 }, '"x"')).rejects.toThrow(reason);
      expect(await sdkCode(() => client.send(new GetObjectCommand({ Bucket: bucket, Key: "denied" })))).toBe(
        "INVALID_CREDENTIALS",
      );
    }
  });

  it("a bit flipped in a PUT body is refused by its Content-MD5: BAD_DIGEST, nothing written", async () => {
    const { store, client } = await pair(undefined, proxy.url);
    const data = seededBytes("lean-flip", 4096);
    proxy.setRules([{ name: "flip", action: "flipBit", method: "PUT", times: 2 }]);
    await expect(store.put("flipped", data, data.length, attrs, { ifNoneMatch: "*" })).rejects.toMatchObject({
      code: "BAD_DIGEST",
    });
    const md5 = createHash("md5").update(data).digest("base64");
    expect(
      await sdkCode(() =>
        client.send(new PutObjectCommand({ Bucket: bucket, Key: "flipped", Body: data, ContentMD5: md5 })),
      ),
    ).toBe("BAD_DIGEST");
    expect(proxy.firedCount("flip")).toBe(2);
    expect(await store.head("flipped")).toBeUndefined();
  });
});
