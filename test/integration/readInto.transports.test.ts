import { createHash } from "node:crypto";
import { isBrokenConnection, type S3ObjectStore, StorageUnavailableError } from "@chunksync/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededBytes } from "../support/data.js";
import { proxiedServer, storeVia } from "../support/faultWorld.js";
import { createBucket, emptyAndDeleteBucket, putObject, s3Client, uniqueBucketName } from "../support/s3.js";

const MiB = 1024 * 1024;
/** Small objects listed in pages of two. */
const LISTED = ["list/a", "list/b", "list/c", "list/d", "list/e"];

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
    for (const key of LISTED) await putObject(client, bucket, key, key);
    const endpoint = served.proxy.url;
    stores.plain = await storeVia("source", bucket, endpoint, { maxAttempts: 1 });
    stores.pool = await storeVia("source", bucket, endpoint, { maxAttempts: 1, plainGets: false });
  });
  afterAll(async () => {
    await emptyAndDeleteBucket(client, bucket);
    client.destroy();
  });

  for (const transport of ["plain", "pool"]) {
    it(`${transport}: lists page after page and reads the bucket's settings, and fails a page cut mid-way, never lists part of it`, async () => {
      const store = stores[transport] as S3ObjectStore;
      const keys = async (pageSize?: number, from = store) => {
        const out: string[] = [];
        for await (const object of from.list("list/", undefined, undefined, pageSize)) out.push(object.key);
        return out;
      };
      expect(await keys(2)).toEqual(LISTED);
      expect(await store.versioning()).toBe("unversioned");
      const { proxy } = served;
      proxy.setRules([
        { name: `cut-list-${transport}`, action: "truncate", method: "GET", query: /list-type=2/, times: 1 },
      ]);
      try {
        const error = await keys().then(
          (listed) => listed,
          (e: unknown) => e,
        );
        // Retryable, as any broken connection: a store that retries reads the page again.
        expect(error).toBeInstanceOf(StorageUnavailableError);
        expect(proxy.firedCount(`cut-list-${transport}`)).toBe(1);
        const retrying = await storeVia("source", bucket, proxy.url, { plainGets: transport === "plain" });
        proxy.setRules([
          { name: `cut-once-${transport}`, action: "truncate", query: /list-type=2/, times: 1 },
        ]);
        expect(await keys(undefined, retrying)).toEqual(LISTED);
        expect(proxy.firedCount(`cut-once-${transport}`)).toBe(1);
      } finally {
        proxy.setRules([]);
      }
      // The connection the cut broke is not reused: the next listing is whole.
      expect(await keys()).toEqual(LISTED);
    });

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
