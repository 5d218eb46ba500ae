import { ValidationError } from "@chunksync/core";
import { parseConfig } from "@chunksync/workflow";
import { describe, expect, it } from "vitest";

const config = (source: object, destination: object) => ({
  source: { region: "eu-west-1", ...source },
  destination: { region: "eu-central-1", ...destination },
});

describe("deployment config: source and destination must not overlap", () => {
  it.each([
    [{ bucket: "data-bucket", prefix: "keep" }, { bucket: "data-bucket" }],
    [{ bucket: "data-bucket" }, { bucket: "data-bucket", prefix: "backup" }],
    [{ bucket: "data-bucket" }, { bucket: "data-bucket" }],
  ])("refuses %j -> %j (bucket names are global on AWS, whatever the regions)", (source, destination) => {
    let error: unknown;
    try {
      parseConfig(config(source, destination));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe("destination.prefix");
    expect((error as ValidationError).code).toBe("SIDES_OVERLAP");
    expect((error as ValidationError).message).toContain("s3://data-bucket");
  });

  it("names both sides", () => {
    expect(() =>
      parseConfig(config({ bucket: "data-bucket", prefix: "keep" }, { bucket: "data-bucket" })),
    ).toThrow(/s3:\/\/data-bucket and s3:\/\/data-bucket\/keep overlap/);
  });

  it("accepts sibling prefixes of one bucket, and two buckets", () => {
    expect(
      parseConfig(
        config({ bucket: "data-bucket", prefix: "photo" }, { bucket: "data-bucket", prefix: "photos" }),
      ),
    ).toBeTruthy();
    expect(parseConfig(config({ bucket: "data-bucket" }, { bucket: "copy-bucket" }))).toBeTruthy();
  });
});
