import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { BuildMiddleware, MetadataBearer } from "@smithy/types";
import { describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { seededBytes } from "../support/data.js";
import { readAll, withBucketPair } from "../support/s3.js";

const MiB = 1024 * 1024;

/**
 * S3 stores an object's Expires as the header text it was given and returns that text, a valid
 * HTTP date or not. The SDK would send a Date, so the text is set on the request as it leaves.
 */
function expiresText<I extends object, O extends MetadataBearer>(expires: string): BuildMiddleware<I, O> {
  return (next) => async (args) => {
    (args.request as { headers: Record<string, string> }).headers.expires = expires;
    return next(args);
  };
}

/** The Expires header text a HEAD of the object returns, as the server sent it. */
async function rawExpires(client: S3Client, bucket: string, key: string): Promise<string | undefined> {
  let seen: string | undefined;
  const command = new HeadObjectCommand({ Bucket: bucket, Key: key });
  command.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      seen = (out.response as { headers: Record<string, string> }).headers.expires;
      return out;
    },
    { step: "deserialize", name: "seeExpires" },
  );
  await client.send(command);
  return seen;
}

/** A small object (one PutObject on the destination) and a two-part one (a multipart upload there). */
async function putWithExpires(client: S3Client, bucket: string, key: string, data: Buffer, expires: string) {
  if (data.length <= 5 * MiB) {
    const put = new PutObjectCommand({ Bucket: bucket, Key: key, Body: data });
    put.middlewareStack.add(expiresText(expires), { step: "build" });
    await client.send(put);
    return;
  }
  const create = new CreateMultipartUploadCommand({ Bucket: bucket, Key: key });
  create.middlewareStack.add(expiresText(expires), { step: "build" });
  const { UploadId } = await client.send(create);
  const Parts = [];
  for (const [i, offset] of [0, 5 * MiB].entries()) {
    const Body = data.subarray(offset, Math.min(offset + 5 * MiB, data.length));
    const part = new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body });
    Parts.push({ PartNumber: i + 1, ETag: (await client.send(part)).ETag ?? "" });
  }
  const complete = { Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts } };
  await client.send(new CompleteMultipartUploadCommand(complete));
}

/** Restates the object's attributes in place (same bytes, a new version), with `expires` as its only one. */
async function restate(client: S3Client, bucket: string, key: string, expires: string | undefined) {
  const copy = new CopyObjectCommand({
    Bucket: bucket,
    Key: key,
    CopySource: `${bucket}/${encodeURIComponent(key)}`,
    MetadataDirective: "REPLACE",
  });
  if (expires !== undefined) copy.middlewareStack.add(expiresText(expires), { step: "build" });
  await client.send(copy);
}

interface Summary {
  objects: Record<string, number>;
  bytes: Record<string, number>;
}

/** The run's exit code (2, an error, fails here with what it printed) and its summary. */
async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; summary: Summary }> {
  const out = await runCli([...args, ...SIDES, "--chunk-size", "5MiB", "--json", "--quiet"], env);
  expect(out.code, out.stderr).toBeLessThan(2);
  return { code: out.code, summary: JSON.parse(out.stdout) as Summary };
}

/**
 * Expires values a server keeps as written: not HTTP dates (`0` and `-1`, which RFC 9111 reads
 * as "already expired", and free text) and one that is. Each edit changes only the text, and
 * would be lost on any reader that parses the header: `00` and `0` are one instant to
 * `Date.parse`, `later` and `never` are no date at all, and the RFC 850 spelling names the same
 * instant as the IMF-fixdate one.
 */
const CASES = [
  { name: "zero", expires: "0", edited: "00" },
  { name: "minus-one", expires: "-1", edited: undefined },
  { name: "never", expires: "never", edited: "later" },
  { name: "date", expires: "Thu, 01 Dec 1994 16:00:00 GMT", edited: "Thursday, 01-Dec-94 16:00:00 GMT" },
];
const SIZES = [10, 6 * MiB];
const keysOf = (c: (typeof CASES)[number]) => SIZES.map((size) => ({ key: `${c.name}-${size}`, size }));

describe.each(["direct", "workflow"])("Expires travels as its exact header text (--engine %s)", (engine) => {
  it(
    "copied verbatim, compared as text, an edit of the text alone found and fixed",
    { timeout: 300_000 },
    () =>
      withBucketPair("expires", async ({ src, dst, s, d }) => {
        const env = profileEnv();
        const pair = [`s3://${s}`, `s3://${d}`];
        for (const c of CASES)
          for (const { key, size } of keysOf(c))
            await putWithExpires(src, s, key, seededBytes(key, size), c.expires);

        expect((await cli(["sync", ...pair, "--engine", engine], env)).code).toBe(0);
        for (const c of CASES)
          for (const { key } of keysOf(c)) {
            expect(await rawExpires(src, s, key), key).toBe(c.expires);
            expect(await rawExpires(dst, d, key), key).toBe(c.expires);
            expect((await readAll(dst, d, key)).equals(await readAll(src, s, key)), key).toBe(true);
          }
        const total = CASES.length * SIZES.length;
        const same = await cli(["check", ...pair], env);
        expect(same.code).toBe(0);
        expect(same.summary.objects).toMatchObject({ scanned: total, identical: total, changed: 0 });

        // An edit of the Expires text alone, on every object.
        for (const c of CASES) for (const { key } of keysOf(c)) await restate(src, s, key, c.edited);
        const seen = await cli(["check", ...pair], env);
        expect(seen.code).toBe(1);
        expect(seen.summary.objects).toMatchObject({ identical: 0, changed: total });

        // Restated server-side: the bytes are the same, so none crosses.
        const resync = await cli(["sync", ...pair, "--engine", engine], env);
        expect(resync.code).toBe(0);
        expect(resync.summary.objects).toMatchObject({ changed: total });
        expect(resync.summary.bytes.transferred).toBe(0);
        for (const c of CASES)
          for (const { key } of keysOf(c)) {
            expect(await rawExpires(src, s, key), key).toBe(c.edited);
            expect(await rawExpires(dst, d, key), key).toBe(c.edited);
          }
        const fixed = await cli(["check", ...pair], env);
        expect(fixed.code).toBe(0);
        expect(fixed.summary.objects).toMatchObject({ identical: total, changed: 0 });
      }),
  );
});
