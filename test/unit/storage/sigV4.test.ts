import { createHash, createHmac } from "node:crypto";
import { HttpRequest } from "@smithy/core/protocols";
import { SignatureV4 } from "@smithy/signature-v4";
import type { SourceData } from "@smithy/types";
import { describe, expect, it } from "vitest";
import { SigV4Signer, uriEncode } from "../../../packages/storage/src/sigV4.js";

const bytes = (data: SourceData): string | Uint8Array =>
  typeof data === "string"
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

/** node:crypto as the hash constructor the SDK's signer takes. */
class Sha256 {
  readonly #hash;
  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(secret));
  }
  update(data: SourceData): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}

describe("SigV4Signer", () => {
  it("signs AWS's get-vanilla test vector to its published signature", () => {
    // The vector signs host and x-amz-date only, over an empty payload.
    const headers: Record<string, string> = { host: "example.amazonaws.com" };
    new SigV4Signer("us-east-1", "service").sign(
      { method: "GET", path: "/", query: "", headers },
      { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
      new Date("2015-08-30T12:36:00Z"),
    );
    expect(headers.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, " +
        "SignedHeaders=host;x-amz-date, " +
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
  });

  it("signs AWS's chunked PutObject example (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): the seed, then each chunk chained to the one before", () => {
    const headers: Record<string, string> = {
      host: "s3.amazonaws.com",
      "x-amz-storage-class": "REDUCED_REDUNDANCY",
      "content-encoding": "aws-chunked",
      "x-amz-decoded-content-length": "66560",
      "content-length": "66824",
      "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    };
    const chain = new SigV4Signer("us-east-1").sign(
      { method: "PUT", path: "/examplebucket/chunkObject.txt", query: "", headers },
      { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
      new Date("2013-05-24T00:00:00Z"),
    );
    expect(headers.authorization).toMatch(
      /Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9$/,
    );
    const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
    // 64 KiB of "a", 1 KiB of "a", then the empty chunk that ends the body.
    expect(chain(sha256(Buffer.alloc(65536, "a")))).toBe(
      "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    );
    expect(chain(sha256(Buffer.alloc(1024, "a")))).toBe(
      "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    );
    expect(chain(sha256(Buffer.alloc(0)))).toBe(
      "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    );
  });

  it("gives the SDK signer's authorization for an UploadPart with every kind of header", async () => {
    const credentials = { accessKeyId: "AKID", secretAccessKey: "secret/key+x", sessionToken: "tok en==" };
    const key = "dir/a b+c(1)!*'~é.bin";
    const path = `/bucket/${key.split("/").map(uriEncode).join("/")}`;
    const headers = {
      host: "127.0.0.1:9000",
      "content-length": "5",
      "content-md5": "XUFAKrxLKna5cZ2REBfFkg==",
      "cache-control": "no-cache",
      "user-agent": "chunksync",
      "x-amz-meta-note": "  two   spaces ",
      "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
    };
    const date = new Date("2026-12-02T10:11:12Z");
    const ours = { ...headers } as Record<string, string>;
    new SigV4Signer("eu-west-1").sign(
      { method: "PUT", path, query: "partNumber=3&uploadId=a%2Fb%3D", headers: ours },
      credentials,
      date,
    );

    const sdk = new SignatureV4({
      credentials,
      region: "eu-west-1",
      service: "s3",
      sha256: Sha256,
      uriEscapePath: false,
    });
    const signed = await sdk.sign(
      new HttpRequest({
        method: "PUT",
        protocol: "http:",
        hostname: "127.0.0.1",
        port: 9000,
        path,
        query: { uploadId: "a/b=", partNumber: "3" },
        headers: { ...headers },
      }),
      { signingDate: date },
    );
    expect(ours.authorization).toBe(signed.headers.authorization);
    expect(ours["x-amz-security-token"]).toBe("tok en==");
  });

  it("encodes a key as S3 wants it signed: RFC 3986 reserved characters escaped, UTF-8 bytes", () => {
    expect(uriEncode("a b+c(1)!*'~é")).toBe("a%20b%2Bc%281%29%21%2A%27~%C3%A9");
  });
});
