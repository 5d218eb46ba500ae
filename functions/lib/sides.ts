import { LambdaClient } from "@aws-sdk/client-lambda";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SFNClient } from "@aws-sdk/client-sfn";
import {
  directoryPrefix,
  type IndexScope,
  lambdaMemoryBudget,
  pairingTag,
  parseByteSize,
  parseSampleSpec,
  storageOf,
  ValidationError,
} from "@chunksync/core";
import { S3Connection, S3ObjectStore } from "@chunksync/storage";
import { PartBuffers, type SideIndexOptions, StoreIndexLocation } from "@chunksync/sync";
import {
  type AuditSourceContext,
  cachedPairingSecret,
  chunkSizeOf,
  DESTINATION_TARGETS,
  type DestinationContext,
  type DestinationTarget,
  fetchLinkRange,
  indexLocationOf,
  LambdaInvoker,
  parseConfig,
  S3LinkSigner,
  S3WorkArea,
  SfnExecutionStarter,
  type SourceContext,
  secretRegion,
  secretsManagerText,
} from "@chunksync/workflow";

// The only place that reads the environment: sst.config.ts sets these on each function.
function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "")
    throw new ValidationError(`env.${name}`, "a value (set by the deployment)");
  return value;
}

const once = <T>(make: () => Promise<T>): (() => Promise<T>) => {
  let value: Promise<T> | undefined;
  return () => {
    value ??= make();
    return value;
  };
};

const config = once(async () => parseConfig(JSON.parse(env("CHUNKSYNC_CONFIG"))));
// The secret is in the source's Region; the destination side's functions run in another one.
const secret = once(async () => {
  const arn = env("PAIRING_SECRET_ARN");
  return cachedPairingSecret(
    secretsManagerText(new SecretsManagerClient({ region: secretRegion(arn) }), arn),
  );
});
const workArea = once(
  async () => new S3WorkArea(new S3Client({ region: env("WORK_REGION") }), env("WORK_BUCKET")),
);

function settings(c: Awaited<ReturnType<typeof config>>) {
  return {
    chunkSize: chunkSizeOf(c),
    algorithm: c.algorithm,
    batchChunks: c.batchChunks,
    batchBytes: c.batchBytes,
    concurrency: c.concurrency,
    filters: c.filters,
  };
}

/**
 * `side`'s digest index, reached with that side's own credentials: in its own part of the work
 * area unless the config names another bucket (in the side's region).
 */
async function sideIndex(
  c: Awaited<ReturnType<typeof config>>,
  side: "source" | "destination",
  secretKey: Buffer,
): Promise<SideIndexOptions> {
  const workBucket = env("WORK_BUCKET");
  const at = indexLocationOf(c, side, workBucket);
  const region = at.bucket === workBucket ? env("WORK_REGION") : c[side].region;
  const store = new S3ObjectStore({ connection: await S3Connection.open({ region }), bucket: at.bucket });
  const scope: IndexScope = {
    storage: storageOf(undefined, c[side].region),
    bucket: c[side].bucket,
    prefix: directoryPrefix(c[side].prefix),
    chunkSize: chunkSizeOf(c),
    algorithm: c.algorithm,
    pairing: pairingTag(secretKey),
  };
  return { location: new StoreIndexLocation(store, at.prefix), scope, consult: true };
}

/** The source side's context, built once per warm function. */
export const sourceContext = once(async (): Promise<SourceContext> => {
  const c = await config();
  const connection = await S3Connection.open({ region: c.source.region });
  const secretKey = await (await secret())();
  return {
    ...settings(c),
    store: new S3ObjectStore({ connection, bucket: c.source.bucket }),
    prefix: directoryPrefix(c.source.prefix),
    destinationPrefix: directoryPrefix(c.destination.prefix),
    work: await workArea(),
    secret: secretKey,
    index: await sideIndex(c, "source", secretKey),
    variant: c.variant,
    verify: c.verify,
    blocks: c.blocks,
    pageSize: c.pageSize,
    signer: new S3LinkSigner((await connection.sdk()).client, c.source.bucket),
    linkExpirySeconds: c.linkExpirySeconds,
  };
});

/** The source side's context for the audit's steps: the source's, with the configured sample. */
export const auditSourceContext = once(async (): Promise<AuditSourceContext> => {
  const c = await config();
  if (c.audit === undefined)
    throw new ValidationError("config.audit", "an audit section (this deployment runs no audit)");
  return {
    ...(await sourceContext()),
    sample: parseSampleSpec(c.audit.sample, "config.audit.sample"),
    rangeSize: parseByteSize(c.audit.rangeSize, "config.audit.rangeSize"),
  };
});

/** The destination side's context, built once per warm function. */
export const destinationContext = once(async (): Promise<DestinationContext> => {
  const c = await config();
  const d = c.destination;
  const write = {
    ...(d.storageClass ? { storageClass: d.storageClass } : {}),
    ...(d.kmsKeyArn ? { serverSideEncryption: "aws:kms" as const, kmsKeyId: d.kmsKeyArn } : {}),
  };
  const secretKey = await (await secret())();
  return {
    ...settings(c),
    store: new S3ObjectStore({
      connection: await S3Connection.open({ region: d.region }),
      bucket: d.bucket,
      write,
    }),
    prefix: directoryPrefix(d.prefix),
    work: await workArea(),
    secret: secretKey,
    index: await sideIndex(c, "destination", secretKey),
    readLink: fetchLinkRange,
    delete: c.delete,
    // Lambda sets the function's memory; a compose step's chunk buffers stay within it.
    buffers: new PartBuffers(lambdaMemoryBudget(Number(env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")))),
  };
});

/** The relay's invoker: destination-region functions by ARN. */
export const destinationInvoker = once(async () => {
  const arns = JSON.parse(env("DESTINATION_FUNCTIONS")) as Record<DestinationTarget, string>;
  for (const target of DESTINATION_TARGETS) {
    if (typeof arns[target] !== "string")
      throw new ValidationError(`env.DESTINATION_FUNCTIONS.${target}`, "an ARN");
  }
  return new LambdaInvoker(new LambdaClient({ region: env("DESTINATION_REGION") }), arns);
});

/** Starts executions of this deployment's state machine. */
export const executionStarter = once(
  async () => new SfnExecutionStarter(new SFNClient({}), env("STATE_MACHINE_ARN")),
);
