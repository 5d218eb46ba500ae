/** One IAM policy statement, as data (what sst.config.ts attaches, and what the tests assert). */
export interface PolicyStatement {
  Sid: string;
  Effect: "Allow";
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

const doc = (statements: PolicyStatement[]): PolicyDocument => ({
  Version: "2012-10-17",
  Statement: statements,
});
const bucketArn = (bucket: string) => `arn:aws:s3:::${bucket}`;
const objectsArn = (bucket: string, prefix: string) => `arn:aws:s3:::${bucket}/${prefix}*`;

/** What one side's policy needs to know. */
export interface SidePolicyInput {
  bucket: string;
  prefix: string;
  workBucket: string;
  /** The pairing secret in Secrets Manager. */
  secretArn: string;
  /** Only when the side's bucket is encrypted with a customer managed key. */
  kmsKeyArn?: string;
  /** Destination only, when the deployment deletes destination-only objects (`delete`). */
  allowDelete?: boolean;
  /** Where the side keeps its digest index (see `indexLocationOf`); absent: it keeps none. */
  index?: { bucket: string; prefix: string };
}

/**
 * The side's digest index, which only its own functions reach: read, written, and its replaced
 * pieces deleted. In the work bucket it is under the side's own part, whose listing is granted
 * already; elsewhere it is listed by its prefix only.
 */
function digestIndex(input: SidePolicyInput): PolicyStatement[] {
  const index = input.index;
  if (index === undefined) return [];
  return [
    {
      Sid: "DigestIndex",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
      Resource: [objectsArn(index.bucket, index.prefix)],
    },
    ...(index.bucket === input.workBucket
      ? []
      : [
          {
            Sid: "ListDigestIndex",
            Effect: "Allow" as const,
            Action: ["s3:ListBucket"],
            Resource: [bucketArn(index.bucket)],
            Condition: { StringLike: { "s3:prefix": [`${index.prefix}*`] } },
          },
        ]),
  ];
}

function kms(input: SidePolicyInput, actions: string[]): PolicyStatement[] {
  return input.kmsKeyArn
    ? [{ Sid: "BucketKey", Effect: "Allow", Action: actions, Resource: [input.kmsKeyArn] }]
    : [];
}

const secret = (input: SidePolicyInput): PolicyStatement => ({
  Sid: "PairingSecret",
  Effect: "Allow",
  Action: ["secretsmanager:GetSecretValue"],
  Resource: [input.secretArn],
});

/**
 * Listing is limited to the side's prefix by `s3:prefix`. A key with no prefix in the request
 * (a listing without one, HeadBucket, the 404-or-403 answer to reading a missing key) then
 * matches no grant, on AWS as on Ceph RGW: the store tells a missing key by listing from the
 * key itself, and nothing lists the side's bucket without the prefix.
 */
const listPrefix = (input: SidePolicyInput): Pick<PolicyStatement, "Condition"> =>
  input.prefix ? { Condition: { StringLike: { "s3:prefix": [`${input.prefix}*`] } } } : {};

/**
 * The work area lists without a condition: S3 answers 404 for a missing key only to an
 * identity that may list the bucket (403 otherwise, which a step cannot tell from a refusal),
 * and a step reads keys that may not exist yet (a retried Begin's upload record). Its key
 * names are run ids, object ids and batch numbers; what must stay on the source side is
 * the content under `source/`, which GetObject does not grant the destination.
 */
const listWorkArea = (input: SidePolicyInput): PolicyStatement => ({
  Sid: "ListWorkArea",
  Effect: "Allow",
  Action: ["s3:ListBucket"],
  Resource: [bucketArn(input.workBucket)],
});

/**
 * Whether a listing can settle a side's index entries (see `bucketVersioning`), and where the
 * bucket keeps versions, the listing of them that names each version (ListObjectVersions, on
 * the side's prefix only): without these each entry costs a HEAD. Only a side that keeps an
 * index asks.
 */
function indexVersioning(input: SidePolicyInput, sid: string) {
  if (!input.index) return [];
  return [
    {
      Sid: sid,
      Effect: "Allow" as const,
      Action: ["s3:GetBucketVersioning"],
      Resource: [bucketArn(input.bucket)],
    },
    {
      Sid: `${sid}List`,
      Effect: "Allow" as const,
      Action: ["s3:ListBucketVersions"],
      Resource: [bucketArn(input.bucket)],
      ...listPrefix(input),
    },
  ];
}

/**
 * Source-side functions: read and list the source prefix, nothing else of the source
 * bucket, no write anywhere but the work area. Links they sign carry these rights only.
 */
export function sourcePolicy(input: SidePolicyInput): PolicyDocument {
  return doc([
    {
      Sid: "ListSource",
      Effect: "Allow",
      Action: ["s3:ListBucket"],
      Resource: [bucketArn(input.bucket)],
      ...listPrefix(input),
    },
    {
      Sid: "ReadSource",
      Effect: "Allow",
      Action: ["s3:GetObject"],
      Resource: [objectsArn(input.bucket, input.prefix)],
    },
    {
      Sid: "WorkArea",
      Effect: "Allow",
      // The run's report is streamed in parts; a failed report step aborts its upload.
      Action: ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
      Resource: [`arn:aws:s3:::${input.workBucket}/shared/*`, `arn:aws:s3:::${input.workBucket}/source/*`],
    },
    listWorkArea(input),
    ...digestIndex(input),
    ...indexVersioning(input, "SourceVersioning"),
    secret(input),
    ...kms(input, ["kms:Decrypt"]),
  ]);
}

/**
 * Destination-side functions: read, write and abort multipart uploads under the
 * destination prefix only; in the work area, `shared/` and its own `destination/` (never the
 * expectations).
 */
export function destinationPolicy(input: SidePolicyInput): PolicyDocument {
  return doc([
    {
      Sid: "ListDestination",
      Effect: "Allow",
      // BeginWrite lists the key's uploads when a CreateMultipartUpload answer was lost, to abort
      // the upload it made (S3ObjectStore.createUpload). ListBucketMultipartUploads takes no
      // `s3:prefix` condition (on AWS as on RGW), so only a whole-bucket deployment is granted
      // it; under a prefix such an upload is left to the bucket's AbortIncompleteMultipartUpload rule.
      Action: input.prefix ? ["s3:ListBucket"] : ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
      Resource: [bucketArn(input.bucket)],
      ...listPrefix(input),
    },
    {
      Sid: "WriteDestination",
      Effect: "Allow",
      // s3:GetObjectVersion: in a bucket that keeps versions, copies from the old object name
      // the version they copy (see `versionPin`), which AWS grants with it alone. The tagging
      // actions: a change of attributes alone keeps the object's tags, read and written with the
      // new object (`keepingTags`; RGW drops a copy's tags, so they are put again after it).
      Action: [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectTagging",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
      ],
      Resource: [objectsArn(input.bucket, input.prefix)],
    },
    ...(input.allowDelete
      ? [
          {
            Sid: "DeleteDestinationOnly",
            Effect: "Allow" as const,
            Action: ["s3:DeleteObject"],
            Resource: [objectsArn(input.bucket, input.prefix)],
          },
        ]
      : []),
    {
      Sid: "SharedWorkArea",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:PutObject"],
      Resource: [
        `arn:aws:s3:::${input.workBucket}/shared/*`,
        `arn:aws:s3:::${input.workBucket}/destination/*`,
      ],
    },
    listWorkArea(input),
    ...digestIndex(input),
    ...indexVersioning(input, "DestinationVersioning"),
    secret(input),
    ...kms(input, ["kms:Decrypt", "kms:GenerateDataKey"]),
  ]);
}

/** The relay (source region) may invoke the destination-side functions and nothing else. */
export function relayPolicy(destinationFunctionArns: string[]): PolicyDocument {
  return doc([
    {
      Sid: "InvokeDestinationSide",
      Effect: "Allow",
      Action: ["lambda:InvokeFunction"],
      Resource: destinationFunctionArns,
    },
  ]);
}

/**
 * The state machine: invoke its own functions, run its Distributed Map's child workflows.
 * No S3 data and no KMS: it only sees keys, counts and batch numbers.
 */
export function stateMachinePolicy(input: {
  functionArns: string[];
  stateMachineArn: string;
}): PolicyDocument {
  return doc([
    {
      Sid: "InvokeOwnFunctions",
      Effect: "Allow",
      Action: ["lambda:InvokeFunction"],
      Resource: input.functionArns,
    },
    {
      Sid: "DistributedMapChildren",
      Effect: "Allow",
      Action: ["states:StartExecution", "states:DescribeExecution", "states:StopExecution"],
      Resource: [
        input.stateMachineArn,
        `${input.stateMachineArn.replace(":stateMachine:", ":execution:")}:*`,
      ],
    },
  ]);
}

/** The schedule's role: invoke the function that starts the window's run, nothing else. */
export function schedulerPolicy(startFunctionArn: string): PolicyDocument {
  return doc([
    {
      Sid: "StartWindowRun",
      Effect: "Allow",
      Action: ["lambda:InvokeFunction"],
      Resource: [startFunctionArn],
    },
  ]);
}

/** The start function: start executions of this state machine only. */
export function startRunPolicy(stateMachineArn: string): PolicyDocument {
  return doc([
    // ListExecutions: a window's run starts only once the one before it has ended.
    {
      Sid: "StartRun",
      Effect: "Allow",
      Action: ["states:StartExecution", "states:ListExecutions"],
      Resource: [stateMachineArn],
    },
  ]);
}
