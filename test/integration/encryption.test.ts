import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import { withBucketPair } from "../support/s3.js";

const MiB = 1024 * 1024;

function sseC(key: Buffer, prefix: "" | "CopySource" = "") {
  return {
    [`${prefix}SSECustomerAlgorithm`]: "AES256",
    [`${prefix}SSECustomerKey`]: key.toString("base64"),
    [`${prefix}SSECustomerKeyMD5`]: createHash("md5").update(key).digest("base64"),
  };
}

/** A file holding `key` in `encoding`, as --src-sse-c-key-file and --dst-sse-c-key-file take it. */
function keyFile(key: Buffer, encoding: "hex" | "base64"): string {
  const path = join(mkdtempSync(join(tmpdir(), "chunksync-ssec-")), `${encoding}.key`);
  writeFileSync(path, key.toString(encoding));
  return path;
}

/** `chunksync sync` from `s` to `d` with `extra` options. */
function sync(s: string, d: string, ...extra: string[]) {
  return runCli(["sync", `s3://${s}`, `s3://${d}`, ...SIDES, ...extra], profileEnv());
}

/** The options that give each side its SSE-C key, in files of the given encodings. */
function sseCKeys(keys: { src: Buffer; dst: Buffer }, encodings: ["hex" | "base64", "hex" | "base64"]) {
  return [
    "--src-sse-c-key-file",
    keyFile(keys.src, encodings[0]),
    "--dst-sse-c-key-file",
    keyFile(keys.dst, encodings[1]),
  ];
}

// SSE-C over plain http needs a server that allows it (the local RGW does, on loopback).
it("SSE-C on both sides (each its own key): reads, parts, copy-source parts and a new object's signed chunks carry the right key", async () => {
  await withBucketPair("ssec", async ({ src, dst, s, d }) => {
    const srcKey = Buffer.alloc(32, 1);
    const dstKey = Buffer.alloc(32, 2);
    const data = seededBytes("ssec", 15 * MiB);
    await src.send(new PutObjectCommand({ Bucket: s, Key: "secret.bin", Body: data, ...sseC(srcKey) }));
    await dst.send(
      new PutObjectCommand({ Bucket: d, Key: "secret.bin", Body: flipByte(data, 7 * MiB), ...sseC(dstKey) }),
    );
    // New on the destination, its ETag no MD5 (SSE-C): streamed in signed chunks under the destination's key.
    const fresh = seededBytes("ssec-new", 12 * MiB);
    await src.send(new PutObjectCommand({ Bucket: s, Key: "new.bin", Body: fresh, ...sseC(srcKey) }));
    const keys = sseCKeys({ src: srcKey, dst: dstKey }, ["hex", "base64"]);
    const r = await sync(s, d, "--json", ...keys, "--chunk-size", "5MiB");
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { bytes: { transferred: number; copiedServerSide: number } };
    // The changed chunk is matched block by block: its part is built from the destination's own
    // old bytes (read with the destination's key) and the one block that crosses; the rest is
    // copied server-side (copy-source parts with the destination's key). The new object crosses whole.
    expect(summary.bytes.transferred).toBeGreaterThan(fresh.length);
    expect(summary.bytes.transferred).toBeLessThanOrEqual(fresh.length + 256 * 1024);
    expect(summary.bytes.copiedServerSide).toBeGreaterThan(0);
    const got = await dst.send(new GetObjectCommand({ Bucket: d, Key: "secret.bin", ...sseC(dstKey) }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
    const copied = await dst.send(new GetObjectCommand({ Bucket: d, Key: "new.bin", ...sseC(dstKey) }));
    expect(Buffer.from(await copied.Body!.transformToByteArray()).equals(fresh)).toBe(true);
    // Without the key the destination objects cannot be read: they are stored encrypted under the destination's key.
    await expect(dst.send(new GetObjectCommand({ Bucket: d, Key: "secret.bin" }))).rejects.toThrow();
    await expect(dst.send(new GetObjectCommand({ Bucket: d, Key: "new.bin" }))).rejects.toThrow();
  });
});

it("--sse aws:kms with a key id writes KMS-encrypted objects", async () => {
  // The local RGW's test KMS knows TEST_KMS_KEY_ID; a server named by S3_ENDPOINT names its own key.
  const { TEST_KMS_KEY_ID } = await import("../../scripts/local-s3/ceph.js");
  const kmsKeyId = process.env.S3_KMS_KEY_ID ?? TEST_KMS_KEY_ID;
  await withBucketPair("kms", async ({ src, dst, s, d }) => {
    const data = seededBytes("kms", 12 * MiB);
    await src.send(new PutObjectCommand({ Bucket: s, Key: "k", Body: data }));
    await src.send(new PutObjectCommand({ Bucket: s, Key: "small", Body: "tiny" }));
    const r = await sync(
      s,
      d,
      "--chunk-size",
      "5MiB",
      "--sse",
      "aws:kms",
      "--sse-kms-key-id",
      TEST_KMS_KEY_ID,
    );
    expect(r.code, r.stderr).toBe(0);
    for (const key of ["k", "small"]) {
      const head = await dst.send(new HeadObjectCommand({ Bucket: d, Key: key }));
      expect(head.ServerSideEncryption, key).toBe("aws:kms");
      expect(head.SSEKMSKeyId, key).toBe(kmsKeyId);
    }
  });
});

it.each(["direct", "workflow"])(
  "--engine %s: an SSE-C key that is not the source object's fails the object naming the key, not an unknown 400",
  async (engine) => {
    await withBucketPair(`ssec-wrong-${engine}`, async ({ src, s, d }) => {
      const data = seededBytes("ssec-wrong", 1000);
      await src.send(new PutObjectCommand({ Bucket: s, Key: "a", Body: data, ...sseC(Buffer.alloc(32, 1)) }));
      const r = await sync(
        s,
        d,
        "--json",
        "--src-sse-c-key-file",
        keyFile(Buffer.alloc(32, 9), "hex"),
        "--engine",
        engine,
      );
      expect(r.code, r.stderr).toBe(2);
      const { failures } = JSON.parse(r.stdout) as { failures: { key: string; message: string }[] };
      expect(failures.map((f) => f.key)).toEqual(["a"]);
      expect(failures[0]!.message).toMatch(/key/i);
      expect(failures[0]!.message).not.toMatch(/UnknownError/);
    });
  },
);

it.each(["direct", "workflow"])(
  "--engine %s: a destination object encrypted with a customer key, none given, fails naming the missing key",
  async (engine) => {
    await withBucketPair(`ssec-none-${engine}`, async ({ src, dst, s, d }) => {
      const data = seededBytes("ssec-none", 1000);
      await src.send(new PutObjectCommand({ Bucket: s, Key: "a", Body: data }));
      await dst.send(new PutObjectCommand({ Bucket: d, Key: "a", Body: data, ...sseC(Buffer.alloc(32, 3)) }));
      const r = await sync(s, d, "--json", "--engine", engine);
      expect(r.code, r.stderr).toBe(2);
      const { failures } = JSON.parse(r.stdout) as { failures: { key: string; message: string }[] };
      expect(failures.map((f) => f.key)).toEqual(["a"]);
      expect(failures[0]!.message).toContain("--dst-sse-c-key-file");
      expect(failures[0]!.message).not.toMatch(/UnknownError/);
    });
  },
);

it("SSE-C: a change of attributes alone is restated server-side on a server that refuses CopyObject of an SSE-C object", async () => {
  await withBucketPair("ssec-meta", async ({ src, dst, s, d }) => {
    const srcKey = Buffer.alloc(32, 3);
    const dstKey = Buffer.alloc(32, 4);
    const data = seededBytes("ssec-meta", 6 * MiB);
    const putSource = (contentType: string) =>
      src.send(
        new PutObjectCommand({
          Bucket: s,
          Key: "m.bin",
          Body: data,
          ContentType: contentType,
          ...sseC(srcKey),
        }),
      );
    const syncBy = async (engine: string) => {
      const keys = sseCKeys({ src: srcKey, dst: dstKey }, ["hex", "hex"]);
      const r = await sync(s, d, "--json", ...keys, "--engine", engine);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as {
        objects: Record<string, number>;
        bytes: { transferred: number; copiedServerSide: number };
      };
    };
    await putSource("text/plain");
    expect((await syncBy("direct")).objects.missing).toBe(1);
    for (const [engine, contentType] of [
      ["direct", "application/x-one"],
      ["workflow", "application/x-two"],
    ] as const) {
      await putSource(contentType);
      const restated = await syncBy(engine);
      expect(restated.objects.changed).toBe(1);
      // The bytes stay on the destination: copied there, none sent.
      expect(restated.bytes.transferred).toBe(0);
      expect(restated.bytes.copiedServerSide).toBe(data.length);
      const head = await dst.send(new HeadObjectCommand({ Bucket: d, Key: "m.bin", ...sseC(dstKey) }));
      expect(head.ContentType).toBe(contentType);
      const got = await dst.send(new GetObjectCommand({ Bucket: d, Key: "m.bin", ...sseC(dstKey) }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
    }
  });
});
