import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type PutObjectCommandInput,
  PutObjectTaggingCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import { s3Client, TestBuckets } from "../support/s3.js";

const MiB = 1024 * 1024;
const base = seededBytes("parity-options-base", 11 * MiB);
const edited = flipByte(base, 6 * MiB);
const small = seededBytes("parity-options-small", 300);

type Engine = "direct" | "workflow";
const ENGINES = ["direct", "workflow"] as const;

/** One engine's run as a user sees it: exit code, summary, stderr, report file, and what the destination holds. */
interface EngineRun {
  code: number;
  summary: Record<string, unknown> & { objects?: Record<string, number> };
  stderr: string[];
  report: unknown[];
  destination: Record<string, unknown>;
}

/** A side's index location names its own bucket: each engine's run syncs its own pair. */
function unplaced(index: unknown): unknown {
  if (typeof index !== "object" || index === null) return index;
  return Object.fromEntries(
    Object.entries(index).map(([side, report]) => [side, { ...report, location: "" }]),
  );
}

/**
 * What must be equal between the engines: everything but the durations, the index locations and
 * the bytes each side read (the workflow's source side reads a copied object again for its
 * index, and its destination steps read again the old bytes the direct engine keeps from its
 * first block round; docs/serverless.md, Limits; {@link readsNoMore} holds the direct engine to
 * at most the workflow's reads). Report lines come in the order objects settle, so by key.
 */
function comparable(run: EngineRun) {
  const timeless = ({ durationMs: _, startedAt: __, ...rest }: Record<string, unknown>) => ({
    ...rest,
    ...("bytes" in rest ? { bytes: { ...(rest.bytes as object), sourceRead: 0, destinationRead: 0 } } : {}),
    ...("index" in rest ? { index: unplaced(rest.index) } : {}),
  });
  const key = (line: unknown) => String((line as { destinationKey?: string }).destinationKey);
  return {
    code: run.code,
    summary: timeless(run.summary),
    stderr: [...run.stderr].sort(),
    report: run.report
      .map((line) => timeless(line as Record<string, unknown>))
      .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)),
    destination: run.destination,
  };
}

/** The direct engine reads no more of either side than the workflow does for the same run. */
function readsNoMore(runs: Record<Engine, EngineRun>): void {
  const read = (run: EngineRun) =>
    (run.summary.bytes ?? {}) as { sourceRead?: number; destinationRead?: number };
  const [direct, workflow] = [read(runs.direct), read(runs.workflow)];
  expect(direct.sourceRead ?? 0).toBeLessThanOrEqual(workflow.sourceRead ?? 0);
  expect(direct.destinationRead ?? 0).toBeLessThanOrEqual(workflow.destinationRead ?? 0);
}

describe("the CLI's two engines against the local S3, option by option: the same exit code, summary, report, stderr and destination", () => {
  let env: Record<string, string>;
  let src: S3Client;
  let dst: S3Client;
  const buckets = new TestBuckets();
  const bucket = (client: S3Client, name: string) => buckets.make(client, name);

  function put(
    client: S3Client,
    b: string,
    key: string,
    body: Buffer,
    more?: Partial<PutObjectCommandInput>,
  ) {
    return client.send(new PutObjectCommand({ Bucket: b, Key: key, Body: body, ...more }));
  }

  /** Every object in the bucket read directly: its bytes, attributes and part count. */
  async function contents(client: S3Client, b: string): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await client.send(
        new ListObjectsV2Command({ Bucket: b, ContinuationToken: token }),
      );
      for (const { Key } of page.Contents ?? []) {
        const head = await client.send(new HeadObjectCommand({ Bucket: b, Key }));
        const tags = await client.send(new GetObjectTaggingCommand({ Bucket: b, Key }));
        const body = await client.send(new GetObjectCommand({ Bucket: b, Key }));
        const bytes = await body.Body!.transformToByteArray();
        out[Key!] = {
          sha256: createHash("sha256").update(bytes).digest("hex"),
          parts: /-(\d+)"$/.exec(head.ETag ?? "")?.[1] ?? "one",
          contentType: head.ContentType,
          cacheControl: head.CacheControl,
          metadata: head.Metadata,
          tags: Object.fromEntries((tags.TagSet ?? []).map((t) => [t.Key, t.Value])),
        };
      }
      token = page.NextContinuationToken;
    } while (token);
    return out;
  }

  /**
   * Fills a fresh bucket pair with `fill` for each engine, runs `args(pair)` with `--json` and
   * `--report` under both engines at once, and reads back what each run left.
   */
  async function bothEngines(
    name: string,
    fill: (s: string, d: string) => Promise<void>,
    args: (s: string, d: string) => string[],
    owner: { source: S3Client; sides: string[]; prefix: string } = {
      source: src,
      sides: SIDES,
      prefix: "src",
    },
  ): Promise<Record<Engine, EngineRun>> {
    const runs = await Promise.all(
      ENGINES.map(async (engine) => {
        const s = await bucket(owner.source, `${owner.prefix}-${name}-${engine}`);
        const d = await bucket(dst, `dst-${name}-${engine}`);
        await fill(s, d);
        const report = join(mkdtempSync(join(tmpdir(), "chunksync-parity-")), "report.jsonl");
        const flags = [...owner.sides, "--chunk-size", "5MiB", "--json", "--report", report];
        const out = await runCli([...args(s, d), ...flags, "--engine", engine], env);
        const scrub = (text: string) => text.replaceAll(s, "<SRC>").replaceAll(d, "<DST>");
        const run: EngineRun = {
          code: out.code,
          summary: JSON.parse(scrub(out.stdout || "{}")) as EngineRun["summary"],
          stderr: scrub(out.stderr).split("\n").filter(Boolean),
          report: scrub(readFileSync(report, "utf8"))
            .split("\n")
            .filter(Boolean)
            .map((line) => JSON.parse(line) as unknown),
          destination: await contents(dst, d),
        };
        return run;
      }),
    );
    return { direct: runs[0]!, workflow: runs[1]! };
  }

  beforeAll(() => {
    env = profileEnv();
    src = s3Client("source");
    dst = s3Client("destination");
  });

  afterAll(async () => {
    await buckets.drop();
  });

  it("--delete with filters between two prefixes: the same objects written, restated, deleted and left alone", async () => {
    const runs = await bothEngines(
      "filters",
      async (s, d) => {
        await put(src, s, "data/new.jpg", small, { ContentType: "image/jpeg", Metadata: { who: "me" } });
        await put(src, s, "data/sub/changed.jpg", edited, { CacheControl: "max-age=60" });
        await put(dst, d, "copy/sub/changed.jpg", base);
        await put(src, s, "data/meta.jpg", small, { ContentType: "image/jpeg" });
        await put(dst, d, "copy/meta.jpg", small, { ContentType: "image/png" });
        await put(src, s, "data/empty.jpg", Buffer.alloc(0));
        await put(src, s, "data/skipped.txt", small);
        await put(dst, d, "copy/gone.jpg", small);
        await put(dst, d, "copy/kept.txt", small);
        await put(dst, d, "outside/other.jpg", small);
      },
      (s, d) => [
        "sync",
        `s3://${s}/data`,
        `s3://${d}/copy`,
        "--exclude",
        "**",
        "--include",
        "**/*.jpg",
        "--delete",
      ],
    );
    expect(runs.direct.code, runs.direct.stderr.join("\n")).toBe(0);
    expect(runs.direct.summary.objects).toMatchObject({
      scanned: 4,
      identical: 0,
      changed: 2,
      missing: 2,
      extra: 1,
      deleted: 1,
    });
    expect(Object.keys(runs.direct.destination).sort()).toEqual([
      "copy/empty.jpg",
      "copy/kept.txt",
      "copy/meta.jpg",
      "copy/new.jpg",
      "copy/sub/changed.jpg",
      "outside/other.jpg",
    ]);
    expect(runs.direct.destination["copy/meta.jpg"]).toMatchObject({ contentType: "image/jpeg" });
    expect(comparable(runs.workflow)).toEqual(comparable(runs.direct));
    readsNoMore(runs);
  });

  it("--no-blocks --no-index --concurrency 1: alike", async () => {
    const runs = await bothEngines(
      "noblocks",
      async (s, d) => {
        await put(src, s, "changed.bin", edited);
        await put(dst, d, "changed.bin", base);
        await put(src, s, "new.txt", small, { ContentType: "text/plain" });
        await put(dst, d, "extra.txt", small);
      },
      (s, d) => ["sync", `s3://${s}`, `s3://${d}`, "--no-blocks", "--no-index", "--concurrency", "1"],
    );
    expect(runs.direct.code, runs.direct.stderr.join("\n")).toBe(0);
    // At chunk level the changed chunk crosses whole.
    expect(runs.direct.summary.bytes).toMatchObject({ transferred: 5 * MiB + small.length });
    expect(runs.direct.summary).not.toHaveProperty("index");
    expect(comparable(runs.workflow)).toEqual(comparable(runs.direct));
    readsNoMore(runs);
  });

  // A write refused object by object, with the same codes in both engines: engineParity.memory.test.ts.
  it("a --storage-class the server does not take: both engines refuse it before any work, naming the flag; nothing written", async () => {
    const runs = await bothEngines(
      "refused",
      async (s, d) => {
        await put(src, s, "changed.bin", edited);
        await put(dst, d, "changed.bin", base);
        await put(src, s, "new.txt", small);
      },
      (s, d) => ["sync", `s3://${s}`, `s3://${d}`, "--storage-class", "NO_SUCH_CLASS"],
    );
    expect(runs.direct.code).toBe(2);
    expect(runs.direct.stderr).toEqual([
      expect.stringMatching(
        /^chunksync: error: --storage-class: expected a storage class the destination takes, but it refused "NO_SUCH_CLASS" \(.*(InvalidArgument|InvalidStorageClass)/,
      ),
    ]);
    expect(runs.direct.report).toEqual([]);
    expect(runs.direct.destination).toEqual({
      "changed.bin": expect.objectContaining({ sha256: createHash("sha256").update(base).digest("hex") }),
    });
    expect(comparable(runs.workflow)).toEqual(comparable(runs.direct));
  });

  it("--tags: every kind of write leaves the source's tag set (a compose, a multipart source copied in parts, an empty object restated)", async () => {
    const multipartSource = async (s: string) => {
      const { UploadId } = await src.send(new CreateMultipartUploadCommand({ Bucket: s, Key: "parts.bin" }));
      const { ETag } = await src.send(
        new UploadPartCommand({ Bucket: s, Key: "parts.bin", UploadId, PartNumber: 1, Body: base }),
      );
      await src.send(
        new CompleteMultipartUploadCommand({
          Bucket: s,
          Key: "parts.bin",
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] },
        }),
      );
      await src.send(
        new PutObjectTaggingCommand({
          Bucket: s,
          Key: "parts.bin",
          Tagging: { TagSet: [{ Key: "t", Value: "parts" }] },
        }),
      );
    };
    const runs = await bothEngines(
      "tags",
      async (s, d) => {
        await put(src, s, "changed.bin", edited, { Tagging: "t=compose" });
        await put(dst, d, "changed.bin", base);
        await multipartSource(s);
        await put(src, s, "empty", Buffer.alloc(0), { Tagging: "t=new" });
        await put(dst, d, "empty", Buffer.alloc(0), { Tagging: "t=old" });
      },
      (s, d) => ["sync", `s3://${s}`, `s3://${d}`, "--tags"],
    );
    expect(runs.direct.code, runs.direct.stderr.join("\n")).toBe(0);
    expect(runs.direct.destination).toMatchObject({
      "changed.bin": { tags: { t: "compose" } },
      "parts.bin": { tags: { t: "parts" } },
      empty: { tags: { t: "new" } },
    });
    expect(comparable(runs.workflow)).toEqual(comparable(runs.direct));
    readsNoMore(runs);
  });

  it("objects of one chunk whose size changed: rewritten alike, reading the same bytes of the destination", async () => {
    const runs = await bothEngines(
      "resized",
      async (s, d) => {
        await put(src, s, "grown.txt", small);
        await put(dst, d, "grown.txt", small.subarray(0, 100));
        await put(src, s, "shrunk.txt", small.subarray(0, 100));
        await put(dst, d, "shrunk.txt", small);
      },
      (s, d) => ["sync", `s3://${s}`, `s3://${d}`],
    );
    expect(runs.direct.code, runs.direct.stderr.join("\n")).toBe(0);
    expect(runs.direct.summary.objects).toMatchObject({ changed: 2 });
    expect(comparable(runs.workflow)).toEqual(comparable(runs.direct));
    // No block round here: both engines read the destination alike.
    expect(runs.workflow.summary.bytes).toMatchObject({
      destinationRead: (runs.direct.summary.bytes as { destinationRead: number }).destinationRead,
    });
  });

  it("a key too long under the destination prefix: the same failure, reported under the same destination key, the other object synced", async () => {
    const long = "k".repeat(1000);
    const runs = await bothEngines(
      "toolong",
      async (s) => {
        await put(src, s, long, small);
        await put(src, s, "ok", small);
      },
      (s, d) => ["sync", `s3://${s}`, `s3://${d}/${"p".repeat(40)}`],
    );
    expect(runs.direct.code).toBe(2);
    expect(runs.direct.summary.failures).toEqual([expect.objectContaining({ code: "KEY_TOO_LONG" })]);
    expect(runs.direct.report).toContainEqual(
      expect.objectContaining({ sourceKey: long, destinationKey: `${"p".repeat(40)}/${long}` }),
    );
    expect(Object.keys(runs.direct.destination)).toEqual([`${"p".repeat(40)}/ok`]);
    expect(comparable(runs.workflow)).toEqual(comparable(runs.direct));
    readsNoMore(runs);
  });

  it("one identity on both sides: chunks and new objects copied server-side alike, and the same index entries left", async () => {
    // Not "src-": on MinIO that prefix is kept from the destination user (scripts/local-s3/minio.ts).
    const owner = {
      source: dst,
      sides: ["--src-profile", "dst", "--dst-profile", "dst"],
      prefix: "same-account",
    };
    const runs = await bothEngines(
      "oneid",
      async (s, d) => {
        await put(dst, s, "changed.bin", edited);
        await put(dst, d, "changed.bin", base);
        await put(dst, s, "new-small.txt", small, { ContentType: "text/plain", Metadata: { who: "me" } });
        await put(dst, s, "new-big.bin", base, { CacheControl: "no-cache" });
      },
      (s, d) => ["sync", `s3://${s}`, `s3://${d}`],
      owner,
    );
    expect(runs.direct.code, runs.direct.stderr.join("\n")).toBe(0);
    // The changed chunk from the source, the others from the old object, the new objects whole.
    expect(runs.direct.summary.bytes).toMatchObject({
      transferred: 0,
      copiedServerSide: 2 * base.length + small.length,
    });
    expect(comparable(runs.workflow)).toEqual(comparable(runs.direct));
    readsNoMore(runs);
  });

  it("many chunks read at once: neither engine writes anything to stderr", async () => {
    // Four changed objects of three chunks each: more requests in flight on the run's signal
    // than Node's default of ten listeners.
    const runs = await bothEngines(
      "busy",
      async (s, d) => {
        for (const i of [1, 2, 3, 4]) {
          await put(src, s, `changed-${i}.bin`, edited);
          await put(dst, d, `changed-${i}.bin`, base);
        }
      },
      (s, d) => ["sync", `s3://${s}`, `s3://${d}`],
    );
    expect(runs.direct.code).toBe(0);
    expect(runs.direct.stderr).toEqual([]);
    expect(comparable(runs.workflow)).toEqual(comparable(runs.direct));
    readsNoMore(runs);
  });
});
