import { createHash } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import {
  PreconditionFailedError,
  S3Connection,
  S3ObjectStore,
  StorageUnavailableError,
} from "@chunksync/storage";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

/** What the server saw of one request. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** How the server answers the next request; each is used once, then `ok`. */
type Answer = (response: ServerResponse) => void;

const DATE = "Wed, 02 Dec 2026 10:00:00 GMT";
const ok: Answer = (response) => {
  response.writeHead(200, { etag: '"e1"', date: DATE, "content-length": "0" });
  response.end();
};
const failWith =
  (status: number, code: string): Answer =>
  (response) => {
    const xml = `<?xml version="1.0"?><Error><Code>${code}</Code><Message>m</Message></Error>`;
    response.writeHead(status, { "content-type": "application/xml", "content-length": String(xml.length) });
    response.end(xml);
  };
const cutConnection: Answer = (response) => response.socket?.destroy();

let server: Server;
let endpoint: string;
const seen: Seen[] = [];
const answers: Answer[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      seen.push({
        method: request.method ?? "",
        url: request.url ?? "",
        headers: request.headers,
        body: Buffer.concat(chunks),
      });
      (answers.shift() ?? ok)(response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen.length = 0;
  answers.length = 0;
});

const connectionWith = (maxAttempts = 3): Promise<S3Connection> =>
  S3Connection.open({
    endpoint,
    region: "eu-west-1",
    credentials: { accessKeyId: "AKID", secretAccessKey: "secret" },
    maxAttempts,
  });

/** A store's connection and the SDK's client on it, for requests sent both ways. */
async function clientWith(): Promise<{ connection: S3Connection; client: S3Client }> {
  const connection = await connectionWith();
  return { connection, client: (await connection.sdk()).client };
}

/** The headers that only say which library sent a request, or when. */
const CLIENT_ONLY = new Set([
  "authorization",
  "x-amz-date",
  "user-agent",
  "x-amz-user-agent",
  "amz-sdk-invocation-id",
  "amz-sdk-request",
  "connection",
  "host",
]);
function wire(s: Seen | undefined) {
  const headers = Object.fromEntries(Object.entries(s?.headers ?? {}).filter(([n]) => !CLIENT_ONLY.has(n)));
  // The SDK names the operation in an x-id parameter that servers ignore.
  const [path, query = ""] = (s?.url ?? "").split("?");
  const params = query.split("&").filter((p) => p !== "" && !p.startsWith("x-id="));
  return { method: s?.method, path, params: params.sort(), headers, body: s?.body.toString("hex") };
}

describe("object requests sent without the SDK", () => {
  const sseKey = Buffer.alloc(32, 7);
  const sse = {
    SSECustomerAlgorithm: "AES256",
    SSECustomerKey: sseKey.toString("base64"),
    SSECustomerKeyMD5: createHash("md5").update(sseKey).digest("base64"),
  };
  const owner = { ExpectedBucketOwner: "111122223333" };
  const key = "dir/a b+(1)é.bin";

  it("send what the SDK sends for PutObject, UploadPart, GetObject and HeadObject", async () => {
    const { connection, client } = await clientWith();
    const store = new S3ObjectStore({
      connection,
      bucket: "b",
      write: {
        storageClass: "STANDARD_IA",
        serverSideEncryption: "aws:kms",
        kmsKeyId: "kid",
        kmsEncryptionContext: '{"a":"b"}',
      },
      expectedBucketOwner: owner.ExpectedBucketOwner,
      sseCustomerKey: sseKey,
    });
    const body = Buffer.from("hello");
    const md5 = createHash("md5").update(body).digest("base64");
    const expires = new Date("2027-01-01T00:00:00Z");
    const exchanges: Array<[() => Promise<unknown>, () => Promise<unknown>]> = [
      [
        () =>
          store.put(
            key,
            body,
            5,
            {
              contentType: "text/plain",
              contentEncoding: "gzip",
              contentLanguage: "en",
              contentDisposition: "attachment",
              cacheControl: "max-age=60",
              expires,
              metadata: { Mixed: "v", other: "w x" },
              tagging: "a=1&b=2",
            },
            { ifNoneMatch: "*" },
          ),
        () =>
          client.send(
            new PutObjectCommand({
              Bucket: "b",
              Key: key,
              Body: body,
              ContentLength: 5,
              ContentMD5: md5,
              ContentType: "text/plain",
              ContentEncoding: "gzip",
              ContentLanguage: "en",
              ContentDisposition: "attachment",
              CacheControl: "max-age=60",
              Expires: expires,
              Metadata: { Mixed: "v", other: "w x" },
              StorageClass: "STANDARD_IA",
              ServerSideEncryption: "aws:kms",
              SSEKMSKeyId: "kid",
              SSEKMSEncryptionContext: Buffer.from('{"a":"b"}').toString("base64"),
              Tagging: "a=1&b=2",
              IfNoneMatch: "*",
              ...owner,
              ...sse,
            }),
          ),
      ],
      [
        () => store.resumeUpload(key, "up/id=").uploadPart(2, Readable.from([body]), 5),
        () =>
          client.send(
            new UploadPartCommand({
              Bucket: "b",
              Key: key,
              UploadId: "up/id=",
              PartNumber: 2,
              Body: Readable.from([body]),
              ContentLength: 5,
              ...owner,
              ...sse,
            }),
          ),
      ],
      [
        async () => (await store.read(key, { offset: 10, length: 5 }, '"e1"')).resume(),
        async () =>
          (
            await client.send(
              new GetObjectCommand({
                Bucket: "b",
                Key: key,
                Range: "bytes=10-14",
                IfMatch: '"e1"',
                ...owner,
                ...sse,
              }),
            )
          ).Body,
      ],
      [
        () => store.head(key),
        () => client.send(new HeadObjectCommand({ Bucket: "b", Key: key, ...owner, ...sse })),
      ],
    ];
    for (const [ours, sdks] of exchanges) {
      await ours();
      await sdks();
      expect(seen).toHaveLength(2);
      expect(wire(seen[0])).toEqual(wire(seen[1]));
      seen.length = 0;
    }
  });

  it("read a head from the response headers, and note the server's clock", async () => {
    const store = new S3ObjectStore({ connection: await connectionWith(), bucket: "b" });
    answers.push((response) => {
      response.writeHead(200, {
        etag: '"e1"',
        date: DATE,
        "content-length": "42",
        "content-type": "text/plain",
        "last-modified": "Tue, 01 Dec 2026 09:00:00 GMT",
        expires: "Fri, 01 Jan 2027 00:00:00 GMT",
        "x-amz-version-id": "v1",
        "x-amz-storage-class": "GLACIER",
        "x-amz-restore": 'ongoing-request="false", expiry-date="Fri, 01 Jan 2027 00:00:00 GMT"',
        "x-amz-meta-note": "n",
      });
      response.end();
    });
    expect(await store.head("k")).toEqual({
      key: "k",
      size: 42,
      etag: '"e1"',
      lastModified: Date.parse("Tue, 01 Dec 2026 09:00:00 GMT"),
      versionId: "v1",
      storageClass: "GLACIER",
      archived: false,
      contentType: "text/plain",
      expires: new Date("2027-01-01T00:00:00Z"),
      metadata: { note: "n" },
    });
    expect(store.serverTime()).toBe(Date.parse(DATE));
  });

  it("retry a Buffer body after 500s and a cut connection, as the client's retry strategy allows", async () => {
    const store = new S3ObjectStore({ connection: await connectionWith(4), bucket: "b" });
    answers.push(failWith(500, "InternalError"), cutConnection, failWith(503, "ServiceUnavailable"));
    await expect(store.put("k", Buffer.from("x"), 1, { metadata: {} }, undefined)).resolves.toEqual({
      etag: '"e1"',
    });
    expect(seen).toHaveLength(4);
    expect(new Set(seen.map((s) => s.body.toString()))).toEqual(new Set(["x"]));
  });

  it("stop after maxAttempts, with the server's failure", async () => {
    const store = new S3ObjectStore({ connection: await connectionWith(2), bucket: "b" });
    answers.push(
      failWith(500, "InternalError"),
      failWith(500, "InternalError"),
      failWith(500, "InternalError"),
    );
    await expect(store.put("k", Buffer.from("x"), 1, { metadata: {} }, undefined)).rejects.toBeInstanceOf(
      StorageUnavailableError,
    );
    expect(seen).toHaveLength(2);
  });

  it("never retry a failed condition, nor a streamed body", async () => {
    const store = new S3ObjectStore({ connection: await connectionWith(), bucket: "b" });
    answers.push(failWith(412, "PreconditionFailed"));
    await expect(
      store.put("k", Buffer.from("x"), 1, { metadata: {} }, { ifNoneMatch: "*" }),
    ).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(seen).toHaveLength(1);

    answers.push(failWith(500, "InternalError"));
    await expect(
      store.put("k", Readable.from([Buffer.from("x")]), 1, { metadata: {} }, undefined),
    ).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(seen).toHaveLength(2);
  });
});

describe("listings sent without the SDK", () => {
  const page = (contents: string, tail: string) =>
    `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>${tail}${contents}</ListBucketResult>`;
  const entry = (key: string) =>
    `<Contents><Key>${key}</Key><LastModified>2026-12-01T09:00:00.000Z</LastModified><ETag>&quot;e&quot;</ETag><Size>3</Size></Contents>`;
  const listing =
    (xml: string): Answer =>
    (response) => {
      response.writeHead(200, {
        "content-type": "application/xml",
        "content-length": String(Buffer.byteLength(xml)),
      });
      response.end(xml);
    };

  it("ask what the SDK asks for a ListObjectsV2 page, and follow its continuation token", async () => {
    const { connection, client } = await clientWith();
    const store = new S3ObjectStore({ connection, bucket: "b", expectedBucketOwner: "111122223333" });
    answers.push(
      listing(
        page(
          entry("p/a b"),
          "<IsTruncated>true</IsTruncated><NextContinuationToken>t/1+=</NextContinuationToken>",
        ),
      ),
      listing(page(entry("p/é&amp;"), "<IsTruncated>false</IsTruncated>")),
      listing(page("", "<IsTruncated>false</IsTruncated>")),
      listing(page("", "<IsTruncated>false</IsTruncated>")),
    );
    const keys: string[] = [];
    for await (const o of store.list("p/", undefined, "p/0 (x)", 7)) keys.push(o.key);
    expect(keys).toEqual(["p/a b", "p/é&"]);
    await client.send(
      new ListObjectsV2Command({
        Bucket: "b",
        Prefix: "p/",
        StartAfter: "p/0 (x)",
        MaxKeys: 7,
        ExpectedBucketOwner: "111122223333",
      }),
    );
    await client.send(
      new ListObjectsV2Command({
        Bucket: "b",
        Prefix: "p/",
        ContinuationToken: "t/1+=",
        MaxKeys: 7,
        ExpectedBucketOwner: "111122223333",
      }),
    );
    expect(seen).toHaveLength(4);
    expect(wire(seen[0])).toEqual(wire(seen[2]));
    expect(wire(seen[1])).toEqual(wire(seen[3]));
    expect(wire(seen[1]).params).toContain("continuation-token=t%2F1%2B%3D");
  });

  it("take a first page asked for ahead (the CLI's check of a side) instead of asking again, once", async () => {
    const store = new S3ObjectStore({ connection: await connectionWith(1), bucket: "b" });
    answers.push(
      listing(
        page(entry("p/a"), "<IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken>"),
      ),
      listing(page(entry("p/b"), "<IsTruncated>false</IsTruncated>")),
      listing(page(entry("p/c"), "<IsTruncated>false</IsTruncated>")),
    );
    await store.prefetchList("p/");
    expect(seen).toHaveLength(1);
    const keys: string[] = [];
    for await (const o of store.list("p/")) keys.push(o.key);
    expect(keys).toEqual(["p/a", "p/b"]);
    expect(seen).toHaveLength(2);
    expect(wire(seen[1]).params).toContain("continuation-token=t");
    // Taken once: the next listing asks the server.
    for await (const o of store.list("p/")) keys.push(o.key);
    expect(keys).toEqual(["p/a", "p/b", "p/c"]);
    expect(seen).toHaveLength(3);
  });

  it("drop a page asked for ahead at the store's next other request: a listing after a write sees it", async () => {
    const store = new S3ObjectStore({ connection: await connectionWith(1), bucket: "b" });
    answers.push(
      listing(page("", "<IsTruncated>false</IsTruncated>")),
      ok,
      listing(page(entry("p/a"), "<IsTruncated>false</IsTruncated>")),
    );
    await store.prefetchList("p/");
    await store.put("p/a", Buffer.from("abc"), 3, { metadata: {} }, undefined);
    const keys: string[] = [];
    for await (const o of store.list("p/")) keys.push(o.key);
    expect(keys).toEqual(["p/a"]);
    expect(seen.map((r) => r.method)).toEqual(["GET", "PUT", "GET"]);
  });

  it("keep no failed page asked for ahead, nor give a page to a listing of another prefix", async () => {
    const store = new S3ObjectStore({ connection: await connectionWith(1), bucket: "b" });
    answers.push(
      failWith(403, "AccessDenied"),
      listing(page(entry("p/a"), "<IsTruncated>false</IsTruncated>")),
      listing(page(entry("q/a"), "<IsTruncated>false</IsTruncated>")),
    );
    await expect(store.prefetchList("p/")).rejects.toThrow();
    await store.prefetchList("p/");
    const keys: string[] = [];
    for await (const o of store.list("q/")) keys.push(o.key);
    expect(keys).toEqual(["q/a"]);
    expect(seen.map((r) => wire(r).params.find((q) => q.startsWith("prefix=")))).toEqual([
      "prefix=p%2F",
      "prefix=p%2F",
      "prefix=q%2F",
    ]);
  });

  it("retry a listing whose body was cut short, and refuse one that is not a listing", async () => {
    const store = new S3ObjectStore({ connection: await connectionWith(), bucket: "b" });
    const whole = page(entry("k"), "<IsTruncated>false</IsTruncated>");
    answers.push((response) => {
      response.writeHead(200, { "content-length": String(whole.length) });
      response.write(whole.slice(0, 40));
      setTimeout(() => response.socket?.destroy(), 20);
    }, listing(whole));
    const keys: string[] = [];
    for await (const o of store.list("")) keys.push(o.key);
    expect(keys).toEqual(["k"]);
    expect(seen).toHaveLength(2);

    answers.push(listing("<html>proxy error</html>"));
    await expect(
      (async () => {
        for await (const _ of store.list("")) break;
      })(),
    ).rejects.toMatchObject({
      code: "STORAGE_UNAVAILABLE",
      message: expect.stringContaining("ListBucketResult"),
    });
  });
});
