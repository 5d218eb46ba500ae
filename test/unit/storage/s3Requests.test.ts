import { createHash } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import {
  PreconditionFailedError,
  S3Connection,
  S3ObjectStore,
  StorageUnavailableError,
  translateS3Error,
} from "@chunksync/storage";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

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
/** A 200 with `xml` for a body, as S3 answers a request with a document. */
const document =
  (xml: string): Answer =>
  (response) => {
    response.writeHead(200, {
      "content-type": "application/xml",
      "content-length": String(Buffer.byteLength(xml)),
    });
    response.end(xml);
  };

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

/** An SSE-C key, and the members the SDK's commands take for it. */
const sseKey = Buffer.alloc(32, 7);
const sse = {
  SSECustomerAlgorithm: "AES256",
  SSECustomerKey: sseKey.toString("base64"),
  SSECustomerKeyMD5: createHash("md5").update(sseKey).digest("base64"),
};
const owner = { ExpectedBucketOwner: "111122223333" };

describe("object requests sent without the SDK", () => {
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
    const expires = "Fri, 01 Jan 2027 00:00:00 GMT";
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
              Expires: new Date(expires),
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
      expires: "Fri, 01 Jan 2027 00:00:00 GMT",
      metadata: { note: "n" },
    });
    expect(store.serverTime()).toBe(Date.parse(DATE));
  });

  it("send Expires as the text given and read it back as the text returned, an HTTP date or not", async () => {
    const store = new S3ObjectStore({ connection: await connectionWith(), bucket: "b" });
    for (const expires of ["0", "-1", "never", "Thursday, 01-Dec-94 16:00:00 GMT"]) {
      await store.put("k", Buffer.from("x"), 1, { expires, metadata: {} }, undefined);
      expect(seen.at(-1)?.headers.expires).toBe(expires);
      answers.push((response) => {
        response.writeHead(200, { etag: '"e1"', date: DATE, "content-length": "1", expires });
        response.end();
      });
      expect((await store.head("k"))?.expires).toBe(expires);
    }
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

  it("retry a request another one on the same object aborted (409 OperationAborted)", async () => {
    const store = new S3ObjectStore({ connection: await connectionWith(3), bucket: "b" });
    answers.push(failWith(409, "OperationAborted"), ok);
    await store.putTagging(store.ref("k", '"e1"'), "a=1");
    expect(seen).toHaveLength(2);
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

  it("state a bodiless refusal's status once (a HEAD of an SSE-C object without its key is a bare 400)", async () => {
    const store = new S3ObjectStore({ connection: await connectionWith(), bucket: "b" });
    const bare =
      (status: number): Answer =>
      (response) => {
        response.writeHead(status, { "content-length": "0" });
        response.end();
      };
    answers.push(bare(400));
    // That 400 is said as the key this side was not given.
    await expect(store.head("k")).rejects.toThrow(
      /^head s3:\/\/b\/k: HTTP 400 with no reason \(a HEAD's answer has no body\): most likely the object is encrypted with a customer-provided key \(SSE-C\), which this side was not given \(--src-sse-c-key-file, --dst-sse-c-key-file\)$/,
    );
    const once = new S3ObjectStore({ connection: await connectionWith(1), bucket: "b" });
    answers.push(bare(501));
    await expect(once.head("k")).rejects.toThrow(/^head s3:\/\/b\/k: UnknownError \(HTTP 501\)$/);
  });

  // A first page of versions the store cannot use: refused for good (a 501, never retried), or
  // not S3's form (a version that does not say whether it is current).
  for (const [what, answer] of [
    ["answered 501 (a call the server does not have)", failWith(501, "NotImplemented")],
    [
      "answered in a form this adapter cannot read",
      document(
        '<?xml version="1.0"?><ListVersionsResult><IsTruncated>false</IsTruncated>' +
          "<Version><Key>k</Key><VersionId>v</VersionId><ETag>&quot;e1&quot;</ETag><Size>1</Size></Version>" +
          "</ListVersionsResult>",
      ),
    ],
  ] as const)
    it(`a listing of versions ${what} lists without them, once, and the store asks no more`, async () => {
      const store = new S3ObjectStore({ connection: await connectionWith(), bucket: "b" });
      answers.push(
        answer,
        document(
          '<?xml version="1.0"?><ListBucketResult><IsTruncated>false</IsTruncated>' +
            "<Contents><Key>k</Key><LastModified>2026-12-02T10:00:00.000Z</LastModified>" +
            "<ETag>&quot;e1&quot;</ETag><Size>1</Size></Contents></ListBucketResult>",
        ),
      );
      const listed = [];
      for await (const o of store.list("", undefined, undefined, undefined, true)) listed.push(o);
      expect(listed.map((o) => [o.key, o.versionId])).toEqual([["k", undefined]]);
      expect(seen.map((r) => r.url)).toEqual(["/b/?versions=", "/b/?list-type=2"]);
      // The store asks no more, for the rest of its life.
      answers.push(
        document(
          '<?xml version="1.0"?><ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>',
        ),
      );
      for await (const _ of store.list("", undefined, undefined, undefined, true)) break;
      expect(seen.at(-1)?.url).toBe("/b/?list-type=2");
    });

  it("say a part upload whose multipart upload is gone (404 NoSuchUpload) as that, not as a missing object", async () => {
    const store = new S3ObjectStore({ connection: await connectionWith(1), bucket: "b" });
    answers.push(failWith(404, "NoSuchUpload"));
    await expect(store.resumeUpload("k", "up").uploadPart(1, Buffer.from("part"), 4)).rejects.toMatchObject({
      code: "OBJECT_NOT_FOUND",
      message: expect.stringContaining("the multipart upload no longer exists (aborted by another process"),
    });
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

describe("multipart uploads and copies sent without the SDK", () => {
  const copySse = {
    CopySourceSSECustomerAlgorithm: sse.SSECustomerAlgorithm,
    CopySourceSSECustomerKey: sse.SSECustomerKey,
    CopySourceSSECustomerKeyMD5: sse.SSECustomerKeyMD5,
  };
  const key = "dir/a b+c?d&é (1).bin";
  const source = "src/x y+z?é.bin";
  /** `source` as S3's x-amz-copy-source header names it: bucket, then the key URL-encoded with its slashes. */
  const copySource = "b/src/x%20y%2Bz%3F%C3%A9.bin";
  const wrap = (root: string, inner: string) =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</${root}>`;
  const created = document(
    wrap("InitiateMultipartUploadResult", "<Bucket>b</Bucket><Key>k</Key><UploadId>up/id=</UploadId>"),
  );
  const copied = (root: string, etag: string) =>
    document(wrap(root, `<LastModified>2026-12-03T10:00:00.000Z</LastModified><ETag>${etag}</ETag>`));
  const completed = (etag: string) =>
    document(
      wrap("CompleteMultipartUploadResult", `<Location>l</Location><Bucket>b</Bucket><Key>k</Key>${etag}`),
    );
  /** A 200 whose body, after the whitespace S3 sends while it works, is `xml`. */
  const lateFailure =
    (xml: string): Answer =>
    (response) => {
      response.writeHead(200, { "content-type": "application/xml" });
      response.write("  \n  ");
      response.end(xml);
    };
  const internalError = "<Error><Code>InternalError</Code><Message>try again</Message></Error>";
  const noContent: Answer = (response) => {
    response.writeHead(204);
    response.end();
  };

  async function storeWith(maxAttempts = 3) {
    const connection = await connectionWith(maxAttempts);
    const client = (await connection.sdk()).client;
    const store = new S3ObjectStore({
      connection,
      bucket: "b",
      write: { storageClass: "STANDARD_IA", serverSideEncryption: "aws:kms", kmsKeyId: "kid" },
      expectedBucketOwner: owner.ExpectedBucketOwner,
      sseCustomerKey: sseKey,
    });
    return { store, client };
  }

  /** Sends ours, then the SDK's, each answered by `answer`; both must reach the server alike. */
  async function sameWire(answer: Answer, ours: () => Promise<unknown>, sdks: () => Promise<unknown>) {
    answers.push(answer, answer);
    const mine = await ours();
    await sdks();
    expect(seen).toHaveLength(2);
    expect(wire(seen[0])).toEqual(wire(seen[1]));
    seen.length = 0;
    return mine;
  }

  it("send what the SDK sends for CreateMultipartUpload, UploadPartCopy, CompleteMultipartUpload and AbortMultipartUpload, and read their answers", async () => {
    const { store, client } = await storeWith();
    const attributes = { contentType: "text/plain", cacheControl: "no-cache", metadata: { Note: "n" } };
    const upload = (await sameWire(
      created,
      () => store.createUpload(key, attributes),
      () =>
        client.send(
          new CreateMultipartUploadCommand({
            Bucket: "b",
            Key: key,
            ContentType: "text/plain",
            CacheControl: "no-cache",
            Metadata: { Note: "n" },
            StorageClass: "STANDARD_IA",
            ServerSideEncryption: "aws:kms",
            SSEKMSKeyId: "kid",
            ...owner,
            ...sse,
          }),
        ),
    )) as Awaited<ReturnType<S3ObjectStore["createUpload"]>>;
    expect(upload.uploadId).toBe("up/id=");

    const part = await sameWire(
      copied("CopyPartResult", "&quot;p3&quot;"),
      () => upload.copyPart(3, store.ref(source, '"e0"'), { offset: 5, length: 10 }),
      () =>
        client.send(
          new UploadPartCopyCommand({
            Bucket: "b",
            Key: key,
            UploadId: "up/id=",
            PartNumber: 3,
            CopySource: copySource,
            CopySourceRange: "bytes=5-14",
            CopySourceIfMatch: '"e0"',
            ...owner,
            ...sse,
            ...copySse,
          }),
        ),
    );
    expect(part).toEqual({ partNumber: 3, etag: '"p3"' });

    const parts = [
      { partNumber: 1, etag: '"a&b"' },
      { partNumber: 3, etag: '"p3"' },
    ];
    const done = await sameWire(
      completed("<ETag>&quot;c-2&quot;</ETag>"),
      () => upload.complete(parts, { ifMatch: '"old"' }),
      () =>
        client.send(
          new CompleteMultipartUploadCommand({
            Bucket: "b",
            Key: key,
            UploadId: "up/id=",
            MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
            IfMatch: '"old"',
            ...owner,
            ...sse,
          }),
        ),
    );
    expect(done).toEqual({ etag: '"c-2"' });

    await sameWire(
      noContent,
      () => upload.abort(),
      () =>
        client.send(new AbortMultipartUploadCommand({ Bucket: "b", Key: key, UploadId: "up/id=", ...owner })),
    );
  });

  it("send what the SDK sends for CopyObject, and read the copy's ETag", async () => {
    const { store, client } = await storeWith();
    const attributes = { contentType: "text/plain", metadata: { a: "1" } };
    const out = await sameWire(
      copied("CopyObjectResult", "&quot;c1&quot;"),
      () => store.copyObject(store.ref(source, '"e0"'), key, attributes, { ifNoneMatch: "*" }),
      () =>
        client.send(
          new CopyObjectCommand({
            Bucket: "b",
            Key: key,
            CopySource: copySource,
            CopySourceIfMatch: '"e0"',
            MetadataDirective: "REPLACE",
            TaggingDirective: "REPLACE",
            ContentType: "text/plain",
            Metadata: { a: "1" },
            StorageClass: "STANDARD_IA",
            ServerSideEncryption: "aws:kms",
            SSEKMSKeyId: "kid",
            IfNoneMatch: "*",
            ...owner,
            ...sse,
            ...copySse,
          }),
        ),
    );
    expect(out).toEqual({ etag: '"c1"' });
  });

  it("send what the SDK sends for DeleteObject and GetObjectTagging, and PutObjectTagging with Content-MD5 as its checksum", async () => {
    const { store, client } = await storeWith();
    await sameWire(
      noContent,
      () => store.delete(key),
      () => client.send(new DeleteObjectCommand({ Bucket: "b", Key: key, ...owner })),
    );
    const tags = document(
      wrap(
        "Tagging",
        "<TagSet><Tag><Key>a b</Key><Value>1&amp;2</Value></Tag><Tag><Key>c</Key><Value></Value></Tag></TagSet>",
      ),
    );
    const got = await sameWire(
      tags,
      () => store.tagging(key),
      () => client.send(new GetObjectTaggingCommand({ Bucket: "b", Key: key, ...owner })),
    );
    expect(got).toBe("a%20b=1%262&c=");
    // The tags are set only where the object has none.
    answers.push(document(wrap("Tagging", "<TagSet></TagSet>")), noContent, noContent);
    await store.ensureTagging(key, "a%20b=1%262&c=");
    await client.send(
      new PutObjectTaggingCommand({
        Bucket: "b",
        Key: key,
        Tagging: {
          TagSet: [
            { Key: "a b", Value: "1&2" },
            { Key: "c", Value: "" },
          ],
        },
        ...owner,
      }),
    );
    expect(seen).toHaveLength(3);
    const [, ours, sdks] = seen.map(wire);
    // The SDK's checksum of the body is a CRC32, in a header S3 checks and Ceph RGW 16 ignores, and
    // it signs the body; ours is Content-MD5, which every server checks, so the body goes unsigned
    // as a PutObject's with Content-MD5 does.
    const { "content-md5": md5, "x-amz-content-sha256": payload, ...mine } = ours!.headers;
    const theirs = Object.fromEntries(
      Object.entries(sdks!.headers).filter(
        ([n]) =>
          !n.startsWith("x-amz-checksum") &&
          n !== "x-amz-sdk-checksum-algorithm" &&
          n !== "x-amz-content-sha256",
      ),
    );
    expect({ ...ours, headers: mine }).toEqual({ ...sdks, headers: theirs });
    expect(md5).toBe(createHash("md5").update(seen[1]!.body).digest("base64"));
    expect(payload).toBe("UNSIGNED-PAYLOAD");
  });

  it("ask what the SDK asks for ListMultipartUploads pages, and follow their markers", async () => {
    const { store, client } = await storeWith();
    const uploadXml = (k: string, id: string) =>
      `<Upload><Key>${k}</Key><UploadId>${id}</UploadId><Initiator><ID>i</ID></Initiator><StorageClass>STANDARD</StorageClass><Initiated>2026-12-03T10:00:00.000Z</Initiated></Upload>`;
    const first = wrap(
      "ListMultipartUploadsResult",
      `<Bucket>b</Bucket><Prefix>p/</Prefix><NextKeyMarker>p/b &amp; c</NextKeyMarker><NextUploadIdMarker>u/2+</NextUploadIdMarker><IsTruncated>true</IsTruncated>${uploadXml("p/a", "u1")}${uploadXml("p/b &amp; c", "u/2+")}`,
    );
    const last = wrap(
      "ListMultipartUploadsResult",
      `<Bucket>b</Bucket><IsTruncated>false</IsTruncated>${uploadXml("p/d", "u3")}`,
    );
    answers.push(document(first), document(last), document(first), document(last));
    const listed = [];
    for await (const u of store.listUploads("p/")) listed.push(u);
    const initiated = new Date("2026-12-03T10:00:00.000Z");
    expect(listed).toEqual([
      { key: "p/a", uploadId: "u1", initiated },
      { key: "p/b & c", uploadId: "u/2+", initiated },
      { key: "p/d", uploadId: "u3", initiated },
    ]);
    await client.send(new ListMultipartUploadsCommand({ Bucket: "b", Prefix: "p/", ...owner }));
    await client.send(
      new ListMultipartUploadsCommand({
        Bucket: "b",
        Prefix: "p/",
        KeyMarker: "p/b & c",
        UploadIdMarker: "u/2+",
        ...owner,
      }),
    );
    expect(seen).toHaveLength(4);
    expect(wire(seen[0])).toEqual(wire(seen[2]));
    expect(wire(seen[1])).toEqual(wire(seen[3]));
  });

  it("compose, copy, list and abort uploads, tag and delete with static keys on a path-style endpoint without loading the SDK", async () => {
    const connection = await connectionWith();
    const sdk = vi.spyOn(connection, "sdk");
    const store = new S3ObjectStore({ connection, bucket: "b" });
    answers.push(
      created,
      copied("CopyPartResult", "&quot;p1&quot;"),
      completed("<ETag>&quot;c-1&quot;</ETag>"),
    );
    const upload = await store.createUpload(key, { metadata: {} });
    const part = await upload.copyPart(1, store.ref(source, '"e0"'), { offset: 0, length: 1 });
    await upload.complete([part], { ifNoneMatch: "*" });
    answers.push(copied("CopyObjectResult", "&quot;c1&quot;"));
    await store.copyObject(store.ref(source, '"e0"'), "k2", { metadata: {} }, { ifNoneMatch: "*" });
    answers.push(document(wrap("ListMultipartUploadsResult", "<IsTruncated>false</IsTruncated>")), noContent);
    for await (const _ of store.listUploads("")) break;
    await store.abortUpload(key, "up");
    answers.push(document(wrap("Tagging", "<TagSet></TagSet>")), noContent, noContent);
    await store.ensureTagging(key, "a=1");
    await store.delete(key);
    expect(seen.map((s) => s.method)).toEqual([
      "POST",
      "PUT",
      "POST",
      "PUT",
      "GET",
      "DELETE",
      "GET",
      "PUT",
      "DELETE",
    ]);
    expect(sdk).not.toHaveBeenCalled();
  });

  it("retry a 200 whose body is an <Error> after whitespace, or empty, as the SDK does, and fail as it does once attempts run out", async () => {
    const { store } = await storeWith();
    const upload = store.resumeUpload(key, "up");
    answers.push(lateFailure(internalError), lateFailure(""), copied("CopyPartResult", "&quot;p1&quot;"));
    expect(await upload.copyPart(1, store.ref(source, '"e0"'), { offset: 0, length: 1 })).toEqual({
      partNumber: 1,
      etag: '"p1"',
    });
    expect(seen).toHaveLength(3);

    const once = await storeWith(1);
    const parts = [{ partNumber: 1, etag: '"p1"' }];
    const sdkCode = async (send: () => Promise<unknown>) =>
      send().then(
        () => "resolved",
        (error) => translateS3Error(error, { operation: "sdk", bucket: "b" }).code,
      );
    for (const answer of [lateFailure(internalError), document("")]) {
      answers.push(answer, answer);
      const refused = once.store.resumeUpload(key, "up").complete(parts, { ifNoneMatch: "*" });
      await expect(refused).rejects.toMatchObject({ retryable: true });
      const code = (await refused.catch((error: { code: string }) => error.code)) as string;
      // The SDK's client sends the same request on a connection of the same settings.
      expect(
        await sdkCode(() =>
          once.client.send(
            new CompleteMultipartUploadCommand({
              Bucket: "b",
              Key: key,
              UploadId: "up",
              MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"p1"' }] },
            }),
          ),
        ),
      ).toBe(code);
    }
  });

  it("never retry a failed condition; take the parts' ETags where the answer has none; refuse an answer without an UploadId", async () => {
    const { store } = await storeWith();
    answers.push(failWith(412, "PreconditionFailed"));
    const parts = [{ partNumber: 1, etag: `"${"ab".repeat(16)}"` }];
    await expect(store.resumeUpload(key, "up").complete(parts, { ifNoneMatch: "*" })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    expect(seen).toHaveLength(1);

    answers.push(completed("<ETag></ETag>"));
    const md5 = createHash("md5")
      .update(Buffer.from("ab".repeat(16), "hex"))
      .digest("hex");
    expect(await store.resumeUpload(key, "up").complete(parts, { ifNoneMatch: "*" })).toEqual({
      etag: `"${md5}-1"`,
    });

    answers.push(document(wrap("InitiateMultipartUploadResult", "<Bucket>b</Bucket><Key>k</Key>")));
    await expect(store.createUpload(key, { metadata: {} })).rejects.toMatchObject({
      code: "STORAGE_UNAVAILABLE",
      message: expect.stringContaining("no UploadId"),
    });
  });
});

describe("listings sent without the SDK", () => {
  const page = (contents: string, tail: string) =>
    `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>${tail}${contents}</ListBucketResult>`;
  const entry = (key: string) =>
    `<Contents><Key>${key}</Key><LastModified>2026-12-01T09:00:00.000Z</LastModified><ETag>&quot;e&quot;</ETag><Size>3</Size></Contents>`;
  it("ask what the SDK asks for a ListObjectsV2 page, and follow its continuation token", async () => {
    const { connection, client } = await clientWith();
    const store = new S3ObjectStore({ connection, bucket: "b", expectedBucketOwner: "111122223333" });
    answers.push(
      document(
        page(
          entry("p/a b"),
          "<IsTruncated>true</IsTruncated><NextContinuationToken>t/1+=</NextContinuationToken>",
        ),
      ),
      document(page(entry("p/é&amp;"), "<IsTruncated>false</IsTruncated>")),
      document(page("", "<IsTruncated>false</IsTruncated>")),
      document(page("", "<IsTruncated>false</IsTruncated>")),
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
      document(
        page(entry("p/a"), "<IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken>"),
      ),
      document(page(entry("p/b"), "<IsTruncated>false</IsTruncated>")),
      document(page(entry("p/c"), "<IsTruncated>false</IsTruncated>")),
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
      document(page("", "<IsTruncated>false</IsTruncated>")),
      ok,
      document(page(entry("p/a"), "<IsTruncated>false</IsTruncated>")),
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
      document(page(entry("p/a"), "<IsTruncated>false</IsTruncated>")),
      document(page(entry("q/a"), "<IsTruncated>false</IsTruncated>")),
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
    }, document(whole));
    const keys: string[] = [];
    for await (const o of store.list("")) keys.push(o.key);
    expect(keys).toEqual(["k"]);
    expect(seen).toHaveLength(2);

    answers.push(document("<html>proxy error</html>"));
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
