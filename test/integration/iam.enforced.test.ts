import { randomBytes } from "node:crypto";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { lambdaMemoryBudget, pairingTag } from "@chunksync/core";
import { AccessDeniedError, S3Connection, S3ObjectStore } from "@chunksync/storage";
import { type ObjectResult, PartBuffers, StoreIndexLocation } from "@chunksync/sync";
import {
  type DestinationContext,
  destinationPolicy,
  fetchLinkRange,
  S3LinkSigner,
  S3WorkArea,
  type SidePolicyInput,
  type SourceContext,
  sourcePolicy,
} from "@chunksync/workflow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { purgeRgwBucket } from "../../scripts/local-s3.js";
import { flipByte, seededBytes } from "../support/data.js";
import { type CollectedReport, runWorkflowCollecting } from "../support/results.js";
import { RgwIdentities, type RgwIdentity, rgwCephConf } from "../support/rgwIam.js";
import { createBucket, localS3, putObject, readAll, s3Client, uniqueBucketName } from "../support/s3.js";
import { syncWith, workflowSettings } from "../support/stores.js";

const MiB = 1024 * 1024;
const C = 5 * MiB;
const SRC_PREFIX = "in/";
const DST_PREFIX = "out/";

const base = seededBytes("iam-base", 2 * C + 100);
/** Keys relative to the prefixes, and what each side holds before the run. */
const objects: { key: string; source?: Buffer; destination?: Buffer }[] = [
  { key: "changed.bin", source: flipByte(base, C + 5), destination: base },
  { key: "new.txt", source: seededBytes("iam-new", 300) },
  { key: "same.txt", source: seededBytes("iam-same", 50), destination: seededBytes("iam-same", 50) },
  { key: "sub/deep.txt", source: seededBytes("iam-deep", 70) },
];
/** Destination-only, under the prefix, written by the destination bucket's owner. */
const EXTRA = seededBytes("iam-extra", 40);
/** Outside each side's prefix: the generated policies must keep these out of reach. */
const OUTSIDE_SOURCE = "outside.txt";
const OUTSIDE_DESTINATION = "elsewhere.txt";

/** An identity's connection, and the SDK client on it. */
interface Identity {
  user: RgwIdentity;
  connection: S3Connection;
  client: S3Client;
}

async function identity(user: RgwIdentity): Promise<Identity> {
  const s3 = localS3();
  const { uid: _, ...credentials } = user;
  const connection = await S3Connection.open({ endpoint: s3.endpoint, region: s3.region, credentials });
  return { user, connection, client: (await connection.sdk()).client };
}

/** The request answers 403: the identity's policy refused it. */
async function denied(request: Promise<unknown>): Promise<void> {
  await expect(request).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
}

describe("the generated IAM policies, enforced by the RGW for one identity per side", () => {
  const ids = new RgwIdentities();
  const owners = { src: s3Client("source"), dst: s3Client("destination") };
  const buckets = {
    src: uniqueBucketName("src-iam"),
    dst: uniqueBucketName("dst-iam"),
    work: uniqueBucketName("work-iam"),
  };
  const secretArn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:chunksync-pairing";
  // Each side's digest index where a deployment keeps it by default: its own part of the work area.
  const sourceInput: SidePolicyInput = {
    bucket: buckets.src,
    prefix: SRC_PREFIX,
    workBucket: buckets.work,
    secretArn,
    index: { bucket: buckets.work, prefix: "source/index/" },
  };
  const destinationInput: SidePolicyInput = {
    bucket: buckets.dst,
    prefix: DST_PREFIX,
    workBucket: buckets.work,
    secretArn,
    index: { bucket: buckets.work, prefix: "destination/index/" },
  };
  // One pairing for every run: each side's index is scoped by it.
  const secret = randomBytes(32);
  let source: Identity;
  let destination: Identity;

  beforeAll(async () => {
    // The buckets belong to the two fixed users: the identities below own no bucket and hold no
    // ACL grant, so whatever they may do in them comes from their policies.
    await createBucket(owners.src, buckets.src);
    await createBucket(owners.src, buckets.work);
    await createBucket(owners.dst, buckets.dst);
    const src = await ids.create("iam-source", sourcePolicy(sourceInput));
    const dst = await ids.create("iam-destination", destinationPolicy(destinationInput));
    source = await identity(src);
    destination = await identity(dst);
    for (const o of objects) {
      if (o.source) await putObject(owners.src, buckets.src, SRC_PREFIX + o.key, o.source);
    }
    // Destination objects as an earlier run left them: written by the destination identity. RGW 16
    // checks an UploadPartCopy source against its object ACL only (neither user nor bucket policies
    // count), so it cannot reuse parts of another user's objects; CopyObject and GetObject can.
    for (const o of objects) {
      if (o.destination) await putObject(destination.client, buckets.dst, DST_PREFIX + o.key, o.destination);
    }
    await putObject(owners.dst, buckets.dst, `${DST_PREFIX}extra.bin`, EXTRA);
    await putObject(owners.src, buckets.src, OUTSIDE_SOURCE, "not to be read");
    await putObject(owners.dst, buckets.dst, OUTSIDE_DESTINATION, "not to be read or deleted");
  });

  afterAll(async () => {
    source?.client.destroy();
    destination?.client.destroy();
    owners.src.destroy();
    owners.dst.destroy();
    // Objects the identities wrote are theirs, not the bucket owner's: purge as the admin.
    const conf = rgwCephConf();
    for (const bucket of Object.values(buckets)) await purgeRgwBucket(conf, bucket);
    await ids.close();
  });

  /** One run of the workflow, each side with its own identity and its own view of the work area. */
  function run(options: { delete: boolean }): Promise<CollectedReport> {
    const index = (connection: S3Connection, bucket: string, prefix: string, at: string) => ({
      location: new StoreIndexLocation(new S3ObjectStore({ connection, bucket: buckets.work }), at),
      scope: {
        storage: "local",
        bucket,
        prefix,
        chunkSize: C,
        algorithm: "sha256" as const,
        pairing: pairingTag(secret),
      },
      consult: true,
    });
    const settings = workflowSettings(C);
    const sourceContext: SourceContext = {
      ...settings,
      store: new S3ObjectStore({ connection: source.connection, bucket: buckets.src }),
      prefix: SRC_PREFIX,
      destinationPrefix: DST_PREFIX,
      work: new S3WorkArea(source.client, buckets.work),
      secret,
      variant: "encode",
      verify: "changed",
      pageSize: 2,
      signer: new S3LinkSigner(source.client, buckets.src),
      linkExpirySeconds: 300,
      index: index(source.connection, buckets.src, SRC_PREFIX, "source/index/"),
    };
    const destinationContext: DestinationContext = {
      ...settings,
      store: new S3ObjectStore({ connection: destination.connection, bucket: buckets.dst }),
      prefix: DST_PREFIX,
      work: new S3WorkArea(destination.client, buckets.work),
      secret,
      readLink: fetchLinkRange,
      delete: options.delete,
      index: index(destination.connection, buckets.dst, DST_PREFIX, "destination/index/"),
      // As the deployment's functions have (sst.config.ts).
      buffers: new PartBuffers(lambdaMemoryBudget(1769)),
    };
    return runWorkflowCollecting({
      source: sourceContext,
      destination: destinationContext,
      retryIntervalMs: 1,
    });
  }

  const byKey = (report: CollectedReport) =>
    new Map(report.results.map((r) => [r.destinationKey, r] as const));
  const failures = (report: CollectedReport): Pick<ObjectResult, "destinationKey" | "error">[] =>
    report.results.filter((r) => r.error).map(({ destinationKey, error }) => ({ destinationKey, error }));

  it("syncs a prefix deployment byte-equal under the least-privilege policies", async () => {
    // LastModified is stated in whole seconds: an entry stands once its version's second has passed.
    await new Promise((r) => setTimeout(r, 1100));
    const report = await run({ delete: false });
    expect(report.index?.source).toMatchObject({ found: "absent", written: 4 });
    // changed.bin, re-composed, has none: its parts copied from the old version were not pinned
    // to it (Ceph RGW 16 ignores x-amz-copy-source-if-match).
    expect(report.index?.destination).toMatchObject({ found: "absent", written: 3 });
    expect(failures(report)).toEqual([]);
    expect(report.objects).toMatchObject({ scanned: 4, identical: 1, changed: 1, missing: 2, extra: 1 });
    for (const o of objects) {
      if (!o.source) continue;
      const bytes = await readAll(destination.client, buckets.dst, DST_PREFIX + o.key);
      expect(bytes.equals(o.source), o.key).toBe(true);
    }
    expect(byKey(report).get(`${DST_PREFIX}changed.bin`)?.chunks?.changed).toEqual([1]);
    expect(byKey(report).get(`${DST_PREFIX}extra.bin`)).toMatchObject({ action: "keep", applied: false });
    // Without a prefix nothing was listed or touched outside the two prefixes.
    expect(report.results.map((r) => r.destinationKey).filter((k) => !k.startsWith(DST_PREFIX))).toEqual([]);
  });

  it("each side's index is its own: a second run reads only the re-composed object, and neither side reaches the other's", async () => {
    await new Promise((r) => setTimeout(r, 1100));
    const again = await run({ delete: false });
    expect(failures(again)).toEqual([]);
    expect(again.objects).toMatchObject({ identical: 4, extra: 1 });
    expect(again.bytes).toMatchObject({ sourceRead: 0, destinationRead: base.length });
    // The source's role may read its bucket's versioning: no note that it could not.
    expect(again.index?.source).toMatchObject({ found: "loaded", fromIndex: 4, written: 4, notes: [] });
    expect(again.index?.destination).toMatchObject({ found: "loaded", fromIndex: 3, read: 1, written: 4 });
    for (const [own, other, otherPart] of [
      [source.client, destination.client, "source"],
      [destination.client, source.client, "destination"],
    ] as const) {
      const manifest = `${otherPart}/index/chunksync-digest-index.manifest.json`;
      expect((await readAll(own, buckets.work, manifest)).length).toBeGreaterThan(0);
      await denied(other.send(new GetObjectCommand({ Bucket: buckets.work, Key: manifest })));
      await denied(other.send(new PutObjectCommand({ Bucket: buckets.work, Key: manifest, Body: "{}" })));
      await denied(other.send(new DeleteObjectCommand({ Bucket: buckets.work, Key: manifest })));
    }
  });

  it("the source identity reads and lists its prefix only, and writes nothing of its bucket", async () => {
    const { client } = source;
    const inside = await client.send(
      new GetObjectCommand({ Bucket: buckets.src, Key: `${SRC_PREFIX}new.txt` }),
    );
    expect((await inside.Body?.transformToByteArray())?.length).toBe(300);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: buckets.src, Prefix: SRC_PREFIX }));
    expect(listed.KeyCount).toBe(4);
    // The listing of versions a side with an index reads where its bucket keeps them, on its prefix only.
    const versions = await client.send(
      new ListObjectVersionsCommand({ Bucket: buckets.src, Prefix: SRC_PREFIX }),
    );
    expect(versions.Versions?.length).toBe(4);

    await denied(client.send(new GetObjectCommand({ Bucket: buckets.src, Key: OUTSIDE_SOURCE })));
    await denied(client.send(new ListObjectsV2Command({ Bucket: buckets.src })));
    await denied(client.send(new ListObjectVersionsCommand({ Bucket: buckets.src })));
    await denied(client.send(new ListObjectVersionsCommand({ Bucket: buckets.src, Prefix: "o" })));
    await denied(client.send(new ListObjectsV2Command({ Bucket: buckets.src, Prefix: "o" })));
    await denied(
      client.send(new PutObjectCommand({ Bucket: buckets.src, Key: `${SRC_PREFIX}planted.txt`, Body: "x" })),
    );
    await denied(client.send(new DeleteObjectCommand({ Bucket: buckets.src, Key: `${SRC_PREFIX}new.txt` })));
    await denied(client.send(new GetObjectCommand({ Bucket: buckets.dst, Key: `${DST_PREFIX}new.txt` })));
    // Writes go to the work area only, under the two folders the source side owns there.
    await denied(
      client.send(new PutObjectCommand({ Bucket: buckets.work, Key: "elsewhere/x.json", Body: "{}" })),
    );
  });

  it("the destination identity writes its prefix only, cannot delete, and never reads the source or the expectations", async () => {
    const { client } = destination;
    await client.send(
      new PutObjectCommand({ Bucket: buckets.dst, Key: `${DST_PREFIX}probe.txt`, Body: "x" }),
    );
    expect((await readAll(client, buckets.dst, `${DST_PREFIX}probe.txt`)).toString()).toBe("x");

    await denied(
      client.send(new DeleteObjectCommand({ Bucket: buckets.dst, Key: `${DST_PREFIX}probe.txt` })),
    );
    await denied(
      client.send(new DeleteObjectCommand({ Bucket: buckets.dst, Key: `${DST_PREFIX}extra.bin` })),
    );
    await denied(client.send(new GetObjectCommand({ Bucket: buckets.dst, Key: OUTSIDE_DESTINATION })));
    await denied(client.send(new PutObjectCommand({ Bucket: buckets.dst, Key: "planted.txt", Body: "x" })));
    await denied(client.send(new ListObjectsV2Command({ Bucket: buckets.dst })));
    await denied(client.send(new GetObjectCommand({ Bucket: buckets.src, Key: `${SRC_PREFIX}new.txt` })));
    const expectations = await source.client.send(
      new ListObjectsV2Command({ Bucket: buckets.work, Prefix: "source/", MaxKeys: 1 }),
    );
    const expectation = expectations.Contents?.[0]?.Key;
    expect(expectation).toBeDefined();
    await denied(client.send(new GetObjectCommand({ Bucket: buckets.work, Key: expectation })));
    await denied(client.send(new PutObjectCommand({ Bucket: buckets.work, Key: expectation, Body: "{}" })));
    await owners.dst.send(new DeleteObjectCommand({ Bucket: buckets.dst, Key: `${DST_PREFIX}probe.txt` }));
  });

  it("the store tells a missing key from a refused one under a prefix-limited listing grant", async () => {
    const store = new S3ObjectStore({ connection: destination.connection, bucket: buckets.dst });
    // The HEAD and GET of a missing key answer 403 here (the grant to list needs `s3:prefix`).
    await denied(
      destination.client.send(new HeadObjectCommand({ Bucket: buckets.dst, Key: `${DST_PREFIX}none` })),
    );
    expect(await store.head(`${DST_PREFIX}none`)).toBeUndefined();
    expect(await store.readFirst(`${DST_PREFIX}none`, 10)).toBeUndefined();
    await expect(store.head(OUTSIDE_DESTINATION)).rejects.toBeInstanceOf(AccessDeniedError);
    await expect(store.readFirst(OUTSIDE_DESTINATION, 10)).rejects.toBeInstanceOf(AccessDeniedError);
  });

  it("the direct engine (the CLI's) syncs under the same policies", async () => {
    const later = seededBytes("iam-later", 123);
    await putObject(owners.src, buckets.src, `${SRC_PREFIX}later.txt`, later);
    const report = await syncWith(
      new S3ObjectStore({ connection: source.connection, bucket: buckets.src }),
      new S3ObjectStore({ connection: destination.connection, bucket: buckets.dst }),
      { sourcePrefix: SRC_PREFIX, destinationPrefix: DST_PREFIX },
    );
    expect(failures(report)).toEqual([]);
    expect(report.objects).toMatchObject({ scanned: 5, identical: 4, missing: 1 });
    expect((await readAll(destination.client, buckets.dst, `${DST_PREFIX}later.txt`)).equals(later)).toBe(
      true,
    );
  });

  it("a change of the source's attributes alone is restated under the policies, the destination's tags kept", async () => {
    // Keeping them reads them and writes them with the new object (RGW drops a copy's tags).
    const key = "same.txt";
    const tags = [{ Key: "owner", Value: "team a" }];
    await destination.client.send(
      new PutObjectTaggingCommand({ Bucket: buckets.dst, Key: DST_PREFIX + key, Tagging: { TagSet: tags } }),
    );
    await owners.src.send(
      new CopyObjectCommand({
        Bucket: buckets.src,
        Key: SRC_PREFIX + key,
        CopySource: `${buckets.src}/${SRC_PREFIX}${key}`,
        MetadataDirective: "REPLACE",
        ContentType: "text/markdown",
      }),
    );
    await new Promise((r) => setTimeout(r, 1100));
    const report = await run({ delete: false });
    expect(failures(report)).toEqual([]);
    expect(byKey(report).get(DST_PREFIX + key)).toMatchObject({ action: "metadata", applied: true });
    const { client } = destination;
    const head = await client.send(new HeadObjectCommand({ Bucket: buckets.dst, Key: DST_PREFIX + key }));
    expect(head.ContentType).toBe("text/markdown");
    const kept = await client.send(
      new GetObjectTaggingCommand({ Bucket: buckets.dst, Key: DST_PREFIX + key }),
    );
    expect(kept.TagSet).toEqual(tags);
  });

  it("with allowDelete, the deployment deletes destination-only objects under its prefix and nothing else", async () => {
    await ids.attach(destination.user, destinationPolicy({ ...destinationInput, allowDelete: true }));
    const report = await run({ delete: true });
    expect(failures(report)).toEqual([]);
    expect(report.objects).toMatchObject({ scanned: 5, identical: 5, extra: 1 });
    expect(byKey(report).get(`${DST_PREFIX}extra.bin`)).toMatchObject({ action: "delete", applied: true });
    await expect(
      owners.dst.send(new HeadObjectCommand({ Bucket: buckets.dst, Key: `${DST_PREFIX}extra.bin` })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    await denied(
      destination.client.send(new DeleteObjectCommand({ Bucket: buckets.dst, Key: OUTSIDE_DESTINATION })),
    );
    expect((await readAll(owners.dst, buckets.dst, OUTSIDE_DESTINATION)).toString()).toBe(
      "not to be read or deleted",
    );
  });
});
