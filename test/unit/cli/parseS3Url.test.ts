import { describe, expect, it } from "vitest";
import { parseS3Url } from "../../../packages/cli/src/parseS3Url.js";

describe("parseS3Url", () => {
  it.each(["photos", "./photos", "/home/me/photos", "C:\\photos", "bucket/x"])(
    "says a local path (%j) is not supported yet",
    (text) => {
      expect(() => parseS3Url(text, "SRC")).toThrow(
        `SRC: expected an S3 URL like s3://bucket or s3://bucket/prefix (local paths are not supported yet), got "${text}"`,
      );
    },
  );

  it.each(["s3:/nope", "http://bucket/x", "file:///tmp/x"])(
    "a URL of another shape (%j) is only malformed",
    (text) => {
      expect(() => parseS3Url(text, "DST")).toThrow(
        /^DST: expected an S3 URL like s3:\/\/bucket or s3:\/\/bucket\/prefix, got/,
      );
    },
  );

  it("refuses a prefix no key fits under (S3 keys are at most 1,024 bytes)", () => {
    const fits = "p".repeat(1021);
    expect(parseS3Url(`s3://b-1/${fits}é`, "SRC").prefix).toBe(`${fits}é`);
    expect(parseS3Url(`s3://b-1/${fits}é/`, "SRC").prefix).toBe(`${fits}é/`);
    for (const prefix of [`${fits}éx`, `${fits}é//`, "ключ/".repeat(114)]) {
      expect(() => parseS3Url(`s3://b-1/${prefix}`, "SRC")).toThrow(
        /^SRC: expected a prefix of at most 1,024 bytes of UTF-8 with its trailing "\/" .*, got 1,02[5-6]$/,
      );
    }
  });

  it("reads bucket and prefix", () => {
    expect(parseS3Url("s3://my-bucket/a/b", "SRC")).toEqual({ bucket: "my-bucket", prefix: "a/b" });
  });
});
