import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import { createBucket, emptyAndDeleteBucket, putObject, s3Client, uniqueBucketName } from "../support/s3.js";

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
  bytes: Record<string, number>;
  index?: { source: SideIndex; destination: SideIndex };
}

const MiB = 1024 * 1024;

describe("chunksync CLI: digest index", () => {
  let env: Record<string, string>;
  let src: S3Client;
  let dst: S3Client;
  const buckets: [S3Client, string][] = [];

  beforeAll(() => {
    env = profileEnv();
    src = s3Client("source");
    dst = s3Client("destination");
  });
  afterAll(async () => {
    for (const [client, name] of buckets) await emptyAndDeleteBucket(client, name);
  });

  async function pair(name: string) {
    const s = uniqueBucketName(`src-${name}`);
    const d = uniqueBucketName(`dst-${name}`);
    await createBucket(src, s);
    await createBucket(dst, d);
    buckets.push([src, s], [dst, d]);
    return { s, d };
  }

  async function sync(s: string, d: string, ...extra: string[]): Promise<Summary> {
    const r = await runCli(
      ["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--chunk-size", "5MiB", "--json", ...extra],
      env,
    );
    expect(r.stderr).toBe("");
    return JSON.parse(r.stdout) as Summary;
  }

  it("a run after a sync reads no byte of unchanged objects on either side", async () => {
    const { s, d } = await pair("nochange");
    await putObject(src, s, "big", seededBytes("big", 11 * MiB));
    await putObject(src, s, "small", seededBytes("small", 3000));
    const dir = mkdtempSync(join(tmpdir(), "idx-"));
    const flags = ["--src-index", join(dir, "s"), "--dst-index", join(dir, "d")];
    // LastModified is stated in whole seconds: an entry stands once its version's second has passed.
    await new Promise((r) => setTimeout(r, 1100));
    const first = await sync(s, d, ...flags);
    expect(first.objects.missing).toBe(2);
    await new Promise((r) => setTimeout(r, 1100));
    const second = await sync(s, d, ...flags);
    expect(second.objects.identical).toBe(2);
    expect(second.bytes.sourceRead).toBe(0);
    expect(second.bytes.destinationRead).toBe(0);
    expect(second.index?.source).toMatchObject({ found: "loaded", fromIndex: 2, read: 0, written: 2 });
    expect(second.index?.destination).toMatchObject({ found: "loaded", fromIndex: 2, read: 0, written: 2 });
  });

  it("--engine workflow: a second run reads no byte of unchanged objects on either side", async () => {
    const { s, d } = await pair("wf-nochange");
    await putObject(src, s, "big", seededBytes("wf-big", 11 * MiB));
    await putObject(src, s, "small", seededBytes("wf-small", 3000));
    const dir = mkdtempSync(join(tmpdir(), "idx-"));
    const flags = ["--engine", "workflow", "--src-index", join(dir, "s"), "--dst-index", join(dir, "d")];
    await new Promise((r) => setTimeout(r, 1100));
    const first = await sync(s, d, ...flags);
    expect(first.objects.missing).toBe(2);
    expect(first.index?.source).toMatchObject({ found: "absent", written: 2 });
    await new Promise((r) => setTimeout(r, 1100));
    const second = await sync(s, d, ...flags);
    expect(second.objects.identical).toBe(2);
    expect(second.bytes.sourceRead).toBe(0);
    expect(second.bytes.destinationRead).toBe(0);
    expect(second.index?.source).toMatchObject({ found: "loaded", fromIndex: 2, read: 0, written: 2 });
    expect(second.index?.destination).toMatchObject({ found: "loaded", fromIndex: 2, read: 0, written: 2 });
  });

  it("both engines share one index: a changed source object is read on the source only", async () => {
    const { s, d } = await pair("shared");
    const big = seededBytes("shared-big", 11 * MiB);
    await putObject(src, s, "big", big);
    await putObject(src, s, "small", seededBytes("shared-small", 3000));
    const dir = mkdtempSync(join(tmpdir(), "idx-"));
    const flags = ["--src-index", join(dir, "s"), "--dst-index", join(dir, "d")];
    await new Promise((r) => setTimeout(r, 1100));
    await sync(s, d, ...flags, "--engine", "direct");
    await new Promise((r) => setTimeout(r, 1100));
    const viaWorkflow = await sync(s, d, ...flags, "--engine", "workflow");
    expect(viaWorkflow.objects.identical).toBe(2);
    expect(viaWorkflow.bytes).toMatchObject({ sourceRead: 0, destinationRead: 0 });
    expect(viaWorkflow.index?.destination).toMatchObject({ found: "loaded", fromIndex: 2 });
    await putObject(src, s, "big", flipByte(big, 6 * MiB));
    await new Promise((r) => setTimeout(r, 1100));
    const changed = await sync(s, d, ...flags, "--engine", "workflow");
    expect(changed.objects).toMatchObject({ changed: 1, identical: 1 });
    expect(changed.bytes.destinationRead).toBe(0);
    expect(changed.bytes.transferred).toBe(5 * MiB);
    expect(changed.index?.source).toMatchObject({ fromIndex: 1, read: 1 });
    expect(changed.index?.destination).toMatchObject({ fromIndex: 2, read: 0 });
    await new Promise((r) => setTimeout(r, 1100));
    const viaDirect = await sync(s, d, ...flags, "--engine", "direct");
    expect(viaDirect.objects.identical).toBe(2);
    expect(viaDirect.bytes).toMatchObject({ sourceRead: 0, destinationRead: 0 });
  });
});
