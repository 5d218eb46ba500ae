import { createHash } from "node:crypto";
import { isBrokenConnection, type S3ObjectStore } from "@chunksync/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededBytes } from "../support/data.js";
import { proxiedServer, storeVia } from "../support/faultWorld.js";
import { createBucket, emptyAndDeleteBucket, putObject, s3Client, uniqueBucketName } from "../support/s3.js";

const MiB = 1024 * 1024;

/**
 * A read into a sink takes one of two transports: over plain HTTP the socket is read straight
 * into the sink's buffer (PlainGets), otherwise (HTTPS, or `plainGets: false`) undici's Pool
 * streams the body into it. Both, through a proxy before the local server, land the same bytes,
 * and fail a body cut mid-way as a broken connection, never as a short success.
 */
describe("reads into a sink, over either transport", () => {
  const served = proxiedServer();
  const client = s3Client("source");
  const bucket = uniqueBucketName("src-into");
  const data = seededBytes("into-transports", 20 * MiB + 123);
  const stores: Record<string, S3ObjectStore> = {};
  let etag = "";

  beforeAll(async () => {
    await createBucket(client, bucket);
    etag = (await putObject(client, bucket, "object.bin", data)).ETag ?? "";
    const endpoint = served.proxy.url;
    stores.plain = await storeVia("source", bucket, endpoint, { maxAttempts: 1 });
    stores.pool = await storeVia("source", bucket, endpoint, { maxAttempts: 1, plainGets: false });
  });
  afterAll(async () => {
    await emptyAndDeleteBucket(client, bucket);
    client.destroy();
  });

  for (const transport of ["plain", "pool"]) {
    it(`${transport}: lands each range and the first bytes whole, in order`, async () => {
      const store = stores[transport] as S3ObjectStore;
      const range = { offset: 3 * MiB + 1, length: 9 * MiB };
      const into = Buffer.alloc(range.length);
      const hash = createHash("sha256");
      expect(await store.readInto("object.bin", range, etag, { into, piece: (p) => hash.update(p) })).toBe(
        range.length,
      );
      const expected = data.subarray(range.offset, range.offset + range.length);
      expect(into.equals(expected)).toBe(true);
      expect(hash.digest().equals(createHash("sha256").update(expected).digest())).toBe(true);
      const first = Buffer.alloc(32 * MiB);
      const got = await store.readFirstInto("object.bin", 32 * MiB, { into: first });
      expect(got).toMatchObject({ head: { size: data.length, etag }, landed: data.length });
      expect(first.subarray(0, data.length).equals(data)).toBe(true);
    });

    it(`${transport}: lands a body larger than any room the sink hands out, waiting while it has none free`, async () => {
      const store = stores[transport] as S3ObjectStore;
      const range = { offset: 1, length: 10 * MiB };
      // Two rooms of 1 MiB. A filled room's bytes are taken (and it is free again) only once the
      // read asks for a room that is not free: then it waits a turn of the event loop.
      const rooms = [Buffer.alloc(MiB), Buffer.alloc(MiB)];
      const got: Buffer[] = [];
      const filled: Buffer[] = [];
      let pieces: Buffer[] = [];
      let landed = 0;
      let waited = 0;
      const sink = {
        room: (at: number): Buffer | Promise<Buffer> => {
          const k = Math.floor(at / MiB);
          const view = rooms[k % 2]!.subarray(at - k * MiB, Math.min(MiB, range.length - k * MiB));
          if (k < got.length + 2) return view;
          waited++;
          return new Promise<Buffer>((resolve) =>
            setImmediate(() => {
              while (k >= got.length + 2 && filled.length > 0) got.push(filled.shift()!);
              resolve(view);
            }),
          );
        },
        piece: (bytes: Buffer) => {
          pieces.push(Buffer.from(bytes));
          landed += bytes.length;
          if (landed % MiB === 0 || landed === range.length) {
            filled.push(Buffer.concat(pieces));
            pieces = [];
          }
        },
      };
      expect(await store.readInto("object.bin", range, etag, sink)).toBe(range.length);
      got.push(...filled);
      expect(Buffer.concat(got).equals(data.subarray(range.offset, range.offset + range.length))).toBe(true);
      expect(waited).toBeGreaterThan(0);
      // The connection is whole for the next read.
      const next = Buffer.alloc(MiB);
      expect(await store.readInto("object.bin", { offset: 0, length: MiB }, etag, { into: next })).toBe(MiB);
      expect(next.equals(data.subarray(0, MiB))).toBe(true);
    });

    it(`${transport}: fails a body cut mid-way as a broken connection`, async () => {
      const store = stores[transport] as S3ObjectStore;
      const { proxy } = served;
      proxy.setRules([{ name: `cut-${transport}`, action: "truncate", method: "GET", ranged: true }]);
      try {
        const range = { offset: 0, length: 8 * MiB };
        const error = await store
          .readInto("object.bin", range, etag, { into: Buffer.alloc(range.length) })
          .then(
            (landed) => landed,
            (e: unknown) => e,
          );
        // A cut body either fails, or ends short for the caller to refuse: never the whole range.
        if (typeof error === "number") expect(error).toBeLessThan(range.length);
        else expect(isBrokenConnection(error)).toBe(true);
        expect(proxy.firedCount(`cut-${transport}`)).toBeGreaterThan(0);
      } finally {
        proxy.setRules([]);
      }
    });
  }
});
