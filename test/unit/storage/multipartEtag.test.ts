import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { multipartEtag } from "../../../packages/storage/src/multipartEtag.js";

const md5 = (data: Buffer) => createHash("md5").update(data).digest();

describe("multipartEtag", () => {
  it("is the MD5 of the parts' MD5s as bytes, a dash and the count, whether or not the parts' ETags are quoted", () => {
    const parts = [Buffer.from("first part"), Buffer.from("second")];
    const want = `"${md5(Buffer.concat(parts.map(md5))).toString("hex")}-2"`;
    expect(
      multipartEtag([
        { etag: `"${md5(parts[0]!).toString("hex")}"` },
        { etag: md5(parts[1]!).toString("hex") },
      ]),
    ).toBe(want);
  });

  it("says nothing where a part's ETag is not an MD5, or there is no part", () => {
    const good = { etag: `"${"a".repeat(32)}"` };
    expect(multipartEtag([good, { etag: "" }])).toBeUndefined();
    expect(multipartEtag([good, { etag: `"${"a".repeat(32)}-2"` }])).toBeUndefined();
    expect(multipartEtag([good, { etag: "zz".repeat(16) }])).toBeUndefined();
    expect(multipartEtag([])).toBeUndefined();
  });
});
