import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { PartBuffers } from "@chunksync/sync";
import { describe, expect, test } from "vitest";
import { collectRead } from "../../../packages/sync/src/digestRange.js";
import {
  digestOffThread,
  fitsOffThread,
  OFF_THREAD_MIN_BYTES,
} from "../../../packages/sync/src/offThreadDigests.js";
import { seededBytes } from "../../support/data.js";

const hex = (algorithm: string, data: Uint8Array) => createHash(algorithm).update(data).digest("hex");

function shared(data: Buffer): Buffer {
  const out = Buffer.from(new SharedArrayBuffer(data.length + 16)).subarray(16);
  data.copy(out);
  return out;
}

describe("digests of large parts on the worker thread", () => {
  test("takes only large parts in shared memory, by an algorithm of node:crypto", () => {
    const big = shared(seededBytes("fits", OFF_THREAD_MIN_BYTES));
    expect(fitsOffThread(big, "sha256")).toBe(true);
    expect(fitsOffThread(big, undefined)).toBe(true);
    expect(fitsOffThread(big, "crc32c")).toBe(false);
    expect(fitsOffThread(big.subarray(1), "sha256")).toBe(false);
    expect(fitsOffThread(Buffer.from(big), "sha256")).toBe(false);
  });

  test("computes the MD5 and chunk digest of the bytes where they lie, as the main thread would", async () => {
    const data = shared(seededBytes("worker", 3 * OFF_THREAD_MIN_BYTES + 5));
    const [sha, md5, sha1, none] = await Promise.all([
      digestOffThread(data, "sha256"),
      digestOffThread(data, "md5"),
      digestOffThread(data, "sha1"),
      digestOffThread(data, undefined),
    ]);
    expect(sha.length).toBe(data.length);
    expect(sha.md5.toString("hex")).toBe(hex("md5", data));
    expect(sha.chunk?.toString("hex")).toBe(hex("sha256", data));
    expect(md5.chunk?.toString("hex")).toBe(hex("md5", data));
    expect(sha1.chunk?.toString("hex")).toBe(hex("sha1", data));
    expect(none.chunk).toBeUndefined();
  });

  test("a part read into a run's buffer gets the digests of the bytes read, and a short body still fails", async () => {
    const data = seededBytes("part", 2 * OFF_THREAD_MIN_BYTES);
    const pieces = (bytes: Buffer) => Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]);
    const buffers = new PartBuffers(1);
    const got = await buffers.with(data.length, (into) =>
      collectRead("b", "k", pieces(data), data.length, "sha256", into),
    );
    expect(got.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(got.md5.toString("hex")).toBe(hex("md5", data));
    expect(got.chunk?.toString("hex")).toBe(hex("sha256", data));
    const short = buffers.with(data.length, (into) =>
      collectRead("b", "k", pieces(data.subarray(1)), data.length, "sha256", into),
    );
    await expect(short).rejects.toMatchObject({ code: "STORAGE_UNAVAILABLE" });
  });
});
