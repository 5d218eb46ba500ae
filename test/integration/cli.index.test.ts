import { createHash, randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import type { FaultProxy, FaultRule, SeenRequest } from "../support/faultProxy.js";
import { pendingUploads, proxiedServer } from "../support/faultWorld.js";
import { putMultipart } from "../support/multipart.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  putObject,
  readAll,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";

interface SideIndex {
  found: string;
  fromIndex: number;
  read: number;
  written?: number;
  notes: string[];
}
interface Summary {
  exitCode: number;
  objects: Record<string, number>;
  bytes: { sourceRead: number; destinationRead: number; transferred: number };
  index?: { source: SideIndex; destination: SideIndex };
}
interface ObjectLine {
  type: string;
  destinationKey: string;
  state: string;
  action: string;
}
interface Run {
  summary: Summary;
  /** Each object's result line from `--report`, by destination key. */
  objects: Map<string, ObjectLine>;
}

const KiB = 1024;
const MiB = 1024 * KiB;
/** LastModified is stated in whole seconds: an entry stands once its version's second has passed. */
const pastTheSecond = () => new Promise((r) => setTimeout(r, 1100));

describe("chunksync CLI: digest index", () => {
  let env: Record<string, string>;
  let src: S3Client;
  let dst: S3Client;
  const buckets: [S3Client, string][] = [];
  const work = mkdtempSync(join(tmpdir(), "idx-"));
  let runs = 0;

  /** Index flags for directories of a name (a "machine"): the same name, the same indexes. */
  const dirs = (name: string) => ["--src-index", join(work, name, "s"), "--dst-index", join(work, name, "d")];

  async function pair(name: string, versioned = false) {
    const s = uniqueBucketName(`src-${name}`);
    const d = uniqueBucketName(`dst-${name}`);
    await createBucket(src, s);
    await createBucket(dst, d);
    buckets.push([src, s], [dst, d]);
    if (versioned) {
      for (const [client, bucket] of [
        [src, s],
        [dst, d],
      ] as const) {
        await client.send(
          new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Enabled" } }),
        );
      }
    }
    return { s, d };
  }

  async function cli(command: string, s: string, d: string, ...extra: string[]): Promise<Run> {
    const report = join(work, `report-${++runs}.jsonl`);
    const r = await runCli(
      [
        command,
        `s3://${s}`,
        `s3://${d}`,
        ...SIDES,
        "--chunk-size",
        "5MiB",
        "--json",
        "--report",
        report,
        ...extra,
      ],
      env,
    );
    expect(r.stderr).toBe("");
    const objects = new Map<string, ObjectLine>();
    for (const line of readFileSync(report, "utf8").trim().split("\n")) {
      const parsed = JSON.parse(line) as ObjectLine;
      if (parsed.type === "object") objects.set(parsed.destinationKey, parsed);
    }
    return { summary: JSON.parse(r.stdout) as Summary, objects };
  }
  const sync = (s: string, d: string, ...extra: string[]) => cli("sync", s, d, ...extra);
  /** `sync` with `rules` set on `proxy` for this run only; each rule must have fired once. */
  /** Whether `run`'s destination index says that a re-composition's copies were not pinned (see UNPINNED_COPIES_NOTE). */
  const unpinnedNoted = (run: Run) =>
    (run.summary.index?.destination.notes ?? []).some((n) =>
      n.startsWith("re-composed objects keep no entry"),
    );

  async function syncRacing(proxy: FaultProxy, rules: FaultRule[], s: string, d: string, ...extra: string[]) {
    proxy.setRules(rules);
    const raced = await sync(s, d, ...extra);
    proxy.setRules([]);
    for (const rule of rules) expect(proxy.firedCount(rule.name), rule.name).toBe(1);
    return raced;
  }

  async function put(
    client: S3Client,
    bucket: string,
    key: string,
    body: Buffer,
    meta: Record<string, string> = {},
    tags?: string,
  ) {
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        Metadata: meta,
        ...(tags ? { Tagging: tags } : {}),
      }),
    );
  }
  const head = (client: S3Client, bucket: string, key: string) =>
    client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  async function tagsOf(client: S3Client, bucket: string, key: string) {
    const out = await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
    return Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key, t.Value]));
  }
  async function keysOf(client: S3Client, bucket: string): Promise<string[]> {
    const out = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    return (out.Contents ?? []).map((o) => o.Key!).sort();
  }
  /** The destination holds the source's bytes and user metadata for `key`. */
  async function sameObject(s: string, d: string, key: string) {
    expect((await readAll(dst, d, key)).equals(await readAll(src, s, key))).toBe(true);
    expect((await head(dst, d, key)).Metadata).toEqual((await head(src, s, key)).Metadata);
  }

  beforeAll(() => {
    env = profileEnv();
    src = s3Client("source");
    dst = s3Client("destination");
  });
  afterAll(async () => {
    for (const [client, name] of buckets) await emptyAndDeleteBucket(client, name);
    rmSync(work, { recursive: true, force: true });
  });

  describe("each way an object can change is found on the side it changed on", () => {
    const small = (key: string) => seededBytes(key, 4 * KiB);
    const big = (key: string) => seededBytes(key, 11 * MiB);
    // One key per change and side; the big ones are re-composed, the rest rewritten whole.
    const keys = {
      still: small("still"),
      "s-same": small("s-same"),
      "s-size": big("s-size"),
      "s-meta": small("s-meta"),
      "s-tag": small("s-tag"),
      "s-recreate": small("s-recreate"),
      "d-same": small("d-same"),
      "d-size": big("d-size"),
      "d-meta": small("d-meta"),
      "d-tag": small("d-tag"),
      "d-recreate": small("d-recreate"),
    };
    const count = Object.keys(keys).length;
    const meta = { m: "1" };
    const tags = "t=1";
    let s: string;
    let d: string;
    const flags = () => [...dirs("matrix"), "--tags"];

    beforeAll(async () => {
      ({ s, d } = await pair("matrix"));
      for (const [key, body] of Object.entries(keys)) await put(src, s, key, body, meta, tags);
      await pastTheSecond();
      const first = await sync(s, d, ...flags());
      expect(first.summary.objects.missing).toBe(count);
      expect(first.summary.index?.source).toMatchObject({ found: "absent", written: count });
      expect(first.summary.index?.destination).toMatchObject({ found: "absent", written: count });
    });

    it("an unchanged pair after a sync is compared with no byte read on either side", async () => {
      const { summary } = await sync(s, d, ...flags());
      expect(summary.objects.identical).toBe(count);
      expect(summary.bytes.sourceRead).toBe(0);
      expect(summary.bytes.destinationRead).toBe(0);
      expect(summary.index?.source).toMatchObject({ found: "loaded", fromIndex: count, read: 0, notes: [] });
      expect(summary.index?.destination).toMatchObject({
        found: "loaded",
        fromIndex: count,
        read: 0,
        notes: [],
      });
    });

    /**
     * Changes `key` on one side, lets its second pass, syncs: that side alone reads, and only
     * that object; the other keys (including those changed before) come from both indexes.
     */
    async function afterChange(side: "source" | "destination", key: string, change: () => Promise<unknown>) {
      await change();
      await pastTheSecond();
      const run = await sync(s, d, ...flags());
      const other = side === "source" ? "destination" : "source";
      expect(run.summary.index?.[side]).toMatchObject({ found: "loaded", read: 1, fromIndex: count - 1 });
      expect(run.summary.index?.[other]).toMatchObject({ found: "loaded", read: 0, fromIndex: count });
      expect(run.summary.bytes[side === "source" ? "sourceRead" : "destinationRead"]).toBeGreaterThan(0);
      await sameObject(s, d, key);
      expect(await tagsOf(dst, d, key)).toEqual(await tagsOf(src, s, key));
      return { ...run, line: run.objects.get(key)! };
    }
    /**
     * A re-composed `key` has no destination entry: its parts copied from the old version were
     * not pinned to it (Ceph RGW 16 ignores x-amz-copy-source-if-match). The next run reads it
     * there once, and nothing else.
     */
    async function readOnceAfterCompose(key: keyof typeof keys) {
      await pastTheSecond();
      const run = await sync(s, d, ...flags());
      expect(run.summary.objects.identical).toBe(count);
      expect(run.summary.index?.source).toMatchObject({ read: 0, fromIndex: count });
      expect(run.summary.index?.destination).toMatchObject({ read: 1, fromIndex: count - 1 });
      expect(run.summary.bytes).toMatchObject({ sourceRead: 0, destinationRead: keys[key].length });
    }
    const replaceMetadata = (
      client: S3Client,
      bucket: string,
      key: string,
      metadata: Record<string, string>,
    ) =>
      client.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: key,
          CopySource: `${bucket}/${key}`,
          MetadataDirective: "REPLACE",
          Metadata: metadata,
        }),
      );
    const retag = (client: S3Client, bucket: string, key: string, value: string) =>
      client.send(
        new PutObjectTaggingCommand({
          Bucket: bucket,
          Key: key,
          Tagging: { TagSet: [{ Key: "t", Value: value }] },
        }),
      );

    it("source overwritten with the same bytes: read on the source, identical", async () => {
      const { line, summary } = await afterChange("source", "s-same", () =>
        put(src, s, "s-same", keys["s-same"], meta, tags),
      );
      expect(line).toMatchObject({ state: "identical", action: "none" });
      expect(summary.bytes.destinationRead).toBe(0);
    });

    it("source rewritten with other bytes of the same size: read on the source, re-composed", async () => {
      const { line, summary } = await afterChange("source", "s-size", () =>
        put(src, s, "s-size", flipByte(keys["s-size"], 7 * MiB), meta, tags),
      );
      expect(line).toMatchObject({ state: "changed", action: "compose" });
      // The destination digests nothing (its entry stands); it reads only the changed chunk, once:
      // to cut it into blocks, the later rounds and the part built from its own bytes taking them
      // from that read. That part is the chunk, digested as it was uploaded: nothing is read back.
      expect(summary.bytes.destinationRead).toBe(5 * MiB);
      // The source reads its new version once: the chunk its index says changed is kept from
      // that read for the block rounds and the part.
      expect(summary.bytes.sourceRead).toBe(keys["s-size"].length);
      await readOnceAfterCompose("s-size");
    });

    it("source metadata replaced in place: read on the source, metadata restated", async () => {
      const { line } = await afterChange("source", "s-meta", () =>
        replaceMetadata(src, s, "s-meta", { m: "2" }),
      );
      expect(line).toMatchObject({ state: "changed", action: "metadata" });
      expect((await head(dst, d, "s-meta")).Metadata).toEqual({ m: "2" });
    });

    it("source tags changed: found with --tags (tags are not in the index) and restated", async () => {
      const before = (await head(src, s, "s-tag")).LastModified;
      await retag(src, s, "s-tag", "2");
      await pastTheSecond();
      const run = await sync(s, d, ...flags());
      // The tag set alone is put on the destination's version: no byte copied.
      expect(run.objects.get("s-tag")).toMatchObject({ state: "changed", action: "tags" });
      expect(run.summary.bytes).toMatchObject({ transferred: 0, copiedServerSide: 0 });
      expect(await tagsOf(dst, d, "s-tag")).toEqual({ t: "2" });
      // A tag set changes no version: its digests still stand, unless the server moved LastModified.
      const moved = (await head(src, s, "s-tag")).LastModified?.getTime() !== before?.getTime();
      expect(run.summary.index?.source).toMatchObject({
        read: moved ? 1 : 0,
        fromIndex: moved ? count - 1 : count,
      });
      expect(run.summary.index?.destination).toMatchObject({ read: 0, fromIndex: count });
      await sameObject(s, d, "s-tag");
    });

    it("source deleted and re-created with the same bytes: read on the source, identical", async () => {
      const { line } = await afterChange("source", "s-recreate", async () => {
        await src.send(new DeleteObjectCommand({ Bucket: s, Key: "s-recreate" }));
        await put(src, s, "s-recreate", keys["s-recreate"], meta, tags);
      });
      expect(line).toMatchObject({ state: "identical", action: "none" });
    });

    it("destination overwritten with the same bytes: read on the destination, identical", async () => {
      const { line, summary } = await afterChange("destination", "d-same", () =>
        put(dst, d, "d-same", keys["d-same"], meta, tags),
      );
      expect(line).toMatchObject({ state: "identical", action: "none" });
      expect(summary.bytes.sourceRead).toBe(0);
    });

    it("destination rewritten with other bytes of the same size: read on the destination, repaired", async () => {
      const { line, summary } = await afterChange("destination", "d-size", () =>
        put(dst, d, "d-size", flipByte(keys["d-size"], 7 * MiB), meta, tags),
      );
      expect(line).toMatchObject({ state: "changed", action: "compose" });
      // The source digests nothing (its entry stands); it reads the changed chunk once, to cut
      // it into blocks, and sends the block that crosses from that read.
      expect(summary.bytes.sourceRead).toBe(5 * MiB);
      await readOnceAfterCompose("d-size");
    });

    it("destination metadata replaced in place: read on the destination, the source's restated", async () => {
      const { line } = await afterChange("destination", "d-meta", () =>
        replaceMetadata(dst, d, "d-meta", { m: "9" }),
      );
      expect(line).toMatchObject({ state: "changed", action: "metadata" });
      expect((await head(dst, d, "d-meta")).Metadata).toEqual(meta);
    });

    it("destination tags changed: found with --tags and restated", async () => {
      const before = (await head(dst, d, "d-tag")).LastModified;
      await retag(dst, d, "d-tag", "9");
      const moved = (await head(dst, d, "d-tag")).LastModified?.getTime() !== before?.getTime();
      await pastTheSecond();
      const run = await sync(s, d, ...flags());
      expect(run.objects.get("d-tag")).toMatchObject({ state: "changed", action: "tags" });
      expect(run.summary.bytes).toMatchObject({ transferred: 0, copiedServerSide: 0 });
      expect(await tagsOf(dst, d, "d-tag")).toEqual({ t: "1" });
      expect(run.summary.index?.source).toMatchObject({ read: 0, fromIndex: count });
      expect(run.summary.index?.destination).toMatchObject({ read: moved ? 1 : 0 });
      await sameObject(s, d, "d-tag");
    });

    it("destination deleted and re-created with the same bytes: read on the destination, identical", async () => {
      const { line } = await afterChange("destination", "d-recreate", async () => {
        await dst.send(new DeleteObjectCommand({ Bucket: d, Key: "d-recreate" }));
        await put(dst, d, "d-recreate", keys["d-recreate"], meta, tags);
      });
      expect(line).toMatchObject({ state: "identical", action: "none" });
    });

    it("after all of them, both indexes stand for every object again", async () => {
      const { summary } = await sync(s, d, ...flags());
      expect(summary.objects.identical).toBe(count);
      expect(summary.bytes.sourceRead + summary.bytes.destinationRead).toBe(0);
      expect(summary.index?.source).toMatchObject({ fromIndex: count, read: 0 });
      expect(summary.index?.destination).toMatchObject({ fromIndex: count, read: 0 });
      for (const key of Object.keys(keys)) await sameObject(s, d, key);
    });
  });

  describe("tag sets emptied, deleted, or put on a null version over older ones: the entries stand again", () => {
    const body = seededBytes("tagset", 6 * MiB);
    const tagSet = (value?: string) => ({ TagSet: value === undefined ? [] : [{ Key: "t", Value: value }] });
    for (const engine of ["direct", "workflow"] as const) {
      it(`--engine ${engine}`, async () => {
        const { s, d } = await pair(`tagset-${engine}`);
        // The destination kept versions, then suspended them over an older version of "null-over".
        const versioning = (Status: "Enabled" | "Suspended") =>
          dst.send(new PutBucketVersioningCommand({ Bucket: d, VersioningConfiguration: { Status } }));
        await versioning("Enabled");
        await put(dst, d, "null-over", seededBytes("tagset-old", 6 * MiB));
        await versioning("Suspended");
        for (const key of ["emptied", "deleted", "null-over"]) await put(src, s, key, body, {}, "t=1");
        const flags = [...dirs(`tagset-${engine}`), "--tags", "--engine", engine];
        await pastTheSecond();
        expect((await sync(s, d, ...flags)).summary.objects).toMatchObject({ missing: 2, changed: 1 });
        await src.send(new PutObjectTaggingCommand({ Bucket: s, Key: "emptied", Tagging: tagSet() }));
        // Ceph RGW then lists the object with an empty ETag.
        await src.send(new DeleteObjectTaggingCommand({ Bucket: s, Key: "deleted" }));
        // Ceph RGW then moves the LastModified a HEAD states, not the one the listing states.
        await src.send(new PutObjectTaggingCommand({ Bucket: s, Key: "null-over", Tagging: tagSet("2") }));
        await pastTheSecond();
        const run = await sync(s, d, ...flags);
        for (const key of ["emptied", "deleted", "null-over"])
          expect(run.objects.get(key), key).toMatchObject({ state: "changed", action: "tags" });
        expect(await tagsOf(dst, d, "emptied")).toEqual({});
        expect(await tagsOf(dst, d, "null-over")).toEqual({ t: "2" });
        for (const _ of [1, 2]) {
          await pastTheSecond();
          const next = await sync(s, d, ...flags);
          expect(next.summary.objects.identical).toBe(3);
          expect(next.summary.bytes.sourceRead + next.summary.bytes.destinationRead).toBe(0);
        }
      });
    }
  });

  describe("in versioned buckets", () => {
    const body = seededBytes("v", 6 * MiB);
    const older = seededBytes("v-older", 6 * MiB);
    let s: string;
    let d: string;
    let newest: string | undefined;
    const flags = () => dirs("versioned");

    beforeAll(async () => {
      ({ s, d } = await pair("versioned", true));
      await putObject(src, s, "v-src", body);
      await putObject(dst, d, "v-dst", body);
      await putObject(src, s, "v-dst", body);
      await putObject(src, s, "v-roll", older);
      newest = (await putObject(src, s, "v-roll", body)).VersionId;
      await pastTheSecond();
      const first = await sync(s, d, ...flags());
      expect(first.summary.objects).toMatchObject({ missing: 2, identical: 1 });
    });

    it.each([["source"], ["destination"]] as const)(
      "a new version of the same bytes on the %s is read there only, and found identical",
      async (side) => {
        if (side === "source") await putObject(src, s, "v-src", body);
        else await putObject(dst, d, "v-dst", body);
        await pastTheSecond();
        const run = await sync(s, d, ...flags());
        const other = side === "source" ? "destination" : "source";
        expect(run.summary.objects.identical).toBe(3);
        expect(run.summary.index?.[side]).toMatchObject({ found: "loaded", read: 1, fromIndex: 2 });
        expect(run.summary.index?.[other]).toMatchObject({ found: "loaded", read: 0, fromIndex: 3 });
        expect(run.summary.bytes[side === "source" ? "sourceRead" : "destinationRead"]).toBe(body.length);
        expect(run.summary.bytes[side === "source" ? "destinationRead" : "sourceRead"]).toBe(0);
      },
    );

    it("an older version made current again (other bytes, an earlier LastModified) is read and synced", async () => {
      expect(newest).toBeDefined();
      await src.send(new DeleteObjectCommand({ Bucket: s, Key: "v-roll", VersionId: newest }));
      await pastTheSecond();
      const run = await sync(s, d, ...flags());
      expect(run.objects.get("v-roll")).toMatchObject({ state: "changed" });
      expect(run.summary.index?.source).toMatchObject({ read: 1, fromIndex: 2 });
      expect(run.summary.index?.destination).toMatchObject({ read: 0, fromIndex: 3 });
      expect((await readAll(dst, d, "v-roll")).equals(older)).toBe(true);
      const next = await sync(s, d, ...flags());
      expect(next.summary.objects.identical).toBe(3);
      expect(next.summary.bytes.sourceRead + next.summary.bytes.destinationRead).toBe(0);
    });

    it("with --tags, a source tag set changed is put on the destination's version: no version made, then nothing read", async () => {
      const versions = async () =>
        (await dst.send(new ListObjectVersionsCommand({ Bucket: d, Prefix: "v-src" }))).Versions?.length;
      const before = await versions();
      await src.send(
        new PutObjectTaggingCommand({
          Bucket: s,
          Key: "v-src",
          Tagging: { TagSet: [{ Key: "t", Value: "7" }] },
        }),
      );
      await pastTheSecond();
      const run = await sync(s, d, ...flags(), "--tags");
      expect(run.objects.get("v-src")).toMatchObject({ state: "changed", action: "tags" });
      expect(await tagsOf(dst, d, "v-src")).toEqual({ t: "7" });
      expect(await versions()).toBe(before);
      // Each side's entry names the version: it stands though a tag put may move the LastModified
      // a HEAD states (Ceph RGW does, and not the one its versions listing states).
      expect(run.summary.bytes).toMatchObject({
        sourceRead: 0,
        destinationRead: 0,
        transferred: 0,
        copiedServerSide: 0,
      });
      for (const _ of [1, 2]) {
        await pastTheSecond();
        const next = await sync(s, d, ...flags(), "--tags");
        expect(next.summary.objects.identical).toBe(3);
        expect(next.summary.bytes.sourceRead + next.summary.bytes.destinationRead).toBe(0);
      }
    });
  });

  describe("small objects edited since the last run, at their size, longer or shorter", () => {
    // The workflow rewrites them on their page (a part's upload completed under the challenged
    // version, guarded on RGW, which ignores If-Match on complete); the direct engine one by one.
    const runs: Partial<Record<"direct" | "workflow", Summary>> = {};
    for (const engine of ["direct", "workflow"] as const)
      it(`--engine ${engine}: each is read once on the source and rewritten; the next run reads nothing`, async () => {
        const { s, d } = await pair(`edited-${engine}`);
        const bodies = Object.fromEntries(
          ["a", "b", "c", "d"].map((key) => [key, seededBytes(`edited-${engine}-${key}`, 2 * KiB)]),
        );
        for (const [key, body] of Object.entries(bodies)) await putObject(src, s, key, body);
        const flags = [...dirs(`edited-${engine}`), "--engine", engine];
        for (let i = 0; i < 2; i++) {
          await sync(s, d, ...flags);
          await pastTheSecond();
        }
        const edits = {
          a: flipByte(bodies.a!, 100),
          b: flipByte(bodies.b!, 2000),
          c: Buffer.concat([bodies.c!, seededBytes("appended", KiB)]),
          d: flipByte(bodies.d!.subarray(0, KiB), 10),
        };
        for (const [key, body] of Object.entries(edits)) await putObject(src, s, key, body);
        await pastTheSecond();
        const run = await sync(s, d, ...flags);
        expect(run.summary.objects).toMatchObject({ changed: 4, failed: 0 });
        expect(run.summary.bytes.transferred).toBe(8 * KiB);
        for (const [key, body] of Object.entries({ ...bodies, ...edits }))
          expect((await readAll(dst, d, key)).equals(body), key).toBe(true);
        expect(await pendingUploads(dst, d)).toEqual([]);
        runs[engine] = run.summary;
        await pastTheSecond();
        const next = await sync(s, d, ...flags);
        expect(next.summary.objects).toMatchObject({ identical: 4 });
        expect(next.summary.bytes.sourceRead + next.summary.bytes.destinationRead).toBe(0);
        // Both engines alike, but for what the workflow's destination side reads through its links.
        if (engine === "workflow") {
          const apart = (x: Summary | undefined) => ({
            ...x,
            durationMs: 0,
            bytes: { ...x?.bytes, sourceRead: 0 },
            index: x?.index && {
              source: { ...x.index.source, location: "" },
              destination: { ...x.index.destination, location: "" },
            },
          });
          expect(apart(runs.workflow)).toEqual(apart(runs.direct));
          expect(runs.workflow!.bytes.sourceRead).toBe(runs.direct!.bytes.sourceRead + 8 * KiB);
        }
      });
  });

  describe("a destination whose versioning is suspended, a delete marker on the key", () => {
    // Ceph RGW 16 refuses a PutObject with If-None-Match: * there (412), though no object is.
    for (const engine of ["direct", "workflow"])
      it(`--engine ${engine}: the object is created, and the next run finds it identical`, async () => {
        const { s, d } = await pair(`marker-${engine}`);
        await dst.send(
          new PutBucketVersioningCommand({ Bucket: d, VersioningConfiguration: { Status: "Suspended" } }),
        );
        const body = seededBytes(`marker-${engine}`, 3 * KiB);
        await putObject(src, s, "k", body);
        await putObject(dst, d, "k", seededBytes("gone", 10));
        await dst.send(new DeleteObjectCommand({ Bucket: d, Key: "k" }));
        const flags = [...dirs(`marker-${engine}`), "--engine", engine];
        const first = await sync(s, d, ...flags);
        expect(first.objects.get("k")).toMatchObject({ state: "missing", applied: true });
        expect(first.summary.objects).toMatchObject({ missing: 1, failed: 0 });
        expect((await readAll(dst, d, "k")).equals(body)).toBe(true);
        const again = await sync(s, d, ...flags);
        expect(again.summary.objects).toMatchObject({ identical: 1, failed: 0 });
      });
  });

  describe("in versioned buckets, an older version of the same bytes made current again", () => {
    // The same bytes, ETag and LastModified second as the version indexed, other attributes:
    // only the version ID tells them apart, which ListObjectsV2 does not state and the listing
    // of versions a side whose bucket keeps them reads does.
    const served = proxiedServer();
    const body = seededBytes("again", 4 * KiB);
    const secondOf = async (client: S3Client, bucket: string, Key: string, VersionId: string | undefined) => {
      const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key, VersionId }));
      return Math.floor(out.LastModified!.getTime() / 1000);
    };
    const versioning = (client: S3Client, Bucket: string, Status: "Enabled" | "Suspended") =>
      client.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status } }));
    /**
     * Two versions of `key` in one second, "text/older" then "text/newer"; the newer one's ID.
     * With `suspend`, the older is written while versioning is enabled and the newer, the null
     * version, once it is suspended (Ceph RGW 16 states no version ID for it).
     */
    async function twoVersions(client: S3Client, bucket: string, key = "k", suspend = false) {
      // Rewritten until both fall in one second: a fixture, not a timing assertion.
      for (let tries = 0; tries < 5; tries++) {
        const putAs = (ContentType: string) =>
          client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType }));
        if (suspend) await versioning(client, bucket, "Enabled");
        const older = (await putAs("text/older")).VersionId;
        if (suspend) await versioning(client, bucket, "Suspended");
        const newer = (await putAs("text/newer")).VersionId ?? "null";
        const [first, second] = [
          await secondOf(client, bucket, key, older),
          await secondOf(client, bucket, key, newer),
        ];
        if (first === second) return newer;
      }
      throw new Error("two versions in one second could not be written");
    }

    for (const engine of ["direct", "workflow"])
      for (const side of ["source", "destination"] as const)
        it(`--engine ${engine}: on the ${side}, the listing names another version, the run finds the attributes differ and restates them`, async () => {
          const { s, d } = await pair(`again-${engine}-${side}`, true);
          // Every run through the proxy (an index is kept per endpoint), which counts the last one's requests.
          const endpoints = ["--src-endpoint", served.proxy.url, "--dst-endpoint", served.proxy.url];
          const flags = [...dirs(`again-${engine}-${side}`), ...endpoints, "--engine", engine];
          const [client, bucket] = side === "source" ? [src, s] : [dst, d];
          if (side === "destination")
            await src.send(
              new PutObjectCommand({ Bucket: s, Key: "k", Body: body, ContentType: "text/newer" }),
            );
          const newer = await twoVersions(client, bucket);
          await pastTheSecond();
          const first = await sync(s, d, ...flags);
          expect(first.summary.objects).toMatchObject(side === "source" ? { missing: 1 } : { identical: 1 });
          await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: "k", VersionId: newer }));
          // `check` runs in this process whatever the engine: it is asked once per side.
          if (engine === "direct")
            expect(
              (await cli("check", s, d, ...dirs(`again-${engine}-${side}`), ...endpoints)).summary.exitCode,
            ).toBe(1);
          const fixed = await sync(s, d, ...flags);
          expect(fixed.objects.get("k")?.state).not.toBe("identical");
          const want = side === "source" ? "text/older" : "text/newer";
          expect((await head(dst, d, "k")).ContentType).toBe(want);
          expect((await cli("check", s, d, "--no-index")).summary.exitCode).toBe(0);
          // No change: each side reads none of its indexed object's bytes (the one written
          // last run is HEADed once, past its second, to learn its attributes).
          await pastTheSecond();
          const still = await sync(s, d, ...flags);
          expect(still.summary.objects.identical).toBe(1);
          expect(still.summary.index?.source).toMatchObject({ read: 0, fromIndex: 1 });
          expect(still.summary.index?.destination).toMatchObject({ read: 0, fromIndex: 1 });
          expect(still.summary.bytes.sourceRead + still.summary.bytes.destinationRead).toBe(0);
          // From then on the listings name the versions indexed: no HEAD either.
          const before = served.proxy.seen.length;
          const quiet = await sync(s, d, ...flags);
          expect(quiet.summary.objects.identical).toBe(1);
          expect(quiet.summary.bytes.sourceRead + quiet.summary.bytes.destinationRead).toBe(0);
          const seen = served.proxy.seen.slice(before);
          const on = (method: string, path: string) =>
            seen.filter((r) => r.method === method && r.path === path);
          expect([...on("HEAD", `/${s}/k`), ...on("HEAD", `/${d}/k`)]).toEqual([]);
          for (const bucket of [s, d]) {
            const versions = seen.filter(
              (r) => r.path.startsWith(`/${bucket}`) && /(^|&)versions/.test(r.query),
            );
            expect(versions.length, bucket).toBeGreaterThan(0);
          }
        });

    for (const engine of ["direct", "workflow"])
      it(`--engine ${engine}: where the versions may not be listed, a HEAD per entry finds the version, and the run says so`, async () => {
        const name = `unlisted-${engine}`;
        const { s, d } = await pair(name, true);
        const endpoints = ["--src-endpoint", served.proxy.url, "--dst-endpoint", served.proxy.url];
        const flags = [...dirs(name), ...endpoints, "--engine", engine];
        const refused = {
          name: "no-versions",
          action: "forbidden",
          method: "GET",
          query: /(^|&)versions(=|&|$)/,
        } as const;
        served.proxy.setRules([refused]);
        try {
          await src.send(
            new PutObjectCommand({ Bucket: s, Key: "k", Body: body, ContentType: "text/newer" }),
          );
          const newer = await twoVersions(dst, d);
          await pastTheSecond();
          expect((await sync(s, d, ...flags)).summary.objects).toMatchObject({ identical: 1 });
          await dst.send(new DeleteObjectCommand({ Bucket: d, Key: "k", VersionId: newer }));
          const before = served.proxy.seen.length;
          const fixed = await sync(s, d, ...flags);
          expect(fixed.objects.get("k")?.state).not.toBe("identical");
          expect((await head(dst, d, "k")).ContentType).toBe("text/newer");
          expect(served.proxy.firedCount("no-versions")).toBeGreaterThan(0);
          const heads = served.proxy.seen
            .slice(before)
            .filter((r) => r.method === "HEAD" && r.path === `/${d}/k`);
          expect(heads.length).toBeGreaterThan(0);
          for (const index of [fixed.summary.index?.source, fixed.summary.index?.destination])
            expect(
              index?.notes.some((n) => n.startsWith("the bucket's versions were not listed in full")),
            ).toBe(true);
        } finally {
          served.proxy.setRules([]);
        }
      });

    describe("the newer written while versioning was suspended, its null version deleted", () => {
      // The entry of the null version records no version ID (Ceph RGW 16 states none for it).
      for (const engine of ["direct", "workflow"])
        it(`--engine ${engine}: on either side, the listing names another version, the run finds the attributes differ and restates them`, async () => {
          const name = `suspended-${engine}`;
          const { s, d } = await pair(name, true);
          const flags = [...dirs(name), "--engine", engine];
          // "on-src" changes on the source, "on-dst" on the destination.
          await twoVersions(src, s, "on-src", true);
          await src.send(
            new PutObjectCommand({ Bucket: s, Key: "on-dst", Body: body, ContentType: "text/newer" }),
          );
          await twoVersions(dst, d, "on-dst", true);
          await pastTheSecond();
          const first = await sync(s, d, ...flags);
          expect(first.summary.objects).toMatchObject({ missing: 1, identical: 1 });
          await src.send(new DeleteObjectCommand({ Bucket: s, Key: "on-src", VersionId: "null" }));
          await dst.send(new DeleteObjectCommand({ Bucket: d, Key: "on-dst", VersionId: "null" }));
          // `check` runs in this process whatever the engine, and refreshes the indexes.
          const checked = engine === "direct" ? await cli("check", s, d, ...dirs(name)) : undefined;
          const fixed = await sync(s, d, ...flags);
          expect(fixed.summary.objects.identical).toBe(0);
          expect((await head(dst, d, "on-src")).ContentType).toBe("text/older");
          expect((await head(dst, d, "on-dst")).ContentType).toBe("text/newer");
          // The first run after: on each side, the listing named another version than the
          // entry's (the null version), and that side read that object only.
          const after = checked ?? fixed;
          expect(after.summary.objects.identical).toBe(0);
          expect(after.summary.index?.source).toMatchObject({ read: 1, fromIndex: 1 });
          expect(after.summary.index?.destination).toMatchObject({ read: 1, fromIndex: 1 });
          const still = await sync(s, d, ...flags);
          expect(still.summary.objects.identical).toBe(2);
          expect(still.summary.bytes.sourceRead + still.summary.bytes.destinationRead).toBe(0);
        });
    });
  });

  describe("a stored index that cannot be trusted is dropped, read around and rebuilt", () => {
    const bodies = { a: seededBytes("a", 3 * KiB), b: seededBytes("b", 6 * MiB), c: seededBytes("c", 100) };
    const total = bodies.a.length + bodies.b.length + bodies.c.length;
    let s: string;
    let d: string;
    /** The one scope directory under a side's index root. */
    const scopeDir = (side: "s" | "d", machine = "damage") => {
      const root = join(work, machine, side);
      const names = readdirSync(root);
      expect(names).toHaveLength(1);
      return join(root, names[0]!);
    };
    /** The piece the manifest names (a dropped manifest's pieces may lie beside it). */
    const pieceOf = (dir: string) => {
      const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as {
        pieces: { name: string }[];
      };
      expect(manifest.pieces).toHaveLength(1);
      return join(dir, manifest.pieces[0]!.name);
    };
    const manifestOf = (dir: string) => join(dir, "manifest.json");
    const edit = (path: string, change: (data: Buffer) => Buffer) =>
      writeFileSync(path, change(readFileSync(path)));

    beforeAll(async () => {
      ({ s, d } = await pair("damage"));
      for (const [key, data] of Object.entries(bodies)) await putObject(src, s, key, data);
      await pastTheSecond();
      const first = await sync(s, d, ...dirs("damage"));
      expect(first.summary.objects.missing).toBe(3);
      // The destination's copies were written just now: a read in their second would not be trusted.
      await pastTheSecond();
    });

    /**
     * After damaging one side's index: that side reads all 3 objects and notes why, the
     * other side (damaged the time before, so rebuilt by then) reads none, the result is right.
     */
    async function damaged(side: "source" | "destination", found: "dropped" | "loaded", note: RegExp) {
      const { summary } = await sync(s, d, ...dirs("damage"));
      const other = side === "source" ? "destination" : "source";
      expect(summary.objects.identical).toBe(3);
      expect(summary.index?.[side]).toMatchObject({ found, read: 3, fromIndex: 0, written: 3 });
      expect(summary.index?.[side]?.notes.join("\n")).toMatch(note);
      expect(summary.index?.[other]).toMatchObject({ found: "loaded", read: 0, fromIndex: 3, notes: [] });
      expect(summary.bytes[side === "source" ? "sourceRead" : "destinationRead"]).toBe(total);
      expect(summary.bytes[side === "source" ? "destinationRead" : "sourceRead"]).toBe(0);
    }

    it("a flipped byte in a piece: the piece is dropped", async () => {
      edit(pieceOf(scopeDir("s")), (data) => flipByte(data, data.length >> 1));
      await damaged(
        "source",
        "loaded",
        /piece .* does not match its checksum: its objects \(3\) are read again/,
      );
    });

    it("a flipped byte in the manifest: the index is dropped", async () => {
      edit(manifestOf(scopeDir("d")), (data) => flipByte(data, data.indexOf('"pieces"') + 40));
      await damaged("destination", "dropped", /manifest/);
    });

    it("a truncated manifest: the index is dropped", async () => {
      edit(manifestOf(scopeDir("s")), (data) => data.subarray(0, data.length >> 1));
      await damaged("source", "dropped", /not valid JSON/);
    });

    it("a truncated piece: the piece is dropped", async () => {
      edit(pieceOf(scopeDir("d")), (data) => data.subarray(0, data.length - 20));
      await damaged("destination", "loaded", /does not match its checksum/);
    });

    it("another bucket's index under this scope's name: dropped as foreign", async () => {
      const mine = scopeDir("s");
      rmSync(mine, { recursive: true });
      cpSync(scopeDir("d"), mine, { recursive: true });
      await damaged("source", "dropped", new RegExp(`made for bucket ${d} \\(now ${s}\\)`));
    });

    it("a manifest of an older format version: dropped as old-format", async () => {
      edit(manifestOf(scopeDir("d")), (data) => {
        const { sha256: _, ...body } = JSON.parse(data.toString()) as Record<string, unknown>;
        // Version 1, before Expires was kept as its text: a chunksync upgrade meets such indexes.
        const old = { ...body, version: 1 };
        const sha256 = createHash("sha256").update(JSON.stringify(old)).digest("hex");
        return Buffer.from(`${JSON.stringify({ ...old, sha256 })}\n`);
      });
      await damaged("destination", "dropped", /format version is 1, not 2/);
    });

    it("after each, the rebuilt indexes answer for every object", async () => {
      const { summary } = await sync(s, d, ...dirs("damage"));
      expect(summary.objects.identical).toBe(3);
      expect(summary.bytes.sourceRead + summary.bytes.destinationRead).toBe(0);
      expect(summary.index?.source).toMatchObject({ found: "loaded", fromIndex: 3, notes: [] });
      expect(summary.index?.destination).toMatchObject({ found: "loaded", fromIndex: 3, notes: [] });
    });

    it("another chunk size or pairing secret is another scope: its index is absent, everything is read", async () => {
      const secret = join(work, "secret");
      writeFileSync(secret, randomBytes(32).toString("hex"));
      for (const extra of [
        ["--chunk-size", "6MiB"],
        ["--secret-file", secret],
        ["--algorithm", "sha1"],
      ]) {
        const { summary } = await sync(s, d, ...dirs("damage"), ...extra);
        expect(summary.objects.identical).toBe(3);
        expect(summary.index?.source).toMatchObject({ found: "absent", read: 3, fromIndex: 0 });
        expect(summary.index?.destination).toMatchObject({ found: "absent", read: 3, fromIndex: 0 });
        expect(summary.bytes.sourceRead).toBe(total);
        expect(summary.bytes.destinationRead).toBe(total);
      }
      // Each scope kept its own index: the first one still stands.
      const again = await sync(s, d, ...dirs("damage"), "--secret-file", secret);
      expect(again.summary.index?.source).toMatchObject({ found: "loaded", read: 0, fromIndex: 3 });
      expect(again.summary.bytes.sourceRead + again.summary.bytes.destinationRead).toBe(0);
    });

    it("on a new machine (no index yet) everything is read, with the same result", async () => {
      const { summary } = await sync(s, d, ...dirs("new-machine"));
      expect(summary.objects.identical).toBe(3);
      expect(summary.index?.source).toMatchObject({ found: "absent", read: 3, written: 3 });
      expect(summary.index?.destination).toMatchObject({ found: "absent", read: 3, written: 3 });
      expect(summary.bytes.sourceRead).toBe(total);
      expect(summary.bytes.destinationRead).toBe(total);
    });

    it("--no-index reads everything and keeps no index", async () => {
      const fresh = profileEnv();
      const r = await runCli(
        ["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--chunk-size", "5MiB", "--json", "--no-index"],
        fresh,
      );
      expect(r.stderr).toBe("");
      const summary = JSON.parse(r.stdout) as Summary;
      expect(summary.objects.identical).toBe(3);
      expect(summary.index).toBeUndefined();
      expect(summary.bytes.sourceRead).toBe(total);
      expect(summary.bytes.destinationRead).toBe(total);
      // The cache directory may hold the CLI's compiled code (chunksync/compile), never an index.
      expect(existsSync(join(fresh.XDG_CACHE_HOME!, "chunksync", "index"))).toBe(false);
    });

    it("check --full reads everything and rebuilds the indexes", async () => {
      const { summary } = await cli("check", s, d, ...dirs("damage"), "--full");
      expect(summary.objects.identical).toBe(3);
      // The stored indexes are read only for keys a filter passes over (none here): not consulted.
      for (const side of ["source", "destination"] as const)
        expect(summary.index?.[side]).toMatchObject({ found: "loaded", read: 3, fromIndex: 0, written: 3 });
      expect(summary.bytes.sourceRead).toBe(total);
      expect(summary.bytes.destinationRead).toBe(total);
      const next = await sync(s, d, ...dirs("damage"));
      expect(next.summary.index?.source).toMatchObject({ found: "loaded", fromIndex: 3, read: 0 });
      expect(next.summary.bytes.sourceRead + next.summary.bytes.destinationRead).toBe(0);
    });

    it("check --full keeps the entries of the keys its filters pass over", async () => {
      const { summary } = await cli("check", s, d, ...dirs("damage"), "--full", "--exclude", "b");
      expect(summary.objects).toMatchObject({ scanned: 2, identical: 2 });
      for (const side of ["source", "destination"] as const)
        expect(summary.index?.[side]).toMatchObject({ read: 2, fromIndex: 0, written: 3 });
      expect(summary.bytes.sourceRead).toBe(bodies.a.length + bodies.c.length);
      await pastTheSecond();
      const next = await cli("check", s, d, ...dirs("damage"));
      for (const side of ["source", "destination"] as const)
        expect(next.summary.index?.[side]).toMatchObject({ fromIndex: 3, read: 0 });
    });
  });

  describe("an index kept in the side's own bucket, inside the synced prefix", () => {
    it("is neither synced to the other side nor deleted by sync --delete", async () => {
      const { s, d } = await pair("s3idx");
      const bodies = { "data/a": seededBytes("a", 2 * KiB), "data/b": seededBytes("b", 6 * MiB) };
      for (const [key, data] of Object.entries(bodies)) await putObject(src, s, key, data);
      await putObject(dst, d, "extra", "only on the destination");
      await pastTheSecond();
      const flags = ["--src-index", `s3://${s}/.idx`, "--dst-index", `s3://${d}/.idx`, "--delete"];
      const first = await sync(s, d, ...flags);
      expect(first.summary.objects).toMatchObject({ missing: 2, extra: 1 });
      const srcIndex = (await keysOf(src, s)).filter((k) => k.startsWith(".idx/"));
      const dstIndex = (await keysOf(dst, d)).filter((k) => k.startsWith(".idx/"));
      expect(
        srcIndex.some(
          (k) => k.startsWith(`.idx/${s}-`) && k.endsWith("/chunksync-digest-index.manifest.json"),
        ),
      ).toBe(true);
      expect(
        dstIndex.some(
          (k) => k.startsWith(`.idx/${d}-`) && k.endsWith("/chunksync-digest-index.manifest.json"),
        ),
      ).toBe(true);
      // Nothing of the source's index reached the destination.
      expect(dstIndex.every((k) => k.startsWith(`.idx/${d}-`))).toBe(true);
      expect((await keysOf(dst, d)).filter((k) => !k.startsWith(".idx/"))).toEqual(Object.keys(bodies));
      await pastTheSecond();
      const second = await sync(s, d, ...flags);
      expect(second.summary.objects).toMatchObject({ identical: 2, extra: 0 });
      expect(second.objects.size).toBe(2);
      expect(second.summary.index?.source).toMatchObject({ found: "loaded", fromIndex: 2, read: 0 });
      expect(second.summary.index?.destination).toMatchObject({ found: "loaded", fromIndex: 2, read: 0 });
      expect(second.summary.bytes.sourceRead + second.summary.bytes.destinationRead).toBe(0);
      expect((await keysOf(dst, d)).filter((k) => k.startsWith(`.idx/${s}-`))).toEqual([]);
      expect(
        (await keysOf(dst, d)).some(
          (k) => k.startsWith(`.idx/${d}-`) && k.endsWith("/chunksync-digest-index.manifest.json"),
        ),
      ).toBe(true);
    });

    it("nor are the indexes of another scope kept at the same location (another chunk size)", async () => {
      const { s, d } = await pair("s3idx-scopes");
      await putObject(src, s, "data/a", seededBytes("scopes", 2 * KiB));
      await pastTheSecond();
      const flags = ["--src-index", `s3://${s}/.idx`, "--dst-index", `s3://${d}/.idx`, "--delete"];
      await sync(s, d, ...flags);
      const indexKeys = async () => ({
        source: (await keysOf(src, s)).filter((k) => k.startsWith(".idx/")),
        destination: (await keysOf(dst, d)).filter((k) => k.startsWith(".idx/")),
      });
      const before = await indexKeys();
      expect(before.source.length).toBeGreaterThan(0);
      expect(before.destination.length).toBeGreaterThan(0);
      const other = await sync(s, d, ...flags, "--chunk-size", "8MiB");
      expect(other.summary.objects).toMatchObject({
        scanned: 1,
        identical: 1,
        missing: 0,
        extra: 0,
        deleted: 0,
      });
      expect([...other.objects.keys()]).toEqual(["data/a"]);
      const after = await indexKeys();
      // Each side keeps both scopes' indexes, and holds nothing of the other side's.
      expect(after.source).toEqual(expect.arrayContaining(before.source));
      expect(after.destination).toEqual(expect.arrayContaining(before.destination));
      expect(after.source.every((k) => k.startsWith(`.idx/${s}-`))).toBe(true);
      expect(after.destination.every((k) => k.startsWith(`.idx/${d}-`))).toBe(true);
      expect(
        after.destination.filter((k) => k.endsWith("/chunksync-digest-index.manifest.json")),
      ).toHaveLength(2);
    });

    describe("by a later run not given the index's location", () => {
      let s: string;
      let d: string;
      let indexKeys: { source: string[]; destination: string[] };
      const idx = (keys: string[]) => keys.filter((k) => k.startsWith("idx/"));

      beforeAll(async () => {
        ({ s, d } = await pair("s3idx-later"));
        await putObject(src, s, "a", seededBytes("later", 2 * KiB));
        await sync(s, d, "--src-index", `s3://${s}/idx`, "--dst-index", `s3://${d}/idx`);
        indexKeys = { source: idx(await keysOf(src, s)), destination: idx(await keysOf(dst, d)) };
        expect(indexKeys.source.length).toBeGreaterThan(1);
        expect(indexKeys.destination.length).toBeGreaterThan(1);
      });

      // Its index in the user's cache instead (the option left out), or none at all.
      for (const [engine, flags, given] of [
        ["direct", dirs("s3idx-later"), "another index location"],
        ["workflow", dirs("s3idx-later"), "another index location"],
        ["direct", ["--no-index"], "--no-index"],
      ] as const) {
        it(`--engine ${engine}, ${given}: the index's keys on both sides are neither synced nor deleted`, async () => {
          const run = await sync(s, d, "--engine", engine, "--delete", ...flags);
          expect(run.summary.objects).toMatchObject({ scanned: 1, identical: 1, extra: 0, deleted: 0 });
          expect([...run.objects.keys()]).toEqual(["a"]);
          expect(idx(await keysOf(src, s))).toEqual(indexKeys.source);
          expect(idx(await keysOf(dst, d))).toEqual(indexKeys.destination);
        });
      }
    });

    for (const engine of ["direct", "workflow"] as const) {
      it(`--engine ${engine}: a source object at the path of the destination's index location is synced as any other`, async () => {
        const { s, d } = await pair(`s3idx-user-${engine}`);
        const user = seededBytes(`user-${engine}`, 3 * KiB);
        await putObject(src, s, "a", "to sync");
        // A user's own object, not one of an index's names: nothing sets it apart from the others.
        await putObject(src, s, ".idx/notes.txt", user);
        const index = ["--dst-index", `s3://${d}/.idx`];
        const first = await sync(s, d, "--engine", engine, ...index);
        expect(first.summary.objects).toMatchObject({ scanned: 2, missing: 2 });
        expect((await readAll(dst, d, ".idx/notes.txt")).equals(user)).toBe(true);
        const check = await cli("check", s, d, ...index);
        expect(check.summary.objects).toMatchObject({ scanned: 2, identical: 2 });
        expect(check.summary.exitCode).toBe(0);
      });
    }

    it("a location that is the synced prefix itself is refused, and nothing is written or deleted", async () => {
      const { s, d } = await pair("s3idx-root");
      await putObject(src, s, "a", "to sync");
      await putObject(dst, d, "extra", "only on the destination");
      const r = await runCli(
        ["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--dst-index", `s3://${d}`, "--delete"],
        env,
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--dst-index.*a prefix apart from the synced objects/s);
      expect(await keysOf(src, s)).toEqual(["a"]);
      expect(await keysOf(dst, d)).toEqual(["extra"]);
    });
  });

  describe("a source whose index entry no longer stands has its write's upload created while the challenge reads", () => {
    const served = proxiedServer();
    const key = "ahead";
    const body = seededBytes("ahead", 11 * MiB);
    /** A pair synced once, indexed on both sides, with the flags that reach both through the proxy. */
    async function synced(name: string) {
      const { s, d } = await pair(name);
      await put(src, s, key, body);
      await pastTheSecond();
      const flags = [...dirs(name), "--src-endpoint", served.proxy.url, "--dst-endpoint", served.proxy.url];
      expect((await sync(s, d, ...flags)).summary.objects).toMatchObject({ missing: 1 });
      return { s, d, flags };
    }
    const uploadsLeft = async (d: string) =>
      (await dst.send(new ListMultipartUploadsCommand({ Bucket: d }))).Uploads ?? [];

    it("changed: the upload is created before the source's last chunk is read, and the object is re-composed", async () => {
      const { s, d, flags } = await synced("ahead-changed");
      await put(src, s, key, flipByte(body, 6 * MiB));
      await pastTheSecond();
      const from = served.proxy.seen.length;
      const created = () =>
        served.proxy.seen
          .slice(from)
          .find((r) => r.method === "POST" && r.path === `/${d}/${key}` && r.query === "uploads=");
      // The source's read of its last chunk (from 10 MiB on) is answered only once the upload was
      // created (or after 20 s, within the CLI's 30 s socket timeout): an upload created after
      // the challenge would not be in time.
      served.proxy.setRules([
        {
          name: "last chunk held",
          action: "hold",
          method: "GET",
          path: `/${s}/${key}`,
          times: 1,
          when: (r) => (r.headers.range ?? "").startsWith(`bytes=${10 * MiB}-`),
          hook: async () => {
            for (let waited = 0; waited < 200 && created() === undefined; waited++)
              await new Promise((resolve) => setTimeout(resolve, 100));
          },
        },
      ]);
      const run = await sync(s, d, ...flags).finally(() => served.proxy.setRules([]));
      expect(served.proxy.firedCount("last chunk held")).toBe(1);
      expect(run.objects.get(key)).toMatchObject({ state: "changed", action: "compose" });
      const last = served.proxy.seen
        .slice(from)
        .find((r) => r.path === `/${s}/${key}` && (r.headers.range ?? "").startsWith(`bytes=${10 * MiB}-`));
      expect(created()?.arrived).toBeLessThan(last?.answered ?? 0);
      expect((await readAll(dst, d, key)).equals(flipByte(body, 6 * MiB))).toBe(true);
      expect(await uploadsLeft(d)).toEqual([]);
    });

    it("the same bytes written again: the upload created ahead is aborted, the pair found identical", async () => {
      const { s, d, flags } = await synced("ahead-same");
      await put(src, s, key, body);
      await pastTheSecond();
      const from = served.proxy.seen.length;
      const run = await sync(s, d, ...flags);
      expect(run.objects.get(key)).toMatchObject({ state: "identical", action: "none" });
      const seen = served.proxy.seen.slice(from).filter((r) => r.path === `/${d}/${key}`);
      expect(seen.filter((r) => r.method === "POST" && r.query === "uploads=")).toHaveLength(1);
      expect(seen.filter((r) => r.method === "DELETE" && r.query.startsWith("uploadId="))).toHaveLength(1);
      expect(await uploadsLeft(d)).toEqual([]);
      expect((await readAll(dst, d, key)).equals(body)).toBe(true);
    });
  });

  describe("indexes kept in both sides' buckets", () => {
    const served = proxiedServer();
    const through = () => ["--src-endpoint", served.proxy.url, "--dst-endpoint", served.proxy.url];
    const at = (s: string, d: string) => ["--src-index", `s3://${s}/.idx`, "--dst-index", `s3://${d}/.idx`];
    /** GETs of `bucket`'s index manifest among the requests since `from`. */
    const manifestReads = (bucket: string, from: number) =>
      served.proxy.seen
        .slice(from)
        .filter(
          (r) =>
            r.method === "GET" &&
            r.path.startsWith(`/${bucket}/.idx/`) &&
            r.path.endsWith("index.manifest.json"),
        );
    /** Listings of at most one key under `bucket`'s index prefix since `from`: the check where the manifest is not read. */
    const listChecks = (bucket: string, from: number) =>
      served.proxy.seen
        .slice(from)
        .filter(
          (r) => r.path === `/${bucket}/` && /max-keys=1(&|$)/.test(r.query) && /prefix=\.idx/.test(r.query),
        );

    it("are checked side by side, and beside the first listing pages, by reading each manifest the run then takes: one request a side", async () => {
      const { s, d } = await pair("s3idx-both");
      await putObject(src, s, "a", seededBytes("both", 2 * KiB));
      await pastTheSecond();
      const flags = [...at(s, d), ...through()];
      const from = served.proxy.seen.length;
      const check = (bucket: string) => manifestReads(bucket, from)[0];
      const page = (bucket: string) =>
        served.proxy.seen.slice(from).find((r) => r.path === `/${bucket}/` && r.query === "list-type=2");
      // Answered only once the destination's check arrived (or after 30 s): requests made in
      // turn would not meet there.
      const untilChecked = async () => {
        for (let waited = 0; waited < 300 && check(d) === undefined; waited++)
          await new Promise((resolve) => setTimeout(resolve, 100));
      };
      const held = { action: "hold", method: "GET", times: 1, hook: untilChecked } as const;
      served.proxy.setRules([
        { ...held, name: "source index check held", path: new RegExp(`^/${s}/\\.idx/.*manifest\\.json$`) },
        { ...held, name: "source page held", path: `/${s}/`, query: /^list-type=2$/ },
      ]);
      const run = await sync(s, d, ...flags).finally(() => served.proxy.setRules([]));
      expect(run.summary.objects).toMatchObject({ missing: 1 });
      expect(served.proxy.firedCount("source index check held")).toBe(1);
      expect(served.proxy.firedCount("source page held")).toBe(1);
      expect(check(d)?.arrived).toBeLessThan(check(s)?.answered ?? 0);
      expect(check(d)?.arrived).toBeLessThan(page(s)?.answered ?? 0);
      await pastTheSecond();
      // A run that reads the indexes: each manifest read once, and no check of its own; once
      // more only where it swaps a new index in, just before (a scrub's marks swapped in
      // meanwhile are carried, see SideIndex.commit).
      const next = served.proxy.seen.length;
      const second = await sync(s, d, ...flags);
      expect(second.summary.index?.source).toMatchObject({ found: "loaded", fromIndex: 1 });
      expect(second.summary.index?.destination).toMatchObject({ found: "loaded", fromIndex: 1 });
      for (const bucket of [s, d]) {
        const firstWrite = served.proxy.seen.findIndex(
          (r, at) => at >= next && r.method === "PUT" && r.path.startsWith(`/${bucket}/.idx/`),
        );
        const reads = manifestReads(bucket, next);
        const beforeWrites =
          firstWrite < 0 ? reads : reads.filter((r) => served.proxy.seen.indexOf(r) < firstWrite);
        expect(beforeWrites).toHaveLength(1);
        expect(reads.length - beforeWrites.length).toBe(firstWrite < 0 ? 0 : 1);
        expect(listChecks(bucket, next)).toEqual([]);
      }
      // The workflow engine is checked the same way (its steps then open the index each).
      await pastTheSecond();
      const viaWorkflow = served.proxy.seen.length;
      const third = await sync(s, d, ...flags, "--engine", "workflow");
      expect(third.summary.index?.source).toMatchObject({ found: "loaded", fromIndex: 1 });
      expect(third.summary.index?.destination).toMatchObject({ found: "loaded", fromIndex: 1 });
      for (const bucket of [s, d]) expect(listChecks(bucket, viaWorkflow)).toEqual([]);
      // One that does not consult them (check --full) checks each location with a listing, reads
      // each manifest once (for the keys its filters pass over), and once more just before it
      // swaps its new index in.
      const full = served.proxy.seen.length;
      const r = await runCli(
        ["check", `s3://${s}`, `s3://${d}`, ...SIDES, ...at(s, d), ...through(), "--full"],
        env,
      );
      expect(r.code, r.stderr).toBe(0);
      for (const bucket of [s, d]) {
        expect(listChecks(bucket, full)).toHaveLength(1);
        const [read] = manifestReads(bucket, full);
        expect(manifestReads(bucket, full)).toHaveLength(2);
        expect(read?.arrived).toBeGreaterThan(
          listChecks(bucket, full)[0]?.answered ?? Number.POSITIVE_INFINITY,
        );
      }
    });

    it("in a bucket that does not exist is refused before any work, naming the flag", async () => {
      const { s, d } = await pair("s3idx-missing");
      await putObject(src, s, "a", seededBytes("missing", 2 * KiB));
      const gone = uniqueBucketName("idx-gone");
      const r = await runCli(
        ["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--src-index", `s3://${gone}/idx`],
        env,
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--src-index.*a bucket prefix this side can read and write/s);
      expect(await keysOf(dst, d)).toEqual([]);
    });
  });

  describe("an index under a long prefix", () => {
    it("is refused before any work where its files' keys would pass 1,024 bytes, and kept at the limit", async () => {
      const { s, d } = await pair("idx-long");
      await putObject(src, s, "a", seededBytes("long-index", 2 * KiB));
      const at = (bytes: number) => `s3://${d}/${"i".repeat(bytes - 1)}/`;
      // The bucket's scope folder is its name, a hash of 16 hex digits and a "/".
      const room = 1024 - 64 - (d.length + 18);
      const over = await runCli(
        ["sync", `s3://${s}`, `s3://${d}/data`, ...SIDES, "--dst-index", at(room + 1)],
        env,
      );
      expect(over.code).toBe(2);
      expect(over.stderr).toContain(
        `--dst-index: expected a prefix of at most ${room} bytes of UTF-8 with its trailing "/"`,
      );
      expect(over.stderr).toContain(`got ${room + 1}`);
      expect(await keysOf(dst, d)).toEqual([]);
      const { summary } = await sync(s, `${d}/data`, "--dst-index", at(room));
      expect(summary.index?.destination).toMatchObject({ found: "absent", written: 1, notes: [] });
      const again = await sync(s, `${d}/data`, "--dst-index", at(room));
      expect(again.summary.index?.destination).toMatchObject({ found: "loaded", fromIndex: 1, read: 0 });
    });
  });

  describe("an index in a bucket, with --storage-class", () => {
    const served = proxiedServer();

    it("asks whether the destination takes the class with an upload begun and aborted under the synced prefix", async () => {
      const { s, d } = await pair("class-probe");
      await putObject(src, s, "data/a", seededBytes("probe", 2 * KiB));
      const before = served.proxy.seen.length;
      await sync(
        `${s}/data`,
        `${d}/backup`,
        "--dst-endpoint",
        served.proxy.url,
        "--storage-class",
        "STANDARD",
      );
      const probe = served.proxy.seen
        .slice(before)
        .filter((r) => r.path === `/${d}/backup/.chunksync-storage-class-probe`);
      expect(probe.map((r) => [r.method, r.query.startsWith("uploads") ? "uploads" : "uploadId"])).toEqual([
        ["POST", "uploads"],
        ["DELETE", "uploadId"],
      ]);
      expect(probe[0]!.headers["x-amz-storage-class"]).toBe("STANDARD");
      expect(await pendingUploads(dst, d)).toEqual([]);
    });

    it("keeps the side's encryption but not the data's storage class (an archive class would leave it unreadable)", async () => {
      const { s, d } = await pair("s3idx-class");
      await putObject(src, s, "data/a", seededBytes("class", 2 * KiB));
      await pastTheSecond();
      const before = served.proxy.seen.length;
      // Ceph RGW 16 takes no class but its default: the request's header tells what was asked.
      await sync(
        s,
        d,
        "--dst-index",
        `s3://${d}/.idx`,
        "--dst-endpoint",
        served.proxy.url,
        "--storage-class",
        "STANDARD",
      );
      const puts = served.proxy.seen
        .slice(before)
        .filter((r) => r.method === "PUT" && r.path.startsWith(`/${d}/`));
      const index = puts.filter((r) => r.path.includes("chunksync-digest-index"));
      const data = puts.filter((r) => r.path === `/${d}/data/a`);
      expect(index.length).toBeGreaterThan(0);
      expect(data).toHaveLength(1);
      expect(data[0]!.headers["x-amz-storage-class"]).toBe("STANDARD");
      for (const r of index) expect(r.headers["x-amz-storage-class"], r.path).toBeUndefined();
    });
  });

  describe("objects written by multipart upload (ETag ...-N), rewritten with the same part layout and other bytes", () => {
    for (const engine of ["direct", "workflow"]) {
      it(`--engine ${engine}: on either side, within a second of a run, are read again and synced`, async () => {
        const { s, d } = await pair(`mp-${engine}`);
        const size = 11 * MiB;
        const parts = (client: S3Client, bucket: string, key: string, body: Buffer) =>
          putMultipart(client, bucket, key, size, 5 * MiB, (offset, length) =>
            body.subarray(offset, offset + length),
          );
        const first = { s: seededBytes("mp-s1", size), d: seededBytes("mp-d1", size) };
        await parts(src, s, "s", first.s);
        await parts(src, s, "d", first.d);
        await pastTheSecond();
        const flags = [...dirs(`mp-${engine}`), "--engine", engine];
        await sync(s, d, ...flags);
        await pastTheSecond();
        // Indexed at rest, then rewritten on each side and synced again at once: the same size,
        // the same part count, a LastModified second the run may share.
        expect((await sync(s, d, ...flags)).summary.index?.destination).toMatchObject({ fromIndex: 2 });
        const second = { s: flipByte(first.s, 7 * MiB), d: flipByte(first.d, 2 * MiB) };
        await parts(src, s, "s", second.s);
        await parts(dst, d, "d", second.d);
        const etagOf = async (client: S3Client, bucket: string, key: string) =>
          (await head(client, bucket, key)).ETag;
        expect(await etagOf(src, s, "s")).toMatch(/-3"$/);
        expect(await etagOf(dst, d, "d")).toMatch(/-3"$/);
        const next = await sync(s, d, ...flags);
        expect(next.summary.objects).toMatchObject({ changed: 2, identical: 0 });
        expect(next.summary.index?.source).toMatchObject({ fromIndex: 1, read: 1 });
        expect(next.summary.index?.destination).toMatchObject({ fromIndex: 1, read: 1 });
        expect((await readAll(dst, d, "s")).equals(second.s)).toBe(true);
        expect((await readAll(dst, d, "d")).equals(first.d)).toBe(true);
      });
    }
  });

  describe("a source object overwritten after the run listed it, before the pair is decided", () => {
    const served = proxiedServer();

    for (const engine of ["direct", "workflow"]) {
      it(`--engine ${engine}: decided from the listing, and the next run reads the new version and syncs it`, async () => {
        const { s, d } = await pair(`listed-${engine}`);
        const listed = seededBytes("listed", 6 * KiB);
        const later = flipByte(listed, 100);
        await put(src, s, "k", listed);
        await pastTheSecond();
        // Both sides through the proxy: each side's index is scoped by its storage.
        const flags = [
          ...dirs(`listed-${engine}`),
          "--engine",
          engine,
          "--src-endpoint",
          served.proxy.url,
          "--dst-endpoint",
          served.proxy.url,
        ];
        await sync(s, d, ...flags);
        await pastTheSecond();
        const listing = (bucket: string) => (r: SeenRequest) =>
          r.method === "GET" && r.query.includes("list-type") && r.path.startsWith(`/${bucket}`);
        const overwrite = `the source is overwritten once listed (${engine})`;
        // This run's requests only: the run before listed the source too.
        const from = served.proxy.seen.length;
        const rules: FaultRule[] = [
          {
            name: overwrite,
            action: "hook",
            when: listing(d),
            // The destination's listing waits until the source's was answered, then the source changes.
            hook: async () => {
              await vi.waitFor(
                () =>
                  expect(served.proxy.seen.slice(from).some((r) => listing(s)(r) && r.answered)).toBe(true),
                {
                  timeout: 10_000,
                },
              );
              await put(src, s, "k", later);
            },
            times: 1,
          },
        ];
        const raced = await syncRacing(served.proxy, rules, s, d, ...flags);
        // The version listed was synced: both indexes answered for it.
        expect(raced.summary.objects).toMatchObject({ identical: 1 });
        expect(raced.summary.bytes.sourceRead + raced.summary.bytes.destinationRead).toBe(0);
        await pastTheSecond();
        const next = await sync(s, d, ...flags);
        expect(next.summary.objects).toMatchObject({ changed: 1 });
        expect(next.summary.index?.source).toMatchObject({ fromIndex: 0, read: 1 });
        expect((await readAll(dst, d, "k")).equals(later)).toBe(true);
      });
    }
  });

  describe("a destination replaced by another writer between the HEAD that guards a restating copy and the copy", () => {
    // Ceph RGW 16 ignores x-amz-copy-source-if-match: the CopyObject that restates the
    // destination's metadata copies whatever version is there by then, other bytes included.
    const served = proxiedServer();

    for (const engine of ["direct", "workflow"]) {
      it(`--engine ${engine}: the written version gets no entry from the old one's digests, and the next run repairs it`, async () => {
        const { s, d } = await pair(`restate-${engine}`);
        const key = "restated";
        const body = seededBytes("restated", 4 * KiB);
        const other = seededBytes("other writer", 4 * KiB);
        await put(src, s, key, body, { m: "2" });
        await put(dst, d, key, body, { m: "1" });
        await pastTheSecond();
        // The destination's index is scoped by its storage: every run goes through the proxy.
        const flags = [...dirs(`restate-${engine}`), "--engine", engine, "--dst-endpoint", served.proxy.url];
        // The proxy counts a rule's firings by its name.
        const replace = `the other writer puts other bytes of the same size (${engine})`;
        const rule: FaultRule = {
          name: replace,
          action: "hook",
          method: "PUT",
          copy: true,
          path: `/${d}/${key}`,
          hook: () => put(dst, d, key, other, { m: "3" }),
          times: 1,
        };
        const raced = await syncRacing(served.proxy, [rule], s, d, ...flags);
        expect(raced.objects.get(key)).toMatchObject({ state: "changed", action: "metadata" });
        // The copy took the other writer's bytes under the source's metadata.
        expect((await readAll(dst, d, key)).equals(other)).toBe(true);
        expect(raced.summary.index?.destination).toMatchObject({ written: 0 });
        await pastTheSecond();
        const next = await sync(s, d, ...flags);
        expect(next.summary.objects).toMatchObject({ changed: 1, identical: 0 });
        expect(next.summary.index?.destination).toMatchObject({ fromIndex: 0, read: 1 });
        await sameObject(s, d, key);
      });
    }
  });

  describe("a destination replaced and then restored by another writer while a re-composition copies its unchanged chunks", () => {
    // Ceph RGW 16 ignores x-amz-copy-source-if-match on UploadPartCopy too: in a bucket without
    // versions a part copied from the old destination takes whatever version is there by then,
    // and the HEAD that guards the completion sees the old ETag again once the same bytes are put
    // back. In a bucket that keeps versions the copies name the old version's ID: they copy that
    // version whatever is current, so the written version keeps the digests of the chunks copied.
    const served = proxiedServer();

    for (const versioned of [false, true]) {
      for (const engine of ["direct", "workflow"]) {
        const outcome = versioned
          ? "the copies take the version challenged, and the next run reads nothing"
          : "the written version gets no entry from the old one's digests, and the next run repairs it";
        it(`${versioned ? "versioned, " : ""}--engine ${engine}: ${outcome}`, async () => {
          const name = `${versioned ? "vaba" : "aba"}-${engine}`;
          const { s, d } = await pair(name, versioned);
          const key = "aba";
          const size = 11 * MiB;
          const body = seededBytes("aba", size);
          // The destination differs in its middle chunk: the first and last are copied from it.
          const old = flipByte(body, 7 * MiB);
          const other = flipByte(flipByte(old, 1 * MiB), 10 * MiB + 5);
          await put(src, s, key, body);
          await put(dst, d, key, old);
          await pastTheSecond();
          const flags = [...dirs(name), "--engine", engine, "--dst-endpoint", served.proxy.url];
          const replace = `the other writer puts other bytes of the same size (${name})`;
          const restore = `the other writer puts the old bytes back (${name})`;
          const rules: FaultRule[] = [
            {
              name: replace,
              action: "hook",
              method: "PUT",
              copy: true,
              path: `/${d}/${key}`,
              query: "partNumber=",
              hook: () => put(dst, d, key, other),
              times: 1,
            },
            {
              name: restore,
              action: "hook",
              method: "HEAD",
              path: `/${d}/${key}`,
              when: () => served.proxy.firedCount(replace) === 1,
              hook: () => put(dst, d, key, old),
              times: 1,
            },
          ];
          const raced = await syncRacing(served.proxy, rules, s, d, ...flags);
          expect(raced.objects.get(key)).toMatchObject({ state: "changed" });
          expect(raced.summary.bytes.transferred).toBeLessThan(size);
          // Unpinned, the copies took the other writer's bytes; pinned, the old version's.
          expect((await readAll(dst, d, key)).equals(body)).toBe(versioned);
          expect(unpinnedNoted(raced)).toBe(!versioned);
          await pastTheSecond();
          const next = await sync(s, d, ...flags);
          if (versioned) {
            expect(next.summary.objects).toMatchObject({ identical: 1 });
            expect(next.summary.index?.destination).toMatchObject({ fromIndex: 1, read: 0 });
            expect(next.summary.bytes).toMatchObject({ sourceRead: 0, destinationRead: 0 });
          } else {
            expect(next.summary.objects).toMatchObject({ changed: 1, identical: 0 });
            expect(next.summary.index?.destination).toMatchObject({ fromIndex: 0, read: 1 });
          }
          expect((await readAll(dst, d, key)).equals(body)).toBe(true);
        });
      }
    }
  });

  describe("a re-composition whose copies' pins the server answers for", () => {
    const served = proxiedServer();
    /**
     * Syncs an object whose middle chunk differs (its other chunks are copied from the old
     * destination) with `rule` (and `more`) on the destination's proxy, then once more without.
     */
    async function recomposeThrough(
      name: string,
      versioned: boolean,
      engine: string,
      rule: FaultRule,
      more: FaultRule[] = [],
    ) {
      const { s, d } = await pair(name, versioned);
      const key = "recomposed";
      const body = seededBytes(name, 11 * MiB);
      await put(src, s, key, body);
      await put(dst, d, key, flipByte(body, 7 * MiB));
      await pastTheSecond();
      const flags = [...dirs(name), "--engine", engine, "--dst-endpoint", served.proxy.url];
      served.proxy.setRules([rule, ...more]);
      const run = await sync(s, d, ...flags).finally(() => served.proxy.setRules([]));
      expect(served.proxy.firedCount(rule.name)).toBeGreaterThan(0);
      expect(run.objects.get(key)).toMatchObject({ state: "changed" });
      expect(run.summary.bytes.transferred).toBeLessThan(body.length);
      expect((await readAll(dst, d, key)).equals(body)).toBe(true);
      await pastTheSecond();
      const next = await sync(s, d, ...flags);
      expect(next.summary.objects).toMatchObject({ identical: 1 });
      expect(unpinnedNoted(next)).toBe(false);
      return { run, next };
    }

    for (const engine of ["direct", "workflow"]) {
      // The proxy refuses the copy whose pin is stale, as AWS would: the one the probe sends. The
      // run's own copies name the current ETag, which AWS would copy, as Ceph RGW does.
      it(`enforced x-amz-copy-source-if-match, as AWS S3 does, --engine ${engine}: one probe finds it, the written version keeps its entry, and the next run reads nothing`, async () => {
        const stale = `a copy from a stale ETag is refused (${engine})`;
        let probed!: () => void;
        const probe = new Promise<void>((resolve) => {
          probed = resolve;
        });
        // The direct engine sends the probe beside the write, not after it: the write's complete
        // is held until the probe's copy came, which would never come after it.
        const held = `the complete waits for the probe (${engine})`;
        const completeAfterProbe: FaultRule[] =
          engine === "direct"
            ? [{ name: held, action: "hook", method: "POST", query: "uploadId=", hook: () => probe }]
            : [];
        const isProbe = (r: SeenRequest) =>
          r.headers["x-amz-copy-source"] !== undefined &&
          String(r.headers["x-amz-copy-source-if-match"]).includes("00000000000000000000000000000000");
        served.proxy.onRequest = (r) => {
          if (isProbe(r)) probed();
        };
        const { run, next } = await recomposeThrough(
          `pinned-${engine}`,
          false,
          engine,
          { name: stale, action: "preconditionFailed", method: "PUT", copy: true, when: isProbe },
          completeAfterProbe,
        ).finally(() => {
          served.proxy.onRequest = undefined;
        });
        expect(served.proxy.firedCount(stale)).toBe(1);
        if (engine === "direct") expect(served.proxy.firedCount(held)).toBe(1);
        expect(unpinnedNoted(run)).toBe(false);
        expect(next.summary.index?.destination).toMatchObject({ fromIndex: 1, read: 0 });
        expect(next.summary.bytes).toMatchObject({ sourceRead: 0, destinationRead: 0 });
      });

      // AWS asks for s3:GetObjectVersion to copy a named version: a policy with s3:GetObject only
      // is refused (AccessDenied). The copies then go to the current version, as before versions
      // were named, and give no digests.
      it(`a versioned destination whose credentials may not copy a named version, --engine ${engine}: the copies take the current version instead, and the next run reads it once`, async () => {
        const { run, next } = await recomposeThrough(`vdenied-${engine}`, true, engine, {
          name: `a copy naming a version is refused (${engine})`,
          action: "forbidden",
          method: "PUT",
          copy: true,
          when: (r) => String(r.headers["x-amz-copy-source"]).includes("versionId="),
        });
        expect(next.summary.index?.destination).toMatchObject({ fromIndex: 0, read: 1 });
        expect(unpinnedNoted(run)).toBe(true);
      });
    }
  });

  describe("a run that consults the indexes asks whether each bucket keeps versions beside its first listing page", () => {
    const served = proxiedServer();
    for (const engine of ["direct", "workflow"]) {
      it(`--engine ${engine}: each side's question arrives before its first page is answered, and none without an index`, async () => {
        const name = `ask-${engine}`;
        const { s, d } = await pair(name);
        await put(src, s, "a", seededBytes(name, 4 * KiB));
        await pastTheSecond();
        const through = ["--src-endpoint", served.proxy.url, "--dst-endpoint", served.proxy.url];
        const flags = [...dirs(name), "--engine", engine, ...through];
        expect((await sync(s, d, ...flags)).summary.objects).toMatchObject({ missing: 1 });
        await pastTheSecond();
        const from = served.proxy.seen.length;
        const seen = (bucket: string, query: RegExp) =>
          served.proxy.seen.slice(from).find((r) => r.path === `/${bucket}/` && query.test(r.query));
        const question = (bucket: string) => seen(bucket, /^versioning=$/);
        // Each side's first page waits at the proxy for that side's question: a run that asked
        // only once the page came would not ask in time, and the page goes on after 30 s.
        const held = new Set<string>();
        served.proxy.setRules([
          {
            name: "first page held",
            action: "hold",
            method: "GET",
            query: /list-type=2/,
            hook: async (r) => {
              const bucket = r.path.split("/")[1]!;
              if (held.has(bucket)) return;
              held.add(bucket);
              for (let waited = 0; waited < 300 && question(bucket) === undefined; waited++)
                await new Promise((resolve) => setTimeout(resolve, 100));
            },
          },
        ]);
        const run = await sync(s, d, ...flags).finally(() => served.proxy.setRules([]));
        expect([...held].sort()).toEqual([s, d].sort());
        expect(run.summary.objects).toMatchObject({ identical: 1 });
        expect(run.summary.index?.source).toMatchObject({ found: "loaded", fromIndex: 1, read: 0 });
        for (const bucket of [s, d]) {
          const page = seen(bucket, /list-type=2/);
          expect(question(bucket)?.arrived, bucket).toBeLessThan(page?.answered ?? 0);
        }
        // Without an index nothing asks.
        const bare = served.proxy.seen.length;
        await sync(s, d, "--no-index", "--engine", engine, ...through);
        expect(served.proxy.seen.slice(bare).filter((r) => /^versioning=$/.test(r.query))).toEqual([]);
      });
    }
  });

  describe("two runs at once over the same pair and indexes", () => {
    const bodies = {
      a: seededBytes("a", 11 * MiB),
      b: seededBytes("b", 5 * KiB),
      c: seededBytes("c", 7 * KiB),
    };
    let s: string;
    let d: string;
    const at = () => dirs("twice");
    /** The next run after concurrent ones: it loads an index and reads at most `changed` objects a side. */
    async function loadable(changed: number) {
      await pastTheSecond();
      const next = await sync(s, d, ...at());
      expect(next.summary.objects.identical).toBe(3);
      expect(next.summary.index?.source).toMatchObject({ found: "loaded", notes: [] });
      expect(next.summary.index?.destination).toMatchObject({ found: "loaded", notes: [] });
      expect(next.summary.index?.source.read).toBeLessThanOrEqual(changed);
      expect(next.summary.index?.destination.read).toBeLessThanOrEqual(changed);
      for (const key of Object.keys(bodies)) await sameObject(s, d, key);
    }

    beforeAll(async () => {
      ({ s, d } = await pair("twice"));
      for (const [key, data] of Object.entries(bodies)) await putObject(src, s, key, data);
      await pastTheSecond();
      await sync(s, d, ...at());
      // A same-bytes rewrite within a second of the run's own write would match its entry
      // (same ETag, same bytes: a server's Date may lag its LastModified that much).
      await pastTheSecond();
      await pastTheSecond();
    });

    it("that only read: both succeed, and the index left is loaded by the next run", async () => {
      await putObject(src, s, "b", bodies.b);
      await putObject(dst, d, "c", bodies.c);
      await pastTheSecond();
      const runs = await Promise.all([sync(s, d, ...at()), sync(s, d, ...at())]);
      for (const run of runs) {
        expect(run.summary.exitCode).toBe(0);
        expect(run.summary.objects.identical).toBe(3);
        for (const side of ["source", "destination"] as const) {
          const report = run.summary.index?.[side];
          expect(report).toMatchObject({ found: "loaded", written: 3 });
          // A run that loads the index the other just left finds the rewritten object there.
          expect(report!.read + report!.fromIndex).toBe(3);
          // The other run's swap removes the pieces of the manifest this one loaded: a piece
          // gone before this run read it costs the reads of its objects, and says so.
          if (report!.notes.length === 0) expect(report!.read).toBeLessThanOrEqual(1);
          else
            expect(report!.notes).toEqual([
              expect.stringMatching(/is missing: its objects \(\d+\) are read again/),
            ]);
        }
      }
      // The first run to start loaded the index of before the rewrites, and read them.
      expect(runs.some((r) => (r.summary.index?.source.read ?? 0) >= 1)).toBe(true);
      expect(runs.some((r) => (r.summary.index?.destination.read ?? 0) >= 1)).toBe(true);
      await loadable(0);
    });

    it("that both write one object: one may lose the write, and the index left is loaded by the next run", async () => {
      const changed = flipByte(bodies.a, 6 * MiB);
      await putObject(src, s, "a", changed);
      await pastTheSecond();
      const both = await Promise.all(
        [0, 1].map(() =>
          runCli(
            ["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--chunk-size", "5MiB", "--json", ...at()],
            env,
          ),
        ),
      );
      for (const r of both) {
        const summary = JSON.parse(r.stdout) as Summary;
        expect(summary.index?.source.found).toBe("loaded");
        // The destination's conditional write keeps whichever version landed first; the other
        // run reports the object failed, never overwritten unseen.
        if (r.code !== 0) {
          expect(r.code).toBe(2);
          expect(summary.objects.failed).toBe(1);
          expect(r.stderr).toMatch(
            /a: destination object a was written or deleted by someone else during the run/,
          );
        }
      }
      expect(both.some((r) => r.code === 0)).toBe(true);
      expect((await readAll(dst, d, "a")).equals(changed)).toBe(true);
      await loadable(1);
    });
  });

  it("an index location inside the other side's synced prefix is refused: a side's digests stay on its own side", async () => {
    // One user holds both buckets, so only the rule can refuse it, not the credentials.
    const [s, d] = [uniqueBucketName("src-other"), uniqueBucketName("dst-other")];
    for (const bucket of [s, d]) {
      await createBucket(src, bucket);
      buckets.push([src, bucket]);
    }
    await putObject(src, s, "a", "to sync");
    for (const [flag, at] of [
      ["--src-index", `s3://${d}/idx`],
      ["--dst-index", `s3://${s}/idx`],
    ] as const) {
      const r = await runCli(
        ["sync", `s3://${s}`, `s3://${d}`, "--src-profile", "src", "--dst-profile", "src", flag, at],
        env,
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`${flag}.*apart from the (source|destination)'s s3://`, "s"));
    }
    expect(await keysOf(src, d)).toEqual([]);
    expect(await keysOf(src, s)).toEqual(["a"]);
  });

  it("scrub where no index is: exit 2, said so, and the --index directory it named is not made", async () => {
    const { s } = await pair("scrub-none");
    await putObject(src, s, "a", seededBytes("scrub-none", 1000));
    const missing = join(work, "scrub-none", "no-index-here");
    const r = await runCli(["scrub", `s3://${s}`, "--profile", "src", "--index", missing], env);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--index: expected a digest index of .* \(there is none\)/);
    expect(existsSync(missing)).toBe(false);
    // A mistyped URL is refused as sync refuses it, not taken for a directory that is not there.
    const mistyped = await runCli(
      ["scrub", `s3://${s}`, "--profile", "src", "--index", "s3:/bucket/index"],
      env,
    );
    expect(mistyped.code, mistyped.stderr).toBe(2);
    expect(mistyped.stderr).toContain(
      '--index: expected a directory or an s3://bucket/prefix URL, got "s3:/bucket/index"',
    );
  });

  it("scrub whose filters select no object says so, as the other commands do", async () => {
    const { s, d } = await pair("scrub-nomatch");
    await putObject(src, s, "a.bin", seededBytes("scrub-nomatch", 1000));
    const dir = join(work, "scrub-nomatch");
    const synced = await runCli(["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--src-index", dir], env);
    expect(synced.code, synced.stderr).toBe(0);
    const r = await runCli(
      ["scrub", `s3://${s}`, "--profile", "src", "--index", dir, "--exclude", "**", "--include", "*.jpg"],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(`chunksync: warning: no object under s3://${s}/ matches the filters\n`);
  });

  describe("index flags that cannot work are refused before any request", () => {
    const served = proxiedServer();
    const refused = async (...extra: string[]) => refusedIn(env, ...extra);
    const refusedIn = async (env: Record<string, string>, ...extra: string[]) => {
      const before = served.proxy.seen.length;
      const r = await runCli(
        [
          "sync",
          "s3://src-no-such-bucket",
          "s3://dst-no-such-bucket",
          ...SIDES,
          "--src-endpoint",
          served.proxy.url,
          "--dst-endpoint",
          served.proxy.url,
          ...extra,
        ],
        env,
      );
      expect(served.proxy.seen.length).toBe(before);
      expect(r.code).toBe(2);
      return r.stderr;
    };

    it("--no-index together with --src-index", async () => {
      expect(await refused("--no-index", "--src-index", join(work, "x"))).toMatch(/--src-index/);
    });

    it.each(["s3:/bucket/index", "s3:bucket", "https://example.com/index", "S3://bucket/index"])(
      "--dst-index %s, a URL of another kind or mistyped: refused, and no directory made of it",
      async (value) => {
        expect(await refused("--dst-index", value)).toContain(
          `--dst-index: expected a directory or an s3://bucket/prefix URL, got "${value}"`,
        );
        expect(existsSync(value.split("/")[0]!)).toBe(false);
      },
    );

    it("--src-index naming a file, or a path below a file", async () => {
      const file = join(work, "a-file");
      writeFileSync(file, "not a directory");
      expect(await refused("--src-index", file)).toMatch(
        /--src-index.*a directory this user can create and write/s,
      );
      expect(await refused("--dst-index", join(file, "below"))).toMatch(/--dst-index.*ENOTDIR/s);
    });

    it("the default index directory unusable: said to be the default, with the flag and --no-index as ways out", async () => {
      const file = join(work, "cache-is-a-file");
      writeFileSync(file, "not a directory");
      const stderr = await refusedIn({ ...env, XDG_CACHE_HOME: file });
      expect(stderr).toContain(
        `--src-index: expected a directory this user can create and write; the default index directory "${join(file, "chunksync", "index")}" ` +
          "(under XDG_CACHE_HOME or ~/.cache) could not be used (ENOTDIR): name one with --src-index, or run with --no-index",
      );
    });

    it("--dst-index where the system refuses any directory (/proc): refused, where Node's own mkdir -p looped for ever", async () => {
      expect(await refused("--dst-index", "/proc/chunksync-index/side")).toMatch(
        /--dst-index.*a directory this user can create and write.*ENOENT/s,
      );
    });
  });

  describe("an object copied server-side into a destination that lacks it (one identity on both sides)", () => {
    // Not "src-": on MinIO that prefix is kept from the destination user (scripts/local-s3/minio.ts).
    const oneIdentity = ["--src-profile", "dst", "--dst-profile", "dst"];
    for (const engine of ["direct", "workflow"] as const) {
      it(`--engine ${engine}: the source's standing entry is kept, so the next run reads the destination only`, async () => {
        const s = uniqueBucketName(`same-s-${engine}`);
        const d = uniqueBucketName(`same-d-${engine}`);
        for (const name of [s, d]) {
          await createBucket(dst, name);
          buckets.push([dst, name]);
        }
        const size = 11 * MiB;
        await putObject(dst, s, "big", seededBytes("same-big", size));
        const flags = [...dirs(`same-${engine}`), ...oneIdentity];
        const syncFlags = [...flags, "--engine", engine];
        await pastTheSecond();
        // Copied server-side: neither side reads it, so neither has an entry until a check reads both.
        expect((await sync(s, d, ...syncFlags)).summary.bytes).toMatchObject({
          sourceRead: 0,
          transferred: 0,
        });
        await pastTheSecond();
        const checked = (await cli("check", s, d, ...flags)).summary;
        expect(checked.index?.source).toMatchObject({ read: 1, written: 1 });
        await dst.send(new DeleteObjectCommand({ Bucket: d, Key: "big" }));
        await pastTheSecond();
        const again = (await sync(s, d, ...syncFlags)).summary;
        expect(again.objects.missing).toBe(1);
        expect(again.bytes).toMatchObject({ sourceRead: 0, transferred: 0, copiedServerSide: size });
        // Kept, though nothing was decided from it: the destination had nothing to compare.
        expect(again.index?.source).toMatchObject({ fromIndex: 0, read: 0, written: 1 });
        await pastTheSecond();
        const after = (await cli("check", s, d, ...flags)).summary;
        expect(after.objects.identical).toBe(1);
        expect(after.bytes).toMatchObject({ sourceRead: 0, destinationRead: size });
      });
    }
  });

  describe("the workflow engine keeps the same indexes", () => {
    const served = proxiedServer();

    for (const engine of ["direct", "workflow"])
      it(`--engine ${engine}: a second run reads no byte of unchanged objects on either side; it HEADs the objects written, and the third run nothing`, async () => {
        const name = `nochange-${engine}`;
        const { s, d } = await pair(name);
        await putObject(src, s, "big", seededBytes("wf-big", 11 * MiB));
        await putObject(src, s, "small", seededBytes("wf-small", 3000));
        const endpoints = ["--src-endpoint", served.proxy.url, "--dst-endpoint", served.proxy.url];
        const flags = ["--engine", engine, ...dirs(name), ...endpoints];
        /** The HEADs of the run since `from` on the two objects, on either side. */
        const heads = (from: number) =>
          served.proxy.seen
            .slice(from)
            .filter((r) => r.method === "HEAD" && /\/(big|small)$/.test(r.path))
            .map((r) => r.path.replace(s, "s").replace(d, "d"))
            .sort();
        await pastTheSecond();
        const first = (await sync(s, d, ...flags)).summary;
        expect(first.objects.missing).toBe(2);
        expect(first.index?.source).toMatchObject({ found: "absent", written: 2 });
        await pastTheSecond();
        let from = served.proxy.seen.length;
        const second = (await sync(s, d, ...flags)).summary;
        expect(second.objects.identical).toBe(2);
        expect(second.bytes.sourceRead).toBe(0);
        expect(second.bytes.destinationRead).toBe(0);
        expect(second.index?.source).toMatchObject({ found: "loaded", fromIndex: 2, read: 0, written: 2 });
        expect(second.index?.destination).toMatchObject({
          found: "loaded",
          fromIndex: 2,
          read: 0,
          written: 2,
        });
        // A version the run wrote: its ETag proves its bytes, one HEAD its attributes, once.
        expect(heads(from)).toEqual(["/d/big", "/d/small"]);
        from = served.proxy.seen.length;
        const third = (await sync(s, d, ...flags)).summary;
        expect(third.objects.identical).toBe(2);
        expect(third.bytes.sourceRead + third.bytes.destinationRead).toBe(0);
        expect(heads(from)).toEqual([]);
      });

    it("both engines share one index: a changed source object is read on the source only", async () => {
      const { s, d } = await pair("shared");
      const big = seededBytes("shared-big", 11 * MiB);
      await putObject(src, s, "big", big);
      await putObject(src, s, "small", seededBytes("shared-small", 3000));
      const flags = dirs("shared");
      await new Promise((r) => setTimeout(r, 1100));
      await sync(s, d, ...flags, "--engine", "direct");
      await new Promise((r) => setTimeout(r, 1100));
      const viaWorkflow = (await sync(s, d, ...flags, "--engine", "workflow")).summary;
      expect(viaWorkflow.objects.identical).toBe(2);
      expect(viaWorkflow.bytes).toMatchObject({ sourceRead: 0, destinationRead: 0 });
      expect(viaWorkflow.index?.destination).toMatchObject({ found: "loaded", fromIndex: 2 });
      await putObject(src, s, "big", flipByte(big, 6 * MiB));
      await new Promise((r) => setTimeout(r, 1100));
      // At chunk level: blocks would have the destination cut its changed chunk (tested apart).
      const changed = (await sync(s, d, ...flags, "--engine", "workflow", "--no-blocks")).summary;
      expect(changed.objects).toMatchObject({ changed: 1, identical: 1 });
      expect(changed.bytes.destinationRead).toBe(0);
      expect(changed.bytes.transferred).toBe(5 * MiB);
      expect(changed.index?.source).toMatchObject({ fromIndex: 1, read: 1 });
      expect(changed.index?.destination).toMatchObject({ fromIndex: 2, read: 0 });
      await new Promise((r) => setTimeout(r, 1100));
      // The re-composed object has no destination entry (its copied parts were not pinned to the
      // old version): it is read there once.
      const viaDirect = (await sync(s, d, ...flags, "--engine", "direct")).summary;
      expect(viaDirect.objects.identical).toBe(2);
      expect(viaDirect.bytes).toMatchObject({ sourceRead: 0, destinationRead: big.length });
      expect(viaDirect.index?.source).toMatchObject({ fromIndex: 2, read: 0 });
      expect(viaDirect.index?.destination).toMatchObject({ fromIndex: 1, read: 1 });
    });
  });
});
