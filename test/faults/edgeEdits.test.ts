import { readFileSync } from "node:fs";
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import { scenario } from "../support/faultLedger.js";
import { listKeys, mirrorDifferences, pendingUploads } from "../support/faultWorld.js";
import { putMultipart } from "../support/multipart.js";
import { type BucketPair, withBucketPair } from "../support/s3.js";

const CATEGORY = "6 edge names and sizes";
const MiB = 1024 * 1024;
const C = 5 * MiB;

/** Names an HTTP path, a query, a form, XML or a file system each read otherwise than S3 stores them. */
const NAMES = [
  "plus+sign",
  "space and+plus",
  "query?a=1&b=2",
  "hash#frag",
  "xml<&>\"'",
  "back\\slash",
  "double//slash",
  "/leading",
  "trailing/",
  "x/../up",
  "./here",
  "ctl\x01\x1f",
  "line\nbreak",
  "emoji 😀",
  "nfc caf\u00e9",
  "nfd cafe\u0301",
  "Case",
  "case",
  "\uff0f after-emoji-in-utf8",
  `long/${"k".repeat(1024 - "long/".length)}`,
];

interface Source {
  key: string;
  data: Buffer;
  type?: string;
  metadata?: Record<string, string>;
  /** Part size where the object is written by multipart upload (its ETag `...-N`). */
  parts?: number;
}

async function write(client: S3Client, bucket: string, o: Source): Promise<void> {
  if (o.parts !== undefined) {
    await putMultipart(client, bucket, o.key, o.data.length, o.parts, (at, n) => o.data.subarray(at, at + n));
    return;
  }
  await client.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: o.key,
      Body: o.data,
      ContentType: o.type,
      Metadata: o.metadata,
    }),
  );
}

/** Each name as a small object, a third with a Content-Type and a third with user metadata; and multi-chunk ones. */
function sources(): Source[] {
  const small = NAMES.map((key, i) => ({
    key,
    data: seededBytes(`edit-${i}`, 40 + i),
    ...(i % 3 === 1 && { type: "text/plain; charset=utf-8" }),
    ...(i % 3 === 2 && { metadata: { origin: `n${i}`, "two-words": "a b" } }),
  }));
  return [
    ...small,
    { key: "big/multipart+1 😀", data: seededBytes("edit-mp", 2 * C + 1), parts: C },
    { key: "big/percent%2Fnot-a-slash", data: seededBytes("edit-pct", 2 * C + 1) },
    { key: "big/nfd cafe\u0301", data: seededBytes("edit-nfd", C + 1) },
  ];
}

/** Edits by kind: same size, longer, shorter across a chunk boundary, Content-Type only, metadata only. */
function edited(o: Source, i: number): Source {
  const { parts: _, ...plain } = o;
  switch (i % 5) {
    case 0:
      return { ...plain, data: flipByte(o.data, o.data.length > C ? C : 1) };
    case 1:
      return { ...plain, data: Buffer.concat([o.data, Buffer.from("+")]) };
    case 2:
      return { ...plain, data: o.data.subarray(0, o.data.length > C ? C - 1 : o.data.length - 1) };
    case 3:
      return { ...plain, type: "application/x-edited" };
    default:
      return { ...plain, metadata: { ...o.metadata, edited: "yes" } };
  }
}

describe("odd names edited every way: each run leaves the destination a mirror, and check tells", () => {
  it.each(["direct", "workflow"])(
    "the %s engine",
    async (engine) => {
      await scenario(CATEGORY, `odd names synced, edited and checked, ${engine} engine`, () =>
        withBucketPair("edits", async ({ src, dst, s, d }) => {
          try {
            return await editRounds(engine, { src, dst, s, d });
          } finally {
            // One DeleteObject per key: DeleteObjects' XML body cannot carry \x01, and RGW refuses it whole.
            for (const [client, bucket] of [
              [src, s],
              [dst, d],
            ] as const) {
              for (const key of await listKeys(client, bucket))
                await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
            }
          }
        }),
      );
    },
    120_000,
  );
});

/** First sync, edits of every kind, and the checks around them: each run read back from both buckets. */
async function editRounds(engine: string, { src, dst, s, d }: BucketPair) {
  const env = profileEnv();
  const objects = sources();
  for (const o of objects) await write(src, s, o);
  const gone = ["gone/+", "gone/../x", "gone/ctl\x02", "gone/😀"];
  for (const key of gone) await dst.send(new PutObjectCommand({ Bucket: d, Key: key, Body: "old" }));
  const mirror = () => mirrorDifferences({ client: src, bucket: s }, { client: dst, bucket: d });
  const args = [`s3://${s}`, `s3://${d}`, ...SIDES, "--chunk-size", "5MiB", "--json"];
  const run = async (command: string[], code: number) => {
    const out = await runCli([...command, ...args], env);
    expect(out.code, `${command.join(" ")}: ${out.stdout}${out.stderr}`).toBe(code);
    return JSON.parse(out.stdout) as { objects: Record<string, number> };
  };

  const dry = await run(["sync", "--dry-run", "--delete"], 0);
  expect(dry.objects).toMatchObject({ missing: objects.length, extra: gone.length, deleted: 0 });
  expect(await listKeys(dst, d)).toEqual(gone);
  await run(["sync", "--delete", "--engine", engine], 0);
  expect(await mirror()).toEqual([]);
  expect((await run(["check"], 0)).objects.identical).toBe(objects.length);

  const report = `${env.XDG_CACHE_HOME}-check.jsonl`;
  for (const [i, o] of objects.entries()) await write(src, s, edited(o, i));
  await run(["check", "--report", report], 1);
  const changed = readFileSync(report, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { type: string; sourceKey?: string; state?: string })
    .filter((line) => line.type === "object" && line.state !== "identical")
    .map((line) => line.sourceKey);
  expect(new Set(changed)).toEqual(new Set(objects.map((o) => o.key)));
  expect((await run(["sync", "--engine", engine], 0)).objects.changed).toBe(objects.length);
  expect(await mirror()).toEqual([]);
  expect(await pendingUploads(dst, d)).toEqual([]);
  expect((await run(["check"], 0)).objects.identical).toBe(objects.length);
  expect((await run(["check", "--full"], 0)).objects.identical).toBe(objects.length);
  return { bytesLost: 0 };
}
