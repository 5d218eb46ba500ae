import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import type { S3Client } from "@aws-sdk/client-s3";
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { lambdaMemoryBudget, pairingTag } from "@chunksync/core";
import { S3Connection, S3ObjectStore, ThrottledError } from "@chunksync/storage";
import {
  ObjectChangedError,
  type ObjectResult,
  PartBuffers,
  type RunReport,
  StoreIndexLocation,
} from "@chunksync/sync";
import {
  type DestinationContext,
  fetchLinkRange,
  type LocalRunOptions,
  S3LinkSigner,
  S3WorkArea,
  type SourceContext,
} from "@chunksync/workflow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import { type CollectedReport, runWorkflowCollecting } from "../support/results.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  localS3,
  putObject,
  readAll,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";
import { syncWith, workflowSettings } from "../support/stores.js";

const MiB = 1024 * 1024;
const C = 5 * MiB;

interface Case {
  key: string;
  source?: Buffer;
  destination?: Buffer;
  /** The source object's Content-Encoding: its bytes are copied as stored, never decoded. */
  encoding?: string;
}

function cases(): Case[] {
  const base = seededBytes("wf-base", 3 * C);
  return [
    { key: "identical.bin", source: base, destination: base },
    { key: "middle-byte.bin", source: flipByte(base, C + C / 2), destination: base },
    { key: "appended.bin", source: Buffer.concat([base, seededBytes("wf-tail", MiB)]), destination: base },
    { key: "missing.bin", source: seededBytes("wf-missing", 2 * C + 1) },
    { key: "empty-both", source: Buffer.alloc(0), destination: Buffer.alloc(0) },
    { key: "empty-source-only", source: Buffer.alloc(0) },
    { key: "empty-now", source: Buffer.alloc(0), destination: seededBytes("wf-x", 10) },
    { key: "small-changed.txt", source: seededBytes("wf-s1", 1000), destination: seededBytes("wf-s2", 1000) },
    { key: "dir with space/ünï.txt", source: seededBytes("wf-sp", 100) },
    { key: "zz-destination-only.bin", destination: seededBytes("wf-extra", 100) },
    { key: "stored-gzip.js", source: gzipSync(seededBytes("wf-gzip", 2 * C + 100)), encoding: "gzip" },
  ];
}

/** Two users as two storage systems, plus a work bucket for the run's work area. */
interface World {
  srcBucket: string;
  dstBucket: string;
  src: S3Client;
  dst: S3Client;
}

async function world(name: string, all: Case[]): Promise<World> {
  const w = {
    srcBucket: uniqueBucketName(`src-${name}`),
    dstBucket: uniqueBucketName(`dst-${name}`),
    src: s3Client("source"),
    dst: s3Client("destination"),
  };
  await createBucket(w.src, w.srcBucket);
  await createBucket(w.dst, w.dstBucket);
  for (const c of all) {
    if (c.source && c.encoding)
      await w.src.send(
        new PutObjectCommand({
          Bucket: w.srcBucket,
          Key: c.key,
          Body: c.source,
          ContentEncoding: c.encoding,
        }),
      );
    else if (c.source) await putObject(w.src, w.srcBucket, c.key, c.source);
    if (c.destination) await putObject(w.dst, w.dstBucket, c.key, c.destination);
  }
  return w;
}

let workBucket: string;
let workClient: S3Client;

async function contexts(w: World): Promise<{ source: SourceContext; destination: DestinationContext }> {
  const s3 = localS3();
  const srcConnection = await S3Connection.open({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: s3.users.source,
  });
  const dstConnection = await S3Connection.open({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: s3.users.destination,
  });
  const work = new S3WorkArea(workClient, workBucket);
  const secret = randomBytes(32);
  const settings = workflowSettings(C);
  return {
    source: {
      ...settings,
      store: new S3ObjectStore({ connection: srcConnection, bucket: w.srcBucket }),
      prefix: "",
      destinationPrefix: "",
      work,
      secret,
      variant: "encode",
      verify: "changed",
      pageSize: 4,
      signer: new S3LinkSigner((await srcConnection.sdk()).client, w.srcBucket),
      linkExpirySeconds: 300,
    },
    destination: {
      ...settings,
      store: new S3ObjectStore({ connection: dstConnection, bucket: w.dstBucket }),
      prefix: "",
      work,
      secret,
      readLink: fetchLinkRange,
      // As the deployment's functions have (sst.config.ts).
      buffers: new PartBuffers(lambdaMemoryBudget(1769)),
    },
  };
}

async function runIn(w: World, extra: Partial<LocalRunOptions> = {}): Promise<CollectedReport> {
  return runWorkflowCollecting({ ...(await contexts(w)), ...extra });
}

const byKey = (report: CollectedReport) =>
  new Map(report.results.map((r) => [r.destinationKey, r] as [string, ObjectResult]));

async function pendingUploads(w: World): Promise<number> {
  const out = await w.dst.send(new ListMultipartUploadsCommand({ Bucket: w.dstBucket }));
  return out.Uploads?.length ?? 0;
}

describe("the workflow, run in-process against the local S3 (two users as two storage systems)", () => {
  const worlds: World[] = [];
  const all = cases();

  beforeAll(async () => {
    workClient = s3Client("source");
    workBucket = uniqueBucketName("work");
    await createBucket(workClient, workBucket);
  });

  afterAll(async () => {
    for (const w of worlds) {
      await emptyAndDeleteBucket(w.src, w.srcBucket);
      await emptyAndDeleteBucket(w.dst, w.dstBucket);
      w.src.destroy();
      w.dst.destroy();
    }
    await emptyAndDeleteBucket(workClient, workBucket);
    workClient.destroy();
  });

  it("passes the engine's scenarios and moves the same bytes as the direct engine", async () => {
    const [viaWorkflow, direct] = await Promise.all([world("wf", all), world("direct", all)]);
    worlds.push(viaWorkflow, direct);
    const report = await runIn(viaWorkflow);
    const s3 = localS3();
    const directReport = await syncWith(
      new S3ObjectStore({
        connection: await S3Connection.open({
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: s3.users.source,
        }),
        bucket: direct.srcBucket,
      }),
      new S3ObjectStore({
        connection: await S3Connection.open({
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: s3.users.destination,
        }),
        bucket: direct.dstBucket,
      }),
    );

    for (const c of all) {
      if (!c.source) continue;
      const bytes = await readAll(viaWorkflow.dst, viaWorkflow.dstBucket, c.key);
      expect(bytes.equals(c.source), c.key).toBe(true);
    }
    const got = byKey(report);
    const want = byKey(directReport);
    for (const [key, expected] of want) {
      const actual = got.get(key);
      expect(actual, key).toBeDefined();
      expect({ key, state: actual?.state, action: actual?.action, changed: actual?.chunks?.changed }).toEqual(
        {
          key,
          state: expected.state,
          action: expected.action,
          changed: expected.chunks?.changed,
        },
      );
    }
    expect(got.get("zz-destination-only.bin")?.state).toBe("extra");
    expect(got.get("middle-byte.bin")?.chunks?.changed).toEqual([1]);
    expect(report.objects).toEqual(directReport.objects);
    expect(report.planned).toEqual(directReport.planned);
    expect(report.bytes.transferred).toBe(directReport.bytes.transferred);
    expect(report.bytes.copiedServerSide).toBe(directReport.bytes.copiedServerSide);
    expect(await pendingUploads(viaWorkflow)).toBe(0);

    // A second run finds everything identical and moves nothing.
    const again = await runIn(viaWorkflow);
    expect(again.objects.identical).toBe(all.filter((c) => c.source).length);
    expect(again.bytes.transferred).toBe(0);
  });

  it("reads through a signed link the bytes as stored (a gzip-encoded object is not inflated), pinned to the ETag", async () => {
    const stored = gzipSync(seededBytes("wf-link", 300_000));
    const w = await world("link", [{ key: "app.js", source: stored, encoding: "gzip" }]);
    worlds.push(w);
    const url = await (await contexts(w)).source.signer.sign("app.js", 60);
    const { ETag } = await w.src.send(new HeadObjectCommand({ Bucket: w.srcBucket, Key: "app.js" }));
    const range = { offset: 1000, length: 5000 };
    const chunks: Buffer[] = [];
    for await (const chunk of await fetchLinkRange(url, ETag!, range)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(stored.subarray(1000, 6000))).toBe(true);
    await expect(fetchLinkRange(url, '"0123456789abcdef0123456789abcdef"', range)).rejects.toBeInstanceOf(
      ObjectChangedError,
    );
    // Deleted since it was planned: changed as well (404), not a link that failed.
    await w.src.send(new DeleteObjectCommand({ Bucket: w.srcBucket, Key: "app.js" }));
    await expect(fetchLinkRange(url, ETag!, range)).rejects.toBeInstanceOf(ObjectChangedError);
  });

  it("retries a Task that fails with ThrottledError and finishes the run", async () => {
    const w = await world("throttle", [
      { key: "a.bin", source: flipByte(seededBytes("t", 2 * C), 7), destination: seededBytes("t", 2 * C) },
    ]);
    worlds.push(w);
    let calls = 0;
    const report = await runIn(w, {
      intercept: async (state, _input, run) => {
        if (state === "AnswerBatch" && ++calls === 1) {
          throw new ThrottledError({ operation: "read", bucket: w.dstBucket, key: "a.bin" });
        }
        return run();
      },
    });
    expect(calls).toBeGreaterThan(1);
    expect(report.objects.failed).toBe(0);
    expect(report.results[0]).toMatchObject({ state: "changed", action: "compose", applied: true });
    expect((await readAll(w.dst, w.dstBucket, "a.bin")).equals(flipByte(seededBytes("t", 2 * C), 7))).toBe(
      true,
    );
  });

  it("records an object that fails, aborts its upload and syncs the others", async () => {
    const w = await world("fail", [
      { key: "bad.bin", source: seededBytes("bad", 2 * C) },
      { key: "good-1.bin", source: seededBytes("g1", 100) },
      { key: "good-2.bin", source: seededBytes("g2", C + 5), destination: seededBytes("g2x", C + 5) },
    ]);
    worlds.push(w);
    const report = await runIn(w, {
      intercept: async (state, input, run) => {
        if (state === "ComposeBatch" && JSON.stringify(input).includes("bad.bin")) {
          const error = new Error("injected failure");
          error.name = "InjectedFailure";
          throw error;
        }
        return run();
      },
    });
    const got = byKey(report);
    expect(got.get("bad.bin")).toMatchObject({
      state: "failed",
      applied: false,
      // An error chunksync did not raise is UNEXPECTED in both engines, with its own message.
      error: { code: "UNEXPECTED", message: "injected failure" },
    });
    expect(got.get("good-1.bin")).toMatchObject({ state: "missing", applied: true });
    expect(got.get("good-2.bin")).toMatchObject({ state: "changed", applied: true });
    expect(report.objects.failed).toBe(1);
    expect((await readAll(w.dst, w.dstBucket, "good-1.bin")).equals(seededBytes("g1", 100))).toBe(true);
    expect(await pendingUploads(w)).toBe(0);
  });

  it("runs from the CLI with --engine workflow and prints the usual summary", async () => {
    const base = seededBytes("cli-base", 2 * C);
    const w = await world("cli", [
      { key: "changed.bin", source: flipByte(base, C + 3), destination: base },
      { key: "new.txt", source: seededBytes("cli-new", 10) },
    ]);
    worlds.push(w);
    const args = ["sync", `s3://${w.srcBucket}`, `s3://${w.dstBucket}`, ...SIDES, "--chunk-size", "5MiB"];
    // At chunk level (--no-blocks reaches the workflow too): the changed chunk crosses whole.
    const out = await runCli([...args, "--engine", "workflow", "--no-blocks", "--json"], profileEnv());
    expect(out.stderr).not.toContain("error");
    expect(out.code).toBe(0);
    const summary = JSON.parse(out.stdout) as RunReport;
    expect(summary.objects).toMatchObject({ scanned: 2, changed: 1, missing: 1, failed: 0 });
    expect(summary.bytes.transferred).toBe(C + 10);
    expect((await readAll(w.dst, w.dstBucket, "changed.bin")).equals(flipByte(base, C + 3))).toBe(true);
    const refused = await runCli(["plan", ...args.slice(1), "--engine", "workflow"], profileEnv());
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--engine");
  });

  it("keeps each side's index in its own part of the work area, a page's pieces at a time: a second run reads only what was re-composed", async () => {
    const w = await world("wf-index", all);
    worlds.push(w);
    const ctx = await contexts(w);
    const s3 = localS3();
    const workConnection = await S3Connection.open({
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: s3.users.source,
    });
    const workStore = new S3ObjectStore({ connection: workConnection, bucket: workBucket });
    const run = `idx-${randomBytes(4).toString("hex")}`;
    const scope = (bucket: string) => ({
      storage: "local",
      bucket,
      prefix: "",
      chunkSize: C,
      algorithm: "sha256" as const,
      pairing: pairingTag(ctx.source.secret),
    });
    const indexed = {
      source: {
        ...ctx.source,
        index: {
          location: new StoreIndexLocation(workStore, `source/index/${run}/`),
          scope: scope(w.srcBucket),
          consult: true,
        },
      },
      destination: {
        ...ctx.destination,
        index: {
          location: new StoreIndexLocation(workStore, `destination/index/${run}/`),
          scope: scope(w.dstBucket),
          consult: true,
        },
      },
    };
    // LastModified is stated in whole seconds: an entry stands once its version's second has passed.
    await new Promise((r) => setTimeout(r, 1100));
    const first = await runWorkflowCollecting(indexed);
    expect(first.objects.failed).toBe(0);
    // Every source object has an entry (an empty one has no chunk to digest, and an entry all
    // the same), and so has every destination object the run settled at.
    const written = all.filter((c) => c.source).length;
    // Re-composed objects have none: their parts copied from the old version were not pinned to
    // it (Ceph RGW 16 ignores x-amz-copy-source-if-match).
    const composed = ["middle-byte.bin", "appended.bin"];
    expect(first.index?.source).toMatchObject({ found: "absent", written });
    expect(first.index?.destination).toMatchObject({ found: "absent", written: written - composed.length });
    // Nine source keys at four a page: three pages, each writing its own pieces.
    const manifest = JSON.parse(
      (
        await readAll(workClient, workBucket, `source/index/${run}/chunksync-digest-index.manifest.json`)
      ).toString(),
    ) as { pieces: unknown[] };
    expect(manifest.pieces.length).toBe(3);
    await new Promise((r) => setTimeout(r, 1100));
    const second = await runWorkflowCollecting(indexed);
    expect(second.objects.identical).toBe(all.filter((c) => c.source).length);
    expect(second.bytes.sourceRead).toBe(0);
    const composedBytes = all
      .filter((c) => composed.includes(c.key))
      .reduce((n, c) => n + c.source!.length, 0);
    expect(second.bytes.destinationRead).toBe(composedBytes);
    expect(second.index?.source).toMatchObject({ found: "loaded", fromIndex: written, written });
    expect(second.index?.destination).toMatchObject({
      found: "loaded",
      fromIndex: written - composed.length,
      read: composed.length,
      written,
    });
    // No entry and no digest was ever put where the other side reads.
    for await (const o of workStore.list("shared/")) {
      const text = (await readAll(workClient, workBucket, o.key)).toString();
      expect(text.includes('"d":'), o.key).toBe(false);
      expect(o.key.includes("/found.json") || o.key.includes("/digests-"), o.key).toBe(false);
    }
  });
});
