import {
  destinationPolicy,
  type PolicyDocument,
  relayPolicy,
  schedulerPolicy,
  sourcePolicy,
  startRunPolicy,
  stateMachinePolicy,
} from "@chunksync/workflow";
import { describe, expect, it } from "vitest";

const side_ = {
  workBucket: "cs-work",
  secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cs-pairing-AbCdEf",
};
const side = side_;
const source = sourcePolicy({ ...side, bucket: "src-bucket", prefix: "photos/" });
const destination = destinationPolicy({ ...side, bucket: "dst-bucket", prefix: "" });
const destinationKms = destinationPolicy({
  ...side,
  bucket: "dst-bucket",
  prefix: "",
  kmsKeyArn: "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
});
const destinationDelete = destinationPolicy({
  ...side,
  bucket: "dst-bucket",
  prefix: "backup/",
  allowDelete: true,
});
const machine = stateMachinePolicy({
  functionArns: ["arn:aws:lambda:eu-west-1:123456789012:function:a"],
  stateMachineArn: "arn:aws:states:eu-west-1:123456789012:stateMachine:cs-sync",
});
const relay = relayPolicy(["arn:aws:lambda:eu-central-1:123456789012:function:dst-answer"]);
const all: [string, PolicyDocument][] = [
  ["source", source],
  ["destination", destination],
  ["destination+kms", destinationKms],
  ["destination+delete", destinationDelete],
  ["relay", relay],
  ["state machine", machine],
  ["scheduler", schedulerPolicy("arn:aws:lambda:eu-west-1:123456789012:function:start")],
  ["start", startRunPolicy("arn:aws:states:eu-west-1:123456789012:stateMachine:cs-sync")],
];
const actions = (p: PolicyDocument) => p.Statement.flatMap((s) => s.Action);
const resourcesFor = (p: PolicyDocument, prefix: string) =>
  p.Statement.filter((s) => s.Action.some((a) => a.startsWith(prefix))).flatMap((s) => s.Resource);

describe("IAM policies as data", () => {
  it.each(all)("%s: no wildcard action, no '*' resource", (_name, policy) => {
    for (const s of policy.Statement) {
      expect(
        s.Action.some((a) => a === "*" || a.endsWith(":*")),
        s.Sid,
      ).toBe(false);
      expect(s.Resource, s.Sid).not.toContain("*");
      expect(s.Resource.length, s.Sid).toBeGreaterThan(0);
    }
  });

  it("the start function starts and lists executions of its state machine, nothing else", () => {
    const start = all.find(([name]) => name === "start")![1];
    expect(start.Statement).toEqual([
      expect.objectContaining({
        Action: ["states:StartExecution", "states:ListExecutions"],
        Resource: ["arn:aws:states:eu-west-1:123456789012:stateMachine:cs-sync"],
      }),
    ]);
  });

  it("the source side reads and lists the source only, and writes nothing but the work area", () => {
    const s3 = source.Statement.filter((s) => s.Action.some((a) => a.startsWith("s3:")));
    for (const s of s3) {
      for (const r of s.Resource)
        expect(r.startsWith("arn:aws:s3:::src-bucket") || r.startsWith("arn:aws:s3:::cs-work")).toBe(true);
    }
    const onSource = s3.filter((s) => s.Resource.some((r) => r.startsWith("arn:aws:s3:::src-bucket")));
    expect(onSource.flatMap((s) => s.Action).sort()).toEqual(["s3:GetObject", "s3:ListBucket"]);
    expect(onSource.flatMap((s) => s.Resource)).toEqual([
      "arn:aws:s3:::src-bucket",
      "arn:aws:s3:::src-bucket/photos/*",
    ]);
    const writes = actions(source).filter((a) => /^s3:(Put|Delete|Abort|Restore|Create)/.test(a));
    expect(
      resourcesFor(
        { ...source, Statement: source.Statement.filter((s) => s.Action.some((a) => writes.includes(a))) },
        "s3:",
      ).every((r) => r.startsWith("arn:aws:s3:::cs-work/")),
    ).toBe(true);
    expect(actions(source).some((a) => a.startsWith("kms:"))).toBe(false);
  });

  it("the destination side writes the destination bucket only, and never reads the source or the expectations", () => {
    expect(actions(destination)).toEqual(
      expect.arrayContaining([
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        // A change of attributes alone keeps the object's tags: read, and written with the new object.
        "s3:GetObjectTagging",
        "s3:PutObjectTagging",
      ]),
    );
    const s3Resources = resourcesFor(destination, "s3:");
    expect(s3Resources.some((r) => r.includes("src-bucket"))).toBe(false);
    expect(s3Resources.filter((r) => r.startsWith("arn:aws:s3:::cs-work/"))).toEqual([
      "arn:aws:s3:::cs-work/shared/*",
      "arn:aws:s3:::cs-work/destination/*",
    ]);
    expect(actions(destination).some((a) => a.startsWith("kms:"))).toBe(false);
    expect(resourcesFor(destinationKms, "kms:")).toEqual([
      "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ]);
  });

  it("only a deployment that deletes destination-only objects may delete, and only under the destination prefix", () => {
    for (const [name, policy] of all) {
      expect(actions(policy).includes("s3:DeleteObject"), name).toBe(name === "destination+delete");
    }
    expect(resourcesFor(destinationDelete, "s3:DeleteObject")).toEqual(["arn:aws:s3:::dst-bucket/backup/*"]);
  });

  it("a prefix deployment lists its buckets under the prefix only, and the work area whole", () => {
    const destinationPrefixed = destinationPolicy({ ...side, bucket: "dst-bucket", prefix: "backup/" });
    const listings = (p: PolicyDocument) => p.Statement.filter((s) => s.Action.includes("s3:ListBucket"));
    expect(listings(source).map((s) => [s.Resource, s.Condition])).toEqual([
      [["arn:aws:s3:::src-bucket"], { StringLike: { "s3:prefix": ["photos/*"] } }],
      // Without a condition: a missing work item then reads as 404, not 403.
      [["arn:aws:s3:::cs-work"], undefined],
    ]);
    expect(listings(destinationPrefixed).map((s) => [s.Resource, s.Condition])).toEqual([
      [["arn:aws:s3:::dst-bucket"], { StringLike: { "s3:prefix": ["backup/*"] } }],
      [["arn:aws:s3:::cs-work"], undefined],
    ]);
    expect(listings(destination)[0]?.Condition).toBeUndefined();
  });

  it("a whole-bucket destination may list its bucket's uploads (to abort one whose creation answer was lost); no prefixed side may", () => {
    // The action takes no `s3:prefix` condition: granted under a prefix, it would name keys outside it.
    const uploadListings = (p: PolicyDocument) =>
      p.Statement.filter((s) => s.Action.includes("s3:ListBucketMultipartUploads"));
    expect(uploadListings(destination).map((s) => [s.Resource, s.Condition])).toEqual([
      [["arn:aws:s3:::dst-bucket"], undefined],
    ]);
    for (const [name, policy] of all.filter(([n]) => !["destination", "destination+kms"].includes(n)))
      expect(uploadListings(policy), name).toEqual([]);
  });

  it("only the source side, which streams the run's report in parts, may abort an upload in the work area", () => {
    const aborts = (p: PolicyDocument) =>
      p.Statement.filter((st) => st.Action.includes("s3:AbortMultipartUpload")).flatMap((st) => st.Resource);
    expect(aborts(source)).toEqual(["arn:aws:s3:::cs-work/shared/*", "arn:aws:s3:::cs-work/source/*"]);
    expect(aborts(destination).filter((r) => r.includes("cs-work"))).toEqual([]);
  });

  it("only the two sides may read the pairing secret", () => {
    for (const [name, policy] of all) {
      const reads = actions(policy).includes("secretsmanager:GetSecretValue");
      expect(reads, name).toBe(name.startsWith("source") || name.startsWith("destination"));
    }
  });

  it("the state machine invokes its own functions and has no S3 data or KMS rights", () => {
    expect(actions(machine).some((a) => a.startsWith("s3:") || a.startsWith("kms:"))).toBe(false);
    expect(resourcesFor(machine, "lambda:")).toEqual(["arn:aws:lambda:eu-west-1:123456789012:function:a"]);
    expect(actions(relay)).toEqual(["lambda:InvokeFunction"]);
  });

  it("each side reaches its own digest index only: read, written and its old pieces deleted", () => {
    const withIndex = (side: "source" | "destination", index: { bucket: string; prefix: string }) =>
      (side === "source" ? sourcePolicy : destinationPolicy)({
        ...side_,
        bucket: `${side === "source" ? "src" : "dst"}-bucket`,
        prefix: "",
        index,
      });
    const src = withIndex("source", { bucket: "cs-work", prefix: "source/index/" });
    const dst = withIndex("destination", { bucket: "cs-work", prefix: "destination/index/" });
    const statement = (p: PolicyDocument) => p.Statement.find((s) => s.Sid === "DigestIndex");
    expect(statement(src)).toMatchObject({
      Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
      Resource: ["arn:aws:s3:::cs-work/source/index/*"],
    });
    expect(statement(dst)?.Resource).toEqual(["arn:aws:s3:::cs-work/destination/index/*"]);
    for (const r of resourcesFor(dst, "s3:")) expect(r.includes("/source/"), r).toBe(false);
    for (const r of resourcesFor(src, "s3:")) expect(r.includes("/destination/"), r).toBe(false);
    // Deletes in the work area reach the index only.
    expect(resourcesFor(src, "s3:DeleteObject")).toEqual(["arn:aws:s3:::cs-work/source/index/*"]);
    // Whether a listing settles a side's entries: its own bucket's versioning, by a side with an index.
    expect(resourcesFor(src, "s3:GetBucketVersioning")).toEqual(["arn:aws:s3:::src-bucket"]);
    expect(resourcesFor(dst, "s3:GetBucketVersioning")).toEqual(["arn:aws:s3:::dst-bucket"]);
    expect(resourcesFor(source, "s3:GetBucketVersioning")).toEqual([]);
    // Where the bucket keeps versions, it lists them (naming each version), on its prefix only.
    expect(resourcesFor(src, "s3:ListBucketVersions")).toEqual(["arn:aws:s3:::src-bucket"]);
    expect(resourcesFor(dst, "s3:ListBucketVersions")).toEqual(["arn:aws:s3:::dst-bucket"]);
    expect(resourcesFor(source, "s3:ListBucketVersions")).toEqual([]);
    const prefixed = destinationPolicy({
      ...side_,
      bucket: "dst-bucket",
      prefix: "data/",
      index: { bucket: "cs-work", prefix: "destination/index/" },
    });
    expect(prefixed.Statement.find((s) => s.Action.includes("s3:ListBucketVersions"))?.Condition).toEqual({
      StringLike: { "s3:prefix": ["data/*"] },
    });
    // An index in another bucket is listed by its own prefix only.
    const elsewhere = withIndex("destination", { bucket: "dst-index", prefix: "chunksync/" });
    expect(elsewhere.Statement.find((s) => s.Sid === "ListDigestIndex")).toMatchObject({
      Action: ["s3:ListBucket"],
      Resource: ["arn:aws:s3:::dst-index"],
      Condition: { StringLike: { "s3:prefix": ["chunksync/*"] } },
    });
  });
});
