import { createHash } from "node:crypto";
import { collectDigested, DIGEST_ALGORITHMS, type DigestAlgorithm, digestOf } from "@chunksync/core";
import { HashWorker, PartBuffers } from "@chunksync/sync";
import { describe, expect, test } from "vitest";

const MiB = 1 << 20;
const md5 = (data: Uint8Array) => createHash("md5").update(data).digest();

/** Deterministic bytes that differ at every offset, so a stretch hashed twice or skipped shows. */
function bytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length + 4);
  for (let i = 0; i < length; i += 4) out.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return out.subarray(0, length);
}

/** `data` in pieces of `size` bytes, as a socket hands a body over. */
async function* inPieces(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

const shared = (length: number) => Buffer.from(new SharedArrayBuffer(length));
const worker = new HashWorker();

describe("HashWorker", () => {
  test("gives the digests of a part read into shared memory, for every algorithm it takes", async () => {
    const data = bytes(3 * MiB + 12_345, 1);
    for (const algorithm of [undefined, ...DIGEST_ALGORITHMS] as (DigestAlgorithm | undefined)[]) {
      const into = shared(4 * MiB);
      let offThread = false;
      const got = await collectDigested(inPieces(data, 65_536), data.length, algorithm, into, (b, a) => {
        const hasher = worker.hasher(b, a);
        offThread = hasher !== undefined;
        return hasher;
      });
      // crc32c is native and fast: it stays on the calling thread.
      expect(offThread).toBe(algorithm !== "crc32c");
      expect(got.data.equals(data)).toBe(true);
      expect(got.length).toBe(data.length);
      expect(got.md5.equals(md5(data))).toBe(true);
      expect(got.chunk?.toString("hex")).toBe(algorithm && digestOf(algorithm, data).toString("hex"));
    }
  });

  test("keeps bodies hashed at once apart, and a dropped body does not disturb the others", async () => {
    const datas = [bytes(2 * MiB, 2), bytes(5 * MiB + 3, 3), bytes(MiB, 4)];
    const buffers = new PartBuffers(4);
    const dropped = buffers.with(2 * MiB, async (into) => {
      const hasher = worker.hasher(into.subarray(0, 2 * MiB), "sha256");
      expect(hasher).toBeDefined();
      hasher?.filled(MiB + 1);
      hasher?.drop();
    });
    const results = await Promise.all([
      dropped,
      ...datas.map((data, i) =>
        buffers.with(data.length, (into) =>
          collectDigested(inPieces(data, 10_000 + i * 7_919), data.length, "sha256", into, worker.hasher),
        ),
      ),
    ]);
    results.slice(1).forEach((got, i) => {
      const data = datas[i] as Buffer;
      expect(got?.md5.equals(md5(data))).toBe(true);
      expect(got?.chunk?.equals(digestOf("sha256", data))).toBe(true);
    });
  });

  test("declines memory it cannot see and parts too small to pay for the messages", () => {
    expect(worker.hasher(Buffer.alloc(2 * MiB), "sha256")).toBeUndefined();
    expect(worker.hasher(shared(MiB - 1), "sha256")).toBeUndefined();
    expect(worker.hasher(shared(MiB), "crc32c")).toBeUndefined();
  });

  test("PartBuffers hands out shared memory", async () => {
    const buffers = new PartBuffers(1);
    await buffers.with(MiB, async (b) => {
      expect(b.buffer).toBeInstanceOf(SharedArrayBuffer);
    });
  });
});
