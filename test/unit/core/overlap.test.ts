import {
  directoryPrefix,
  prefixesOverlap,
  type SideLocation,
  sidesOverlap,
  storageOf,
} from "@chunksync/core";
import { describe, expect, it } from "vitest";

const at = (bucket: string, prefix: string, storage = "http://127.0.0.1:9000"): SideLocation => ({
  storage,
  bucket,
  prefix,
});

describe("directoryPrefix", () => {
  it("reads a prefix as a directory", () => {
    expect(directoryPrefix("")).toBe("");
    expect(directoryPrefix("photos")).toBe("photos/");
    expect(directoryPrefix("photos/")).toBe("photos/");
  });
});

describe("prefixesOverlap (prefixes read as directories)", () => {
  it.each([
    ["keep", "", true],
    ["", "backup", true],
    ["", "", true],
    ["a/b", "a/b/", true],
    ["a", "a/b/c", true],
    ["a/b/c", "a", true],
  ])("%j and %j overlap", (a, b, expected) => {
    expect(prefixesOverlap(a, b)).toBe(expected);
    expect(prefixesOverlap(b, a)).toBe(expected);
  });

  it.each([
    ["photo", "photos"],
    ["a/b", "a/c"],
    ["2024", "2024-backup"],
  ])("%j and %j do not (one is not a directory of the other)", (a, b) => {
    expect(prefixesOverlap(a, b)).toBe(false);
    expect(prefixesOverlap(b, a)).toBe(false);
  });
});

describe("sidesOverlap", () => {
  it("one storage, one bucket, nested prefixes: overlap", () => {
    expect(sidesOverlap(at("b", "keep"), at("b", ""))).toBe(true);
    expect(sidesOverlap(at("b", ""), at("b", "backup"))).toBe(true);
    expect(sidesOverlap(at("b", ""), at("b", ""))).toBe(true);
  });

  it("sibling prefixes, other buckets or other endpoints do not overlap", () => {
    expect(sidesOverlap(at("b", "photo"), at("b", "photos"))).toBe(false);
    expect(sidesOverlap(at("b", ""), at("c", ""))).toBe(false);
    expect(sidesOverlap(at("b", ""), at("b", "", "http://127.0.0.1:9001"))).toBe(false);
  });

  it("on AWS, two different expected owners cannot reach one bucket; one owner alone still can", () => {
    const aws = (owner?: string): SideLocation => ({
      ...at("b", "", storageOf(undefined, "eu-west-1")),
      ...(owner ? { owner } : {}),
    });
    expect(sidesOverlap(aws("111111111111"), aws("222222222222"))).toBe(false);
    expect(sidesOverlap(aws("111111111111"), aws())).toBe(true);
    expect(sidesOverlap(aws("111111111111"), aws("111111111111"))).toBe(true);
  });

  it("on another endpoint expected owners prove nothing (a server may ignore the header)", () => {
    expect(
      sidesOverlap({ ...at("b", ""), owner: "111111111111" }, { ...at("b", ""), owner: "222222222222" }),
    ).toBe(true);
  });
});

describe("storageOf", () => {
  it("AWS without an endpoint is one namespace per partition, whatever the region", () => {
    expect(storageOf(undefined, "eu-west-1")).toBe(storageOf(undefined, "us-east-1"));
    expect(storageOf(undefined, "cn-north-1")).not.toBe(storageOf(undefined, "us-east-1"));
    expect(storageOf(undefined, "us-gov-west-1")).not.toBe(storageOf(undefined, "us-east-1"));
  });

  it("an endpoint is its scheme, host, port and path, spelled any way", () => {
    expect(storageOf("http://LOCALHOST:9000/", "us-east-1")).toBe(
      storageOf("http://localhost:9000", "eu-west-1"),
    );
    expect(storageOf("https://s3.example.com:443", "x")).toBe(storageOf("https://s3.example.com", "x"));
    expect(storageOf("http://127.0.0.1:9000", "x")).not.toBe(storageOf("http://127.0.0.1:9001", "x"));
    expect(storageOf("https://s3.eu-west-1.amazonaws.com", "eu-west-1")).not.toBe(
      storageOf(undefined, "eu-west-1"),
    );
  });
});
