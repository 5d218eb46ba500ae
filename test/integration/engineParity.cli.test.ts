import { GetObjectTaggingCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  putObject,
  readAll,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";

const MiB = 1024 * 1024;
const base = seededBytes("parity-base", 11 * MiB);
const edited = flipByte(base, 6 * MiB);
const fresh = seededBytes("parity-new", 6 * MiB);
const small = seededBytes("parity-small", 300);

interface SideIndex {
  location: string;
  found: string;
  fromIndex: number;
  read: number;
  written?: number;
  notes: string[];
}

interface JsonSummary {
  exitCode: number;
  durationMs: number;
  bytes: Record<"sourceRead" | "destinationRead" | "transferred" | "copiedServerSide", number>;
  objects: Record<string, number>;
  failures: unknown[];
  index?: { source: SideIndex; destination: SideIndex };
}

/** The summary with each side's index location left out: each engine's run syncs its own buckets. */
function unplaced(s: JsonSummary | undefined) {
  if (s?.index === undefined) return s;
  const { source, destination } = s.index;
  return {
    ...s,
    index: { source: { ...source, location: "" }, destination: { ...destination, location: "" } },
  };
}

describe("the CLI's two engines against the local S3: the same --json summary for the same run", () => {
  let env: Record<string, string>;
  let src: S3Client;
  let dst: S3Client;
  const buckets: [S3Client, string][] = [];

  /** A fresh pair holding the matrix: identical, changed, missing (small and multipart) and destination-only. */
  async function world(name: string): Promise<{ s: string; d: string }> {
    const s = uniqueBucketName(`src-${name}`);
    const d = uniqueBucketName(`dst-${name}`);
    await createBucket(src, s);
    await createBucket(dst, d);
    buckets.push([src, s], [dst, d]);
    await putObject(src, s, "same.bin", base);
    await putObject(dst, d, "same.bin", base);
    await putObject(src, s, "changed.bin", edited);
    await putObject(dst, d, "changed.bin", base);
    await putObject(src, s, "new-small.txt", small);
    await putObject(src, s, "new-big.bin", fresh);
    await putObject(dst, d, "only-here.txt", small);
    return { s, d };
  }

  /** Runs `sync` with `flags` on a fresh matrix with `engine`, and checks what it wrote. */
  async function sync(engine: "direct" | "workflow", flags: string[]): Promise<JsonSummary> {
    const { s, d } = await world(engine);
    const args = ["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--chunk-size", "5MiB", "--json"];
    const out = await runCli([...args, "--engine", engine, ...flags], env);
    expect(out.code, `${engine}: ${out.stderr}`).toBe(0);
    expect((await readAll(dst, d, "changed.bin")).equals(edited), engine).toBe(true);
    expect((await readAll(dst, d, "new-big.bin")).equals(fresh), engine).toBe(true);
    expect((await readAll(dst, d, "new-small.txt")).equals(small), engine).toBe(true);
    const summary = JSON.parse(out.stdout) as JsonSummary;
    expect(summary.failures, engine).toEqual([]);
    return summary;
  }

  beforeAll(() => {
    env = profileEnv();
    src = s3Client("source");
    dst = s3Client("destination");
  });

  afterAll(async () => {
    for (const [client, bucket] of buckets) await emptyAndDeleteBucket(client, bucket);
  });

  it("--verify none: equal in everything but the duration and the source bytes read for the source's index", async () => {
    const [direct, workflow] = [
      await sync("direct", ["--verify", "none"]),
      await sync("workflow", ["--verify", "none"]),
    ];
    expect(direct.objects).toMatchObject({
      scanned: 4,
      identical: 1,
      changed: 1,
      missing: 2,
      extra: 1,
      deleted: 0,
    });
    // The new objects cross whole; of the changed chunk, only the blocks around the edit.
    expect(direct.bytes.transferred).toBeGreaterThan(fresh.length + small.length);
    expect(direct.bytes.transferred).toBeLessThan(MiB + fresh.length + small.length);
    expect(direct.index?.source).toMatchObject({ read: 2, written: 4 });
    // The workflow's destination side reads the copies' bytes through a link; its source side
    // reads them once more to digest them for its index, which then has all four entries too.
    // Its later block rounds and its part read parts of the changed chunk once more as well (the
    // blocks that cross at least), where the direct engine takes them from the read that cut it.
    const crossing = direct.bytes.transferred - fresh.length - small.length;
    const more = workflow.bytes.sourceRead - direct.bytes.sourceRead - fresh.length - small.length;
    expect(more).toBeGreaterThanOrEqual(crossing);
    expect(more).toBeLessThanOrEqual(5 * MiB);
    // The workflow's steps read the changed chunk's old bytes again for the later block rounds
    // and the assembled part; the direct engine keeps them from the first round's read.
    expect(workflow.bytes.destinationRead).toBeGreaterThan(direct.bytes.destinationRead);
    const apart = (s: JsonSummary) => ({
      ...unplaced(s),
      durationMs: 0,
      bytes: { ...s.bytes, sourceRead: 0, destinationRead: 0 },
    });
    expect(apart(workflow)).toEqual(apart(direct));
  });

  for (const flags of [[], ["--delete", "--verify", "full"]]) {
    it(`${flags.join(" ") || "the defaults (--verify changed)"}: equal but for the duration and the source bytes re-read to verify`, async () => {
      const [direct, workflow] = [await sync("direct", flags), await sync("workflow", flags)];
      if (flags.includes("--delete")) expect(direct.objects).toMatchObject({ extra: 1, deleted: 1 });
      // The workflow's source side digests the copied chunks again, for its index or to verify
      // them; the direct engine kept the digests of the bytes it streamed (docs/serverless.md, Limits).
      expect(workflow.bytes.sourceRead).toBeGreaterThan(direct.bytes.sourceRead);
      // The old bytes of the block rounds and the assembled part, read again by the workflow's steps.
      expect(workflow.bytes.destinationRead).toBeGreaterThan(direct.bytes.destinationRead);
      const apart = (s: JsonSummary) => ({
        ...unplaced(s),
        durationMs: 0,
        bytes: { ...s.bytes, sourceRead: 0, destinationRead: 0 },
      });
      expect(apart(workflow)).toEqual(apart(direct));
    });
  }

  it("--tags: a tag-only difference is restated alike by both engines", async () => {
    const summaries: Record<string, JsonSummary> = {};
    for (const engine of ["direct", "workflow"] as const) {
      const s = uniqueBucketName(`src-tags-${engine}`);
      const d = uniqueBucketName(`dst-tags-${engine}`);
      await createBucket(src, s);
      await createBucket(dst, d);
      buckets.push([src, s], [dst, d]);
      // One object of one chunk (a copy onto itself) and one of three (re-composed in place).
      for (const [key, body] of [
        ["small", small],
        ["big", base],
      ] as const) {
        await src.send(new PutObjectCommand({ Bucket: s, Key: key, Body: body, Tagging: "team=red" }));
        await dst.send(new PutObjectCommand({ Bucket: d, Key: key, Body: body, Tagging: "team=blue" }));
      }
      const args = ["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--chunk-size", "5MiB", "--json", "--tags"];
      const out = await runCli([...args, "--engine", engine], env);
      expect(out.code, `${engine}: ${out.stderr}`).toBe(0);
      for (const key of ["small", "big"]) {
        const tags = await dst.send(new GetObjectTaggingCommand({ Bucket: d, Key: key }));
        expect(tags.TagSet, `${engine} ${key}`).toEqual([{ Key: "team", Value: "red" }]);
      }
      expect((await readAll(dst, d, "big")).equals(base), engine).toBe(true);
      summaries[engine] = JSON.parse(out.stdout) as JsonSummary;
    }
    expect(summaries.direct?.objects).toMatchObject({ changed: 2, failed: 0 });
    // Each tag set is put alone on the destination's version: nothing crosses, nothing is copied.
    expect(summaries.direct?.bytes).toMatchObject({ transferred: 0, copiedServerSide: 0 });
    const apart = (s: JsonSummary | undefined) => ({
      ...unplaced(s),
      durationMs: 0,
      bytes: { ...s?.bytes, sourceRead: 0 },
    });
    expect(apart(summaries.workflow)).toEqual(apart(summaries.direct));
  });

  it("every algorithm and variant: the same summary from both engines", async () => {
    // Two chunks at 5 MiB, the second changed, and a new small object: a compose and a put.
    const old = seededBytes("parity-algo", 6 * MiB);
    const changed = flipByte(old, 5 * MiB + 17);
    for (const algorithm of ["sha256", "sha1", "md5", "crc32c"]) {
      for (const variant of ["encode", "decode"]) {
        const summaries: Record<string, JsonSummary> = {};
        // The two engines' runs at once, each on its own pair: they wait on the server, not the CPU.
        const both = (["direct", "workflow"] as const).map(async (engine) => {
          const s = uniqueBucketName(`src-${algorithm}-${variant}`);
          const d = uniqueBucketName(`dst-${algorithm}-${variant}`);
          await createBucket(src, s);
          await createBucket(dst, d);
          buckets.push([src, s], [dst, d]);
          await putObject(src, s, "changed.bin", changed);
          await putObject(dst, d, "changed.bin", old);
          await putObject(src, s, "new.txt", small);
          const args = ["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--chunk-size", "5MiB", "--json"];
          const run = [...args, "--algorithm", algorithm, "--variant", variant, "--engine", engine];
          const out = await runCli(run, env);
          const what = `${algorithm} ${variant} ${engine}`;
          expect(out.code, `${what}: ${out.stderr}`).toBe(0);
          expect((await readAll(dst, d, "changed.bin")).equals(changed), what).toBe(true);
          expect((await readAll(dst, d, "new.txt")).equals(small), what).toBe(true);
          summaries[engine] = JSON.parse(out.stdout) as JsonSummary;
        });
        await Promise.all(both);
        const what = `${algorithm} ${variant}`;
        expect(summaries.direct?.objects, what).toMatchObject({ changed: 1, missing: 1, failed: 0 });
        // The decode variant's sealed values cannot be matched by set: it stays at chunk level.
        if (variant === "decode")
          expect(summaries.direct?.bytes.transferred, what).toBe(1 * MiB + small.length);
        else expect(summaries.direct?.bytes.transferred, what).toBeLessThan(MiB / 4 + small.length);
        // Matched block by block, the workflow's steps read the old bytes again (see above).
        const again = summaries.workflow!.bytes.destinationRead - summaries.direct!.bytes.destinationRead;
        if (variant === "decode") expect(again, what).toBe(0);
        else expect(again, what).toBeGreaterThan(0);
        const apart = (x: JsonSummary | undefined) => ({
          ...unplaced(x),
          durationMs: 0,
          bytes: { ...x?.bytes, sourceRead: 0, destinationRead: 0 },
        });
        expect(apart(summaries.workflow), what).toEqual(apart(summaries.direct));
      }
    }
  }, 180_000); // sixteen CLI runs, each its own process, two at a time
});
