import { createHash, randomBytes } from "node:crypto";
import { type ChallengeRequest, sameEtag } from "@chunksync/core";
import {
  type BodyDigest,
  MemoryBuckets,
  MemoryObjectStore,
  type MultipartUpload,
  type StoreOperation,
} from "@chunksync/storage";
import { DestinationSide, type ObjectResult, RunAbortedError, RunStats } from "@chunksync/sync";
import { syncWithWorkflow } from "@chunksync/workflow";
import { describe, expect, it, vi } from "vitest";
import { flipByte, seededBytes } from "../../support/data.js";
import { type CollectedReport, collectResults } from "../../support/results.js";
import { syncWith, uploadsInProgress } from "../../support/stores.js";

const MiB = 1024 * 1024;
const CHUNK = 5 * MiB;

/** What both engines take: the settings a test varies. */
interface RunSettings {
  verify?: "none" | "changed" | "full";
  delete?: boolean;
  serverSideCopy?: boolean;
  copyTags?: boolean;
  /** Match changed chunks block by block (default, as the CLI's). */
  blocks?: boolean;
  signal?: AbortSignal;
  stats?: RunStats;
  onResult?: (result: ObjectResult) => void;
}

type Engine = (
  source: MemoryObjectStore,
  destination: MemoryObjectStore,
  s: RunSettings,
) => Promise<CollectedReport>;

/** The direct engine and the workflow engine, run with the same settings. */
const ENGINES: Record<"direct" | "workflow", Engine> = {
  direct: (source, destination, s) =>
    syncWith(source, destination, {
      verify: s.verify ?? "changed",
      delete: s.delete ?? false,
      serverSideCopy: s.serverSideCopy ?? false,
      copyTags: s.copyTags ?? false,
      ...(s.blocks !== undefined ? { blocks: s.blocks } : {}),
      ...(s.signal ? { signal: s.signal } : {}),
      ...(s.stats ? { stats: s.stats } : {}),
      ...(s.onResult ? { onResult: s.onResult } : {}),
    }),
  workflow: (source, destination, s) =>
    collectResults(syncWithWorkflow, {
      source,
      sourcePrefix: "",
      destination,
      destinationPrefix: "",
      secret: randomBytes(32),
      algorithm: "sha256",
      variant: "encode",
      chunkSize: CHUNK,
      verify: s.verify ?? "changed",
      concurrency: 4,
      filters: [],
      delete: s.delete ?? false,
      serverSideCopy: s.serverSideCopy ?? false,
      copyTags: s.copyTags ?? false,
      ...(s.blocks !== undefined ? { blocks: s.blocks } : {}),
      ...(s.signal ? { signal: s.signal } : {}),
      ...(s.stats ? { stats: s.stats } : {}),
      ...(s.onResult ? { onResult: s.onResult } : {}),
    }),
};

/** Two stores; on one endpoint (shared buckets) when `oneAccount`, as server-side copy needs. */
function stores(oneAccount = false) {
  const buckets = oneAccount ? new MemoryBuckets() : undefined;
  return {
    source: new MemoryObjectStore({ bucket: "src", ...(buckets ? { buckets } : {}) }),
    destination: new MemoryObjectStore({ bucket: "dst", ...(buckets ? { buckets } : {}) }),
  };
}

async function put(store: MemoryObjectStore, key: string, data: Buffer, tagging?: string): Promise<string> {
  const attributes = { metadata: {}, ...(tagging ? { tagging } : {}) };
  return (await store.put(key, data, data.length, attributes, { ifNoneMatch: "*" })).etag;
}

/** Writes `data` by multipart upload in parts of a chunk each: its ETag is no MD5 (`...-N`). */
async function putInParts(
  store: MemoryObjectStore,
  key: string,
  data: Buffer,
  metadata: Record<string, string> = {},
): Promise<void> {
  const upload = await store.createUpload(key, { metadata });
  const parts = [];
  for (let at = 0; at < data.length; at += CHUNK) {
    const body = data.subarray(at, at + CHUNK);
    parts.push(await upload.uploadPart(parts.length + 1, body, body.length));
  }
  await upload.complete(parts, { ifNoneMatch: "*" });
}

/**
 * Makes `store` a destination that checks no body sent in signed chunks: a new object whose
 * ETag is no MD5 is then written by multipart upload, part by part.
 */
function checksNoSignedChunks(store: MemoryObjectStore): void {
  Object.assign(store.capabilities.writeChecksums, { signedChunks: false });
}

async function bytes(store: MemoryObjectStore, key: string): Promise<Buffer | undefined> {
  const head = await store.head(key);
  if (!head) return undefined;
  const parts: Buffer[] = [];
  for await (const p of await store.read(key, { offset: 0, length: head.size }, head.etag))
    parts.push(Buffer.from(p as Uint8Array));
  return Buffer.concat(parts);
}

function byKey(report: CollectedReport): Record<string, ObjectResult> {
  return Object.fromEntries(report.results.map((r) => [r.destinationKey, r]));
}

/** The requests that write to the destination, by kind, since `before` (the calls that set it up). */
const WRITES: StoreOperation[] = [
  "put",
  "copyObject",
  "createUpload",
  "uploadPart",
  "copyPart",
  "complete",
  "delete",
];
function writes(store: MemoryObjectStore, before: Record<string, number> = {}): Record<string, number> {
  return Object.fromEntries(WRITES.map((op) => [op, store.calls(op) - (before[op] ?? 0)]));
}

/**
 * Makes `store` keep every uploaded part with its first byte inverted, as a faulty server
 * could, declaring (`checks`) or not that it checks each part's Content-MD5.
 */
function storesAltered(store: MemoryObjectStore, checks: boolean): void {
  Object.assign(store.capabilities, {
    writeChecksums: { contentMd5: checks, payloadSha256: checks, signedChunks: checks },
  });
  throughParts(store, (upload, partNumber, body, length, signal) => {
    const altered = Buffer.from(body as Buffer);
    altered[0]! ^= 1;
    return upload.uploadPart(partNumber, altered, length, signal);
  });
}

/** Records the checksum each part uploaded to `store` was sent with, beside the part's bytes. */
function recordsChecksums(store: MemoryObjectStore): { body: Buffer; digest: BodyDigest | undefined }[] {
  const sent: { body: Buffer; digest: BodyDigest | undefined }[] = [];
  throughParts(store, (upload, partNumber, body, length, signal, digest) => {
    sent.push({ body: Buffer.from(body as Buffer), digest });
    return upload.uploadPart(partNumber, body, length, signal, digest);
  });
  return sent;
}

/** Hands every part uploaded to `store` to `part`, with the upload that would have taken it. */
function throughParts(
  store: MemoryObjectStore,
  part: (
    upload: MultipartUpload,
    ...args: Parameters<MultipartUpload["uploadPart"]>
  ) => ReturnType<MultipartUpload["uploadPart"]>,
): void {
  const resume = store.resumeUpload.bind(store);
  store.resumeUpload = (key, uploadId) => {
    const upload = resume(key, uploadId);
    return { ...upload, uploadPart: (...args) => part(upload, ...args) };
  };
}

const big = seededBytes("parity-big", 12 * MiB);
const edited = flipByte(big, 7 * MiB);
const small = seededBytes("parity-small", 1000);

/** The ordinary cases: identical, changed, missing (small and large) and destination-only. */
async function matrix(oneAccount = false) {
  const s = stores(oneAccount);
  await put(s.source, "same", big);
  await put(s.source, "changed", edited);
  await put(s.source, "new-small", small);
  await put(s.source, "new-big", big);
  await put(s.destination, "same", big);
  await put(s.destination, "changed", big);
  await put(s.destination, "extra", small);
  return s;
}

/**
 * What must be equal between the engines: results, counts, bytes but those re-read for
 * verification and the destination's reads (the direct engine takes a block exchange's old
 * bytes from memory where the workflow's steps read them again: see "reads each old byte...").
 */
function comparable(report: CollectedReport) {
  const { sourceRead: _, destinationRead: __, ...moved } = report.bytes;
  return { results: byKey(report), objects: report.objects, planned: report.planned, bytes: moved };
}

describe("both engines on memory stores: the same results, requests and failures", () => {
  it("syncs identical, changed, missing and destination-only objects alike, with the same kinds of write request", async () => {
    const seen: Record<string, unknown> = {};
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = await matrix();
      const before = writes(destination);
      const report = await engine(source, destination, { delete: true });
      const r = byKey(report);
      expect(r.same, name).toMatchObject({ state: "identical", action: "none" });
      expect(r.changed, name).toMatchObject({ state: "changed", action: "compose", applied: true });
      expect(r["new-small"], name).toMatchObject({ state: "missing", action: "copy", applied: true });
      expect(r.extra, name).toMatchObject({ state: "extra", action: "delete", applied: true });
      expect((await bytes(destination, "changed"))?.equals(edited), name).toBe(true);
      expect((await bytes(destination, "new-big"))?.equals(big), name).toBe(true);
      expect(await destination.head("extra"), name).toBeUndefined();
      // A new object, small or large (its ETag is its MD5), is one PutObject; the re-compose is
      // the only multipart upload.
      expect(writes(destination, before), name).toMatchObject({
        put: 2,
        createUpload: 1,
        complete: 1,
        delete: 1,
      });
      expect(await uploadsInProgress(destination), name).toBe(0);
      seen[name] = { ...comparable(report), writes: writes(destination, before) };
    }
    expect(seen.workflow).toEqual(seen.direct);
  });

  it("streams a new object into one PutObject whose Content-MD5 is the source's ETag, alike; bytes altered on the way are refused and nothing is written", async () => {
    const seen: Record<string, unknown> = {};
    for (const [name, engine] of Object.entries(ENGINES)) {
      for (const alter of [false, true]) {
        const label = `${name}${alter ? " altered" : ""}`;
        const { source, destination } = stores();
        const etag = await put(source, "new-big", big);
        const sent: (string | undefined)[] = [];
        const putObject = destination.put.bind(destination);
        destination.put = async (key, body, length, attributes, condition, signal, digest) => {
          sent.push(digest?.contentMd5);
          // A body streamed in, every byte of it altered on the way as a faulty link could.
          const altered = Buffer.isBuffer(body)
            ? body
            : (async function* () {
                for await (const piece of body as AsyncIterable<Buffer>)
                  yield alter ? Buffer.from(piece.map((b) => b ^ 1)) : piece;
              })();
          return putObject(key, altered, length, attributes, condition, signal, digest);
        };
        const before = writes(destination);
        const report = await engine(source, destination, {});
        const r = byKey(report)["new-big"];
        expect(sent[0], label).toBe(Buffer.from(etag.replace(/"/g, ""), "hex").toString("base64"));
        expect(writes(destination, before), label).toMatchObject({ put: sent.length, createUpload: 0 });
        if (alter) {
          expect(r, label).toMatchObject({ state: "failed", error: { code: "BAD_DIGEST" } });
          expect(await destination.head("new-big"), label).toBeUndefined();
          continue;
        }
        expect(r, label).toMatchObject({ state: "missing", action: "copy", applied: true });
        expect((await bytes(destination, "new-big"))?.equals(big), label).toBe(true);
        seen[name] = { ...comparable(report), writes: writes(destination, before) };
      }
    }
    expect(seen.workflow).toEqual(seen.direct);
  });

  it("sends a new object again with the MD5 of its bytes where its ETag has the form of an MD5 but is not theirs, alike", async () => {
    const seen: Record<string, unknown> = {};
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      const real = await put(source, "new-big", big);
      // A server's own ETag scheme: 32 hex digits that are not the MD5 of the bytes.
      const own = `"${"7".repeat(32)}"`;
      const { head, list, read } = { head: source.head, list: source.list, read: source.read };
      source.head = async (key, signal) => {
        const h = await head.call(source, key, signal);
        return h && { ...h, etag: own };
      };
      source.list = async function* (...args) {
        for await (const o of list.apply(source, args)) yield { ...o, etag: own };
      };
      source.read = (key, range, etag, signal) =>
        read.call(source, key, range, sameEtag(etag, own) ? real : etag, signal);
      const sent: (string | undefined)[] = [];
      const putObject = destination.put.bind(destination);
      destination.put = (key, body, length, attributes, condition, signal, digest) => {
        sent.push(digest?.contentMd5);
        return putObject(key, body, length, attributes, condition, signal, digest);
      };
      const report = await engine(source, destination, {});
      const base64 = (etag: string) => Buffer.from(etag.replace(/"/g, ""), "hex").toString("base64");
      expect(sent, name).toEqual([base64(own), base64(real)]);
      expect(byKey(report)["new-big"], name).toMatchObject({ state: "missing", applied: true });
      expect((await bytes(destination, "new-big"))?.equals(big), name).toBe(true);
      seen[name] = comparable(report);
    }
    expect(seen.workflow).toEqual(seen.direct);
  });

  it("reports a source deleted between listing and its first read as SOURCE_CHANGED, deleted, with no attempt more, alike", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await put(source, "gone", small);
      // The direct engine reads a small new object whole with its head; the workflow heads it.
      source.beforeNext(name === "direct" ? "readFirst" : "head", () => source.delete("gone"));
      const heads = source.calls("head") + source.calls("readFirst");
      const r = byKey(await engine(source, destination, {}));
      expect(r.gone, name).toMatchObject({
        state: "failed",
        attempts: 1,
        error: { code: "SOURCE_CHANGED", message: expect.stringContaining("was deleted during the run") },
      });
      // Headed once: an attempt more would find nothing again.
      expect(source.calls("head") + source.calls("readFirst") - heads, name).toBe(1);
    }
  });

  it("reports a source deleted between its head and the read of its bytes as SOURCE_CHANGED, deleted, alike: the read names the version planned, gone as much as replaced", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      // The workflow copies an empty new object from the head it read with its first bytes.
      const cases: [string, Buffer][] = [["several-chunks", big]];
      if (name === "direct") cases.push(["empty", Buffer.alloc(0)]);
      for (const [key, data] of cases) {
        const { source, destination } = stores();
        await put(source, key, data);
        source.beforeNext("read", () => source.delete(key));
        const r = byKey(await engine(source, destination, {}));
        expect(r[key], `${name} ${key}`).toMatchObject({
          state: "failed",
          error: { code: "SOURCE_CHANGED", message: expect.stringContaining("was deleted during the run") },
        });
        expect(await destination.head(key), `${name} ${key}`).toBeUndefined();
      }
    }
  });

  it("two runs of the pair at once that write the same object in parts leave no upload, alike: the one whose completion meets the other's object aborts its own", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      // Other attributes in a bucket that keeps versions: restated as a multipart upload.
      const [source, destination] = ["src", "dst"].map(
        (bucket) => new MemoryObjectStore({ bucket, versioned: true }),
      ) as [MemoryObjectStore, MemoryObjectStore];
      await source.put("b", Buffer.alloc(0), 0, { metadata: { m: "1" } }, undefined);
      await destination.put("b", Buffer.alloc(0), 0, { metadata: { m: "0" } }, undefined);
      const runs = await Promise.all([engine(source, destination, {}), engine(source, destination, {})]);
      // Each restated it, or found it restated by the other.
      for (const run of runs) expect(["changed", "identical"], name).toContain(byKey(run).b?.state);
      expect((await destination.head("b"))?.metadata, name).toEqual({ m: "1" });
      expect(await uploadsInProgress(destination), name).toBe(0);
    }
  });

  it("reports a source deleted just before its server-side copy as SOURCE_CHANGED, deleted, alike", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores(true);
      await put(source, "copied", small);
      destination.beforeNext("copyObject", () => source.delete("copied"));
      const r = byKey(await engine(source, destination, { serverSideCopy: true }));
      expect(r.copied, name).toMatchObject({
        state: "failed",
        error: { code: "SOURCE_CHANGED", message: expect.stringContaining("was deleted during the run") },
      });
      expect(await destination.head("copied"), name).toBeUndefined();
    }
  });

  it("with --tags, reports an object deleted on either side between its head and the read of its tag set as changed under the run, alike", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      for (const side of ["source", "destination"] as const) {
        const { source, destination } = stores();
        await put(source, "tagged", big, "a=1");
        await put(destination, "tagged", edited, "a=2");
        const gone = side === "source" ? source : destination;
        gone.beforeNext("tagging", () => gone.delete("tagged"));
        const r = byKey(await engine(source, destination, { copyTags: true }));
        expect(r.tagged, `${name} ${side}`).toMatchObject({
          state: "failed",
          error: { code: side === "source" ? "SOURCE_CHANGED" : "DESTINATION_CHANGED" },
        });
      }
    }
  });

  it("reports a part upload that is refused with the same code", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await put(source, "changed", edited);
      const old = await put(destination, "changed", big);
      const { AccessDeniedError } = await import("@chunksync/storage");
      destination.failNext(
        "uploadPart",
        new AccessDeniedError({ operation: "upload part", bucket: "dst" }),
        "always",
      );
      const r = byKey(await engine(source, destination, {}));
      // The source's size as listed, in either engine (it was 0 for every failed object).
      expect(r.changed, name).toMatchObject({
        state: "failed",
        size: edited.length,
        error: { code: "ACCESS_DENIED" },
      });
      expect((await destination.head("changed"))?.etag, name).toBe(old);
      expect(await uploadsInProgress(destination), name).toBe(0);
    }
  });

  it("takes a complete the store carried out but answered 412 (a retry after its answer was lost) as the run's own write, alike", async () => {
    const { PreconditionFailedError } = await import("@chunksync/storage");
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await put(source, "changed", edited);
      await put(destination, "changed", big);
      // Where the condition is enforced, the retry meets the object the lost answer was for.
      const resume = destination.resumeUpload.bind(destination);
      destination.resumeUpload = (key, uploadId) => {
        const upload = resume(key, uploadId);
        return {
          ...upload,
          complete: async (parts, condition) => {
            await upload.complete(parts, condition);
            throw new PreconditionFailedError(
              { operation: "complete multipart upload", bucket: "dst", key },
              "412",
            );
          },
        };
      };
      const r = byKey(await engine(source, destination, {}));
      expect(r.changed, name).toMatchObject({ state: "changed", applied: true });
      expect((await bytes(destination, "changed"))?.equals(edited), name).toBe(true);
    }
  });

  it("finds identical, challenged again, a destination another writer replaced with the source's bytes and attributes (another sync of the pair), alike", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await putInParts(source, "new-big", big, { owner: "source" });
      checksNoSignedChunks(destination);
      // Just before the run's complete, another writer (a sync of the pair with other settings)
      // puts the same bytes and metadata in one request: another ETag, so the run's 412 is not its own.
      destination.beforeNext("complete", async () => {
        await destination.put("new-big", big, big.length, { metadata: { owner: "source" } }, undefined);
      });
      const r = byKey(await engine(source, destination, {}));
      expect(r["new-big"], name).toMatchObject({ state: "identical", applied: true, attempts: 2 });
      expect(await uploadsInProgress(destination), name).toBe(0);
    }
  });

  it("fails a complete answered 412 where another writer's object has the ETag of the run's parts but other attributes, alike", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      // Written in parts: its ETag is no MD5, so it is copied part by part where the
      // destination checks no signed chunks.
      await putInParts(source, "new-big", big, { owner: "source" });
      checksNoSignedChunks(destination);
      // Just before the run's complete, another writer completes the same bytes in the same
      // parts under other metadata: the run's If-None-Match is refused with 412.
      destination.beforeNext("complete", () => putInParts(destination, "new-big", big, { owner: "other" }));
      const r = byKey(await engine(source, destination, {}));
      expect(r["new-big"], name).toMatchObject({ state: "failed", error: { code: "DESTINATION_CHANGED" } });
      expect((await destination.head("new-big"))?.metadata, name).toEqual({ owner: "other" });
      expect(await uploadsInProgress(destination), name).toBe(0);
    }
  });

  it("reports a request the server refused for a reason no other error names (a 400 such as InvalidStorageClass) with the same code", async () => {
    const { translateS3Error } = await import("@chunksync/storage");
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await put(source, "new-small", small);
      // What the S3 adapter raises for such an answer, as it raises it.
      const refused = translateS3Error(
        { name: "InvalidStorageClass", message: "InvalidStorageClass", $metadata: { httpStatusCode: 400 } },
        { operation: "put", bucket: "dst", key: "new-small" },
      );
      destination.failNext("put", refused, "always");
      const r = byKey(await engine(source, destination, {}));
      expect(r["new-small"], name).toMatchObject({
        state: "failed",
        error: { code: "STORAGE_REQUEST_FAILED", message: refused.message },
      });
    }
  });

  it("fails an object whose block round, old-piece read or assembled part fails while its copies run: its upload aborted, the old object left, alike", async () => {
    const { AccessDeniedError } = await import("@chunksync/storage");
    const old = seededBytes("parity-branch-old", 24 * MiB);
    // 1 MiB of new bytes inside chunk 2: blocks pay, and chunks 0-1 and 3-4 are copied.
    const data = Buffer.from(old);
    seededBytes("parity-branch-edit", MiB).copy(data, 11 * MiB);
    const denied = () => new AccessDeniedError({ operation: "read", bucket: "dst" });
    // Each fault starts once the write's upload exists: in the direct engine the block rounds
    // run beside its copies; in the workflow the assembled part is built beside them. Each
    // returns what takes it away again.
    const faults: Record<string, (destination: MemoryObjectStore) => () => void> = {
      "destination read": (destination) => {
        const read = destination.read.bind(destination);
        destination.read = (...args) =>
          destination.calls("createUpload") > 0 ? Promise.reject(denied()) : read(...args);
        return () => {
          destination.read = read;
        };
      },
      "part upload": (destination) => {
        destination.failNext("uploadPart", denied(), "always");
        return () => destination.heal("uploadPart");
      },
    };
    for (const [name, engine] of Object.entries(ENGINES)) {
      for (const [fault, inject] of Object.entries(faults)) {
        const label = `${name} ${fault}`;
        const { source, destination } = stores();
        await put(source, "changed", data);
        const before = await put(destination, "changed", old);
        const heal = inject(destination);
        const r = byKey(await engine(source, destination, {}));
        heal();
        expect(r.changed, label).toMatchObject({ state: "failed", error: { code: "ACCESS_DENIED" } });
        expect(destination.calls("copyPart"), label).toBeGreaterThan(0);
        expect(destination.calls("abortUpload"), label).toBe(1);
        expect(destination.calls("complete"), label).toBe(0);
        expect(await uploadsInProgress(destination), label).toBe(0);
        expect((await destination.head("changed"))?.etag, label).toBe(before);
        expect((await bytes(destination, "changed"))?.equals(old), label).toBe(true);
      }
    }
  });

  it("restarts an object whose source changed mid-run and writes the new version", async () => {
    const newer = flipByte(edited, 1);
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await put(source, "moving", edited);
      await put(destination, "moving", big);
      // The first ranged read of the source (a chunk digest) finds another version in place.
      source.beforeNext("read", async () => {
        await source.put(
          "moving",
          newer,
          newer.length,
          { metadata: {} },
          { ifMatch: (await source.head("moving"))!.etag },
        );
      });
      const r = byKey(await engine(source, destination, {}));
      expect(r.moving, name).toMatchObject({ state: "changed", applied: true, attempts: 2 });
      expect((await bytes(destination, "moving"))?.equals(newer), name).toBe(true);
      expect(await uploadsInProgress(destination), name).toBe(0);
    }
  });

  it("counts the source bytes an attempt read before its source changed, alike: a failed step's reads are reads", async () => {
    const newer = flipByte(edited, 1);
    const sourceRead: Record<string, { restarted: number; straight: number }> = {};
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await put(source, "moving", edited);
      await put(destination, "moving", big);
      // The first chunk is read; the object changes before the second one's read.
      source.beforeNext("read", () =>
        source.beforeNext("read", async () => {
          const etag = (await source.head("moving"))!.etag;
          await source.put("moving", newer, newer.length, { metadata: {} }, { ifMatch: etag });
        }),
      );
      const restarted = await engine(source, destination, {});
      expect(byKey(restarted).moving, name).toMatchObject({ state: "changed", attempts: 2 });
      // The same pair run straight: the source already the newer version.
      const again = stores();
      await put(again.source, "moving", newer);
      await put(again.destination, "moving", big);
      const straight = await engine(again.source, again.destination, {});
      sourceRead[name] = { restarted: restarted.bytes.sourceRead, straight: straight.bytes.sourceRead };
    }
    for (const [name, read] of Object.entries(sourceRead))
      expect(read.restarted, `${name}: ${JSON.stringify(read)}`).toBeGreaterThan(read.straight);
  });

  it("honours --verify full: every chunk of a written object is challenged again, not only those that crossed", async () => {
    const read: Record<string, number> = {};
    for (const [name, engine] of Object.entries(ENGINES)) {
      for (const blocks of [false, true]) {
        for (const verify of ["none", "changed", "full"] as const) {
          const { source, destination } = stores();
          await put(source, "changed", edited);
          await put(destination, "changed", big);
          const report = await engine(source, destination, { verify, blocks });
          expect(byKey(report).changed, name).toMatchObject({ state: "changed", applied: true });
          read[`${name}-${verify}-${blocks ? "blocks" : "chunks"}`] = report.bytes.destinationRead;
        }
      }
      // At chunk level, under --verify changed the destination is read only for the challenge:
      // the chunk that crossed was checked by its Content-MD5 as it was stored. The full check
      // reads every chunk again.
      expect(read[`${name}-changed-chunks`], name).toBe(big.length);
      expect(read[`${name}-full-chunks`]! - read[`${name}-changed-chunks`]!, name).toBe(big.length);
      // Matched block by block, the destination also reads its old bytes for the blocks and the
      // assembled part; that part is one chunk, digested as it was uploaded, so nothing is read
      // back: the verification reads no more than none at all.
      expect(read[`${name}-changed-blocks`]!, name).toBeGreaterThan(big.length);
      expect(read[`${name}-changed-blocks`], name).toBe(read[`${name}-none-blocks`]);
      expect(read[`${name}-full-blocks`]! - read[`${name}-changed-blocks`]!, name).toBe(big.length);
    }
    for (const k of ["changed-chunks", "full-chunks"])
      expect(read[`workflow-${k}`], k).toBe(read[`direct-${k}`]);
    // The workflow's steps read again the old bytes the direct engine keeps from the exchange's
    // first read, as much under either verification.
    const again = (verify: string) => read[`workflow-${verify}-blocks`]! - read[`direct-${verify}-blocks`]!;
    expect(again("changed")).toBeGreaterThan(0);
    expect(again("full")).toBe(again("changed"));
  });

  it("re-challenges after a write the chunks the decision lists, alike: none sent as read to a store that checks Content-MD5, every one that crossed to a store that does not", async () => {
    const seen: Record<string, unknown> = {};
    for (const [name, engine] of Object.entries(ENGINES)) {
      for (const checks of [true, false]) {
        for (const verify of ["changed", "full"] as const) {
          const label = `${name} ${checks ? "checks" : "does not check"} ${verify}`;
          const { source, destination } = await matrix();
          Object.assign(destination.capabilities, {
            writeChecksums: { contentMd5: checks, payloadSha256: checks, signedChunks: checks },
          });
          // Both engines answer every challenge, before the write and after it, through DestinationSide.
          const answered = vi.spyOn(DestinationSide.prototype, "answer");
          let report: CollectedReport;
          let requests: ChallengeRequest[] = [];
          try {
            report = await engine(source, destination, { verify, blocks: false });
          } finally {
            requests = answered.mock.calls.map(([request]) => request);
            answered.mockRestore();
          }
          const written = byKey(report);
          // A request that names the version a write made is that write's verification.
          const verified: Record<string, number> = {};
          for (const request of requests) {
            const { key, etag } = request.destination;
            if (written[key]?.action === "none" || !sameEtag((await destination.head(key))?.etag, etag))
              continue;
            verified[key] = (verified[key] ?? 0) + request.indices.length;
          }
          expect(written.changed, label).toMatchObject({ state: "changed", applied: true });
          const expected = {
            checks: { changed: {}, full: { changed: 3, "new-big": 3, "new-small": 1 } },
            unchecked: {
              changed: { changed: 1, "new-big": 3, "new-small": 1 },
              full: { changed: 3, "new-big": 3, "new-small": 1 },
            },
          }[checks ? "checks" : "unchecked"][verify];
          expect(verified, label).toEqual(expected);
          seen[label] = { verified, destinationRead: report.bytes.destinationRead };
          // Nothing is re-challenged: the workflow's source side reads no chunk again either.
          if (checks && verify === "changed") seen[`${label} sourceRead`] = report.bytes.sourceRead;
        }
      }
    }
    for (const [label, value] of Object.entries(seen))
      if (label.startsWith("workflow"))
        expect(value, label).toEqual(seen[label.replace("workflow", "direct")]);
  });

  it("fails an object whose chunk, sent as read, a store that does not check Content-MD5 stored altered", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await put(source, "changed", edited);
      const old = await put(destination, "changed", big);
      storesAltered(destination, false);
      const r = byKey(await engine(source, destination, { blocks: false })).changed;
      expect(r, name).toMatchObject({ state: "failed", error: { code: "VERIFICATION_FAILED" } });
      // The write was made before the check: the object holds the altered bytes, not the old ones.
      expect((await destination.head("changed"))?.etag, name).not.toBe(old);
    }
  });

  it("sends each part read into memory signed by its SHA-256, its chunk digest, and no Content-MD5, where the destination checks that; else with its Content-MD5", async () => {
    const md5 = (data: Buffer) => createHash("md5").update(data).digest("base64");
    const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
    for (const [name, engine] of Object.entries(ENGINES)) {
      for (const payloadSha256 of [true, false]) {
        const label = `${name}, payload hash ${payloadSha256 ? "" : "not "}checked`;
        const { source, destination } = stores();
        // Written in parts: its ETag is no MD5, so it is not streamed but copied part by part
        // where the destination checks no signed chunks.
        await putInParts(source, "new-big", big);
        await put(source, "changed", edited);
        await put(destination, "changed", big);
        Object.assign(destination.capabilities, {
          writeChecksums: { contentMd5: true, payloadSha256, signedChunks: false },
        });
        const sent = recordsChecksums(destination);
        const report = byKey(await engine(source, destination, {}));
        expect(report["new-big"], label).toMatchObject({ state: "missing", applied: true });
        expect(report.changed, label).toMatchObject({ state: "changed", applied: true });
        expect((await bytes(destination, "new-big"))?.equals(big), label).toBe(true);
        expect((await bytes(destination, "changed"))?.equals(edited), label).toBe(true);
        // The new object's three parts, and the changed one's assembled part.
        expect(sent.length, label).toBe(4);
        for (const { body, digest } of sent)
          expect(digest, label).toEqual(payloadSha256 ? { sha256: sha256(body) } : { contentMd5: md5(body) });
      }
    }
  });

  it("sends a new object whose ETag is no MD5 in one PutObject, a signed chunk a chunk of its plan, each signed by the SHA-256 measured as it was read, and reads none of it back, alike", async () => {
    const sha256 = (data: Buffer) => createHash("sha256").update(data).digest();
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await putInParts(source, "new-big", big);
      const puts: { key: string; digest: BodyDigest | undefined; pieces: Buffer[] }[] = [];
      const stored = destination.put.bind(destination);
      destination.put = async (key, body, length, attributes, condition, signal, digest) => {
        const pieces: Buffer[] = [];
        async function* watched() {
          for await (const piece of body as AsyncIterable<Buffer>) {
            pieces.push(Buffer.from(piece));
            yield piece;
          }
        }
        puts.push({ key, digest, pieces });
        return stored(
          key,
          Buffer.isBuffer(body) ? body : watched(),
          length,
          attributes,
          condition,
          signal,
          digest,
        );
      };
      const before = writes(destination);
      const report = await engine(source, destination, {});
      expect(byKey(report)["new-big"], name).toMatchObject({ state: "missing", applied: true });
      expect((await bytes(destination, "new-big"))?.equals(big), name).toBe(true);
      expect(writes(destination, before), name).toMatchObject({ put: 1, createUpload: 0, uploadPart: 0 });
      const [sent] = puts;
      expect(sent?.digest?.chunks?.lengths, name).toEqual([CHUNK, CHUNK, big.length - 2 * CHUNK]);
      expect(
        sent?.pieces.map((p) => p.length),
        name,
      ).toEqual(sent?.digest?.chunks?.lengths);
      sent?.pieces.forEach((piece, i) => {
        expect(sent.digest?.chunks?.sha256(i).equals(sha256(piece)), `${name} chunk ${i}`).toBe(true);
      });
      // The server checked every chunk: nothing is challenged again.
      expect(report.bytes.destinationRead, name).toBe(0);
    }
  });

  it("sends such an object again with the MD5 it reads it for where the server takes no signed chunks (Object Lock, a server without them), alike", async () => {
    const { SignedChunksRefusedError } = await import("@chunksync/storage");
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await putInParts(source, "new-big", big);
      const sent: (BodyDigest | undefined)[] = [];
      const stored = destination.put.bind(destination);
      destination.put = (key, body, length, attributes, condition, signal, digest) => {
        sent.push(digest);
        if (digest?.chunks)
          throw new SignedChunksRefusedError({ operation: "put", bucket: "dst", key }, "Object Lock");
        return stored(key, body, length, attributes, condition, signal, digest);
      };
      const report = await engine(source, destination, {});
      expect(byKey(report)["new-big"], name).toMatchObject({ state: "missing", applied: true, attempts: 1 });
      expect((await bytes(destination, "new-big"))?.equals(big), name).toBe(true);
      expect(sent, name).toEqual([
        expect.objectContaining({ chunks: expect.anything() }),
        { contentMd5: createHash("md5").update(big).digest("base64") },
      ]);
      // Read once for its MD5, once as it is sent; the refused put read no more than its first chunks.
      expect(report.bytes.sourceRead, name).toBeGreaterThanOrEqual(2 * big.length);
      expect(report.bytes.sourceRead, name).toBeLessThan(3 * big.length);
    }
  });

  it("reads an assembled chunk back and fails the object where the destination stored other bytes than sent: a store that does not check Content-MD5, or any under --verify full", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      for (const [checks, verify] of [
        [false, "changed"],
        [true, "full"],
      ] as const) {
        const label = `${name} ${verify}`;
        const { source, destination } = stores();
        await put(source, "changed", edited);
        await put(destination, "changed", big);
        storesAltered(destination, checks);
        const r = byKey(await engine(source, destination, { verify })).changed;
        // The changed chunk was assembled (one block crossed), then found altered on reading it back.
        expect(r?.planned.transfer, label).toBeLessThan(CHUNK / 4);
        expect(r, label).toMatchObject({ state: "failed", error: { code: "VERIFICATION_FAILED" } });
      }
    }
  });

  it("matches changed chunks block by block alike: an edit in place and an insertion cross far less than a chunk", async () => {
    const old = seededBytes("parity-blocks", 24 * MiB);
    // 1 MiB of new bytes in place, across a chunk boundary, the size unchanged.
    const edit = Buffer.concat([
      old.subarray(0, 9 * MiB + 512 * 1024),
      seededBytes("parity-edit", MiB),
      old.subarray(10 * MiB + 512 * 1024),
    ]);
    // 100 bytes inserted near the start: every chunk after it is shifted against the grid.
    const insertion = Buffer.concat([
      old.subarray(0, 3 * MiB),
      seededBytes("parity-insert", 100),
      old.subarray(3 * MiB),
    ]);
    const seen: Record<string, unknown> = {};
    for (const [name, engine] of Object.entries(ENGINES)) {
      for (const [key, data, most] of [
        ["edit", edit, MiB + 256 * 1024],
        ["insertion", insertion, 512 * 1024],
      ] as const) {
        const { source, destination } = stores();
        await put(source, key, data);
        await put(destination, key, old);
        const before = writes(destination);
        const report = await engine(source, destination, {});
        const label = `${name} ${key}`;
        expect(byKey(report)[key], label).toMatchObject({
          state: "changed",
          action: "compose",
          applied: true,
        });
        expect((await bytes(destination, key))?.equals(data), label).toBe(true);
        // What crossed is the new bytes and the blocks around them, not the changed chunks.
        expect(report.bytes.transferred, label).toBeLessThanOrEqual(most);
        expect(report.bytes.transferred, label).toBeLessThan(CHUNK / 4);
        expect(report.planned.transfer, label).toBe(report.bytes.transferred);
        expect(await uploadsInProgress(destination), label).toBe(0);
        seen[`${name}-${key}`] = { ...comparable(report), writes: writes(destination, before) };
      }
    }
    expect(seen["workflow-edit"]).toEqual(seen["direct-edit"]);
    expect(seen["workflow-insertion"]).toEqual(seen["direct-insertion"]);
  });

  it("reads each old byte of a block answer once: a fine round's cut and the first round's guesses share one read, alike; the direct engine reads nothing of the old chunk again", async () => {
    const old = seededBytes("parity-once-old", 24 * MiB);
    // 1 MiB of new bytes inside chunk 2, its size unchanged: the fine round cuts the old bytes
    // the first round's guesses name.
    const data = Buffer.from(old);
    seededBytes("parity-once-edit", MiB).copy(data, 11 * MiB);
    const chunk2 = `${2 * CHUNK}+${CHUNK}`;
    const seen: Record<string, string[]> = {};
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await put(source, "k", data);
      await put(destination, "k", old);
      const reads: string[] = [];
      const read = destination.read.bind(destination);
      destination.read = (key, range, ...rest) => {
        reads.push(`${range.offset}+${range.length}`);
        return read(key, range, ...rest);
      };
      const report = await engine(source, destination, {});
      destination.read = read;
      expect(byKey(report).k, name).toMatchObject({ state: "changed", action: "compose", applied: true });
      expect((await bytes(destination, "k"))?.equals(data), name).toBe(true);
      // The changed chunk is read by the challenge and cut by the first round; no other range twice.
      expect(
        reads.filter((r) => r === chunk2),
        name,
      ).toHaveLength(2);
      expect(new Set(reads).size, name).toBe(reads.length - 1);
      seen[name] = reads;
    }
    // Its chunks but the first (read with its head), then the changed chunk for the first round:
    // the fine round and the assembled part take that chunk's bytes from memory.
    expect(seen.direct?.sort()).toEqual(
      [1, 2, 3, 4]
        .map((i) => `${i * CHUNK}+${Math.min(CHUNK, old.length - i * CHUNK)}`)
        .concat(chunk2)
        .sort(),
    );
    // The workflow's steps, each a Lambda invocation of its own, read the fine round's and the
    // assembled part's old bytes from the store, inside the changed chunk.
    const inside = (r: string) => {
      const [offset, length] = r.split("+").map(Number) as [number, number];
      return offset >= 2 * CHUNK && offset + length <= 3 * CHUNK && length < CHUNK;
    };
    expect(seen.workflow?.filter(inside).length).toBeGreaterThan(1);
  });

  it("stops at the run's abort signal, leaving no upload and the old destination", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await put(source, "changed", edited);
      const old = await put(destination, "changed", big);
      await put(source, "later", small);
      const abort = new AbortController();
      destination.beforeNext("uploadPart", () => abort.abort());
      await expect(engine(source, destination, { signal: abort.signal }), name).rejects.toBeInstanceOf(
        RunAbortedError,
      );
      expect(await uploadsInProgress(destination), name).toBe(0);
      expect((await destination.head("changed"))?.etag, name).toBe(old);
    }
  });

  it("a stop that cuts a side's first listing ends the run as stopped (RunAbortedError), alike, writing nothing", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      for (const side of ["source", "destination"] as const) {
        const { source, destination } = stores();
        await put(source, "new", small);
        const abort = new AbortController();
        (side === "source" ? source : destination).beforeNext("list", () => abort.abort());
        await expect(
          engine(source, destination, { signal: abort.signal }),
          `${name} ${side}`,
        ).rejects.toBeInstanceOf(RunAbortedError);
        expect(await destination.head("new"), `${name} ${side}`).toBeUndefined();
      }
    }
  });

  it("a stop that comes as the last object settles stops nothing: the run finishes, alike", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      for (const key of ["a", "b", "c"]) await put(source, key, small);
      const abort = new AbortController();
      const results: ObjectResult[] = [];
      const report = await engine(source, destination, {
        signal: abort.signal,
        onResult: (r) => {
          results.push(r);
          if (results.length === 3) abort.abort();
        },
      });
      expect(abort.signal.aborted, name).toBe(true);
      expect(report.objects, name).toMatchObject({ missing: 3, failed: 0 });
      for (const key of ["a", "b", "c"])
        expect((await bytes(destination, key))?.equals(small), name).toBe(true);
    }
  });

  it("reports an object whose write completed as the run was stopped, before its verification", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await put(source, "changed", edited);
      await put(destination, "changed", big);
      const abort = new AbortController();
      // Stopped as the completion is sent: it completes, and the verification that follows does not.
      destination.beforeNext("complete", () => abort.abort());
      const results: ObjectResult[] = [];
      const stopped = engine(source, destination, {
        verify: "full",
        signal: abort.signal,
        onResult: (r) => {
          results.push(r);
        },
      });
      await expect(stopped, name).rejects.toBeInstanceOf(RunAbortedError);
      expect((await bytes(destination, "changed"))?.equals(edited), name).toBe(true);
      expect(results, name).toMatchObject([
        { destinationKey: "changed", state: "changed", applied: true, error: { code: "VERIFY_INTERRUPTED" } },
      ]);
    }
  });

  it("an object of one chunk cut short, or of two cut to one, is one copy of the old object's start: nothing crosses, alike", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      for (const [key, length, cut] of [
        ["one-chunk", 4 * MiB, 4 * MiB - 1],
        ["two-to-one", CHUNK + 1, CHUNK],
      ] as const) {
        const old = seededBytes(`cut-${key}`, length);
        await put(destination, key, old);
        await put(source, key, old.subarray(0, cut));
      }
      const report = await engine(source, destination, {});
      expect(report.results.map((r) => [r.destinationKey, r.action]).sort(), name).toEqual([
        ["one-chunk", "compose"],
        ["two-to-one", "compose"],
      ]);
      expect(report.bytes, name).toMatchObject({ transferred: 0, copiedServerSide: 4 * MiB - 1 + CHUNK });
      expect((await bytes(destination, "one-chunk"))?.length, name).toBe(4 * MiB - 1);
      expect(
        (await bytes(destination, "two-to-one"))?.equals(
          seededBytes("cut-two-to-one", CHUNK + 1).subarray(0, CHUNK),
        ),
        name,
      ).toBe(true);
    }
  });

  it("copies server-side from the source where both sides are one account", async () => {
    const seen: Record<string, unknown> = {};
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = await matrix(true);
      const before = writes(destination);
      const report = await engine(source, destination, { serverSideCopy: true });
      expect(report.bytes.transferred, name).toBe(0);
      expect(report.bytes.copiedServerSide, name).toBe(2 * big.length + small.length);
      expect((await bytes(destination, "changed"))?.equals(edited), name).toBe(true);
      expect((await bytes(destination, "new-small"))?.equals(small), name).toBe(true);
      expect(writes(destination, before), name).toMatchObject({ put: 0, uploadPart: 0 });
      seen[name] = { ...comparable(report), writes: writes(destination, before) };
    }
    expect(seen.workflow).toEqual(seen.direct);
  });

  it("with --tags, puts the source's tag set alone where only the tags differ: no byte copied, the version kept", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await put(source, "tagged", big, "team=a");
      await put(destination, "tagged", big, "team=b");
      await put(source, "untagged", small);
      await put(destination, "untagged", small, "team=b");
      const before = await destination.head("tagged");
      const writes = ["put", "copyObject", "createUpload", "copyPart", "uploadPart"] as const;
      const counted = writes.map((op) => destination.calls(op));
      const report = await engine(source, destination, { copyTags: true });
      const r = byKey(report);
      for (const key of ["tagged", "untagged"])
        expect(r[key], `${name} ${key}`).toMatchObject({ state: "changed", action: "tags", applied: true });
      expect(await destination.tagging("tagged"), name).toBe("team=a");
      expect(await destination.tagging("untagged"), name).toBeUndefined();
      // The same version, tags aside: nothing written but the two tag sets.
      expect(await destination.head("tagged"), name).toEqual(before);
      expect(
        writes.map((op) => destination.calls(op)),
        name,
      ).toEqual(counted);
      expect(destination.calls("putTagging"), name).toBe(2);
      expect(report.bytes, name).toMatchObject({ transferred: 0, uploaded: 0, copiedServerSide: 0 });
      // Other attributes differ too: the copy in place restates them and the tags at once.
      await destination.putTagging(destination.ref("tagged", before!.etag), "team=c");
      await destination.copyObject(
        destination.ref("tagged", before!.etag),
        "tagged",
        { metadata: { m: "1" }, tagging: "team=c" },
        {
          ifMatch: before!.etag,
        },
      );
      const again = byKey(await engine(source, destination, { copyTags: true }));
      expect(again.tagged, name).toMatchObject({ state: "changed", action: "metadata", applied: true });
      expect(await destination.tagging("tagged"), name).toBe("team=a");
    }
  });

  it("without --tags, restating other attributes keeps the destination's tag set (S3 keeps no tags a copy is not given)", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      for (const [key, data] of [
        ["small", small],
        ["big", big],
      ] as const) {
        await source.put(key, data, data.length, { metadata: { m: "new" } }, undefined);
        await destination.put(
          key,
          data,
          data.length,
          { metadata: { m: "old" }, tagging: "team=b" },
          undefined,
        );
      }
      const r = byKey(await engine(source, destination, {}));
      for (const key of ["small", "big"]) {
        expect(r[key], `${name} ${key}`).toMatchObject({
          state: "changed",
          action: "metadata",
          applied: true,
        });
        expect((await destination.head(key))?.metadata, `${name} ${key}`).toEqual({ m: "new" });
        expect(await destination.tagging(key), `${name} ${key}`).toBe("team=b");
      }
    }
  });

  it("carries attributes as long as S3 takes them alike: a full tag set of CJK text, a Content-Disposition of 9,000 characters", async () => {
    // 10 tags of 42 and 85 three-byte characters, 11,369 characters URL-encoded.
    const tagging = new URLSearchParams(
      Array.from({ length: 10 }, (_, i): [string, string] => [`${i}${"日".repeat(41)}`, "本".repeat(85)]),
    ).toString();
    expect(tagging.length).toBeGreaterThan(8192);
    const contentDisposition = `attachment; filename="${"a".repeat(9000)}"`;
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await source.put("long", small, small.length, { metadata: {}, tagging, contentDisposition }, undefined);
      await destination.put("only-dst", small, small.length, { metadata: {}, tagging }, undefined);
      await source.put("only-dst", small, small.length, { metadata: {} }, undefined);
      const report = await engine(source, destination, { copyTags: true });
      expect(
        report.results.filter((r) => r.error),
        name,
      ).toEqual([]);
      expect(await destination.tagging("long"), name).toBe(tagging);
      expect((await destination.head("long"))?.contentDisposition, name).toBe(contentDisposition);
      expect(await destination.tagging("only-dst"), name).toBeUndefined();
    }
  });

  it("with --tags, a destination another writer replaced under the tag set's put is not called written: it is challenged again", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      await put(source, "tagged", big, "team=a");
      await put(destination, "tagged", big, "team=b");
      const other = flipByte(big, 5);
      destination.beforeNext("putTagging", async () => {
        await destination.delete("tagged");
        await put(destination, "tagged", other, "team=z");
      });
      const r = byKey(await engine(source, destination, { copyTags: true }));
      // The other writer's bytes are left to it, and reported: never identical, never overwritten.
      expect(r.tagged, name).toMatchObject({
        state: "failed",
        attempts: 2,
        error: { code: "DESTINATION_CHANGED" },
      });
      expect((await bytes(destination, "tagged"))?.equals(other), name).toBe(true);
    }
  });

  it("on a server that ignores copy-source pins, an old object another writer made smaller before its copies is challenged again, not failed as a refused copy", async () => {
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = stores();
      // As Ceph RGW 16: a copy copies whatever version is current, and one past its end is refused.
      const conditions = destination.capabilities.conditionalWrites;
      Object.assign(destination.capabilities, {
        conditionalWrites: { ...conditions, copySourceIfMatch: false },
      });
      await put(source, "obj", flipByte(big, 100));
      await put(destination, "obj", big);
      destination.beforeNext("copyPart", async () => {
        await destination.put("obj", small, small.length, { metadata: {} }, undefined);
      });
      const r = byKey(await engine(source, destination, {}));
      expect(r.obj, name).toMatchObject({
        state: "failed",
        attempts: 2,
        error: { code: "DESTINATION_CHANGED" },
      });
      expect((await bytes(destination, "obj"))?.equals(small), name).toBe(true);
    }
  });

  it("feeds the progress display alike: each settled object is reported once, and the live counters end as the report", async () => {
    const seen: Record<string, unknown> = {};
    for (const [name, engine] of Object.entries(ENGINES)) {
      const { source, destination } = await matrix();
      const stats = new RunStats();
      const settled: string[] = [];
      const report = await engine(source, destination, {
        delete: true,
        stats,
        onResult: (r) => settled.push(r.destinationKey),
      });
      expect(settled.sort(), name).toEqual(["changed", "extra", "new-big", "new-small", "same"]);
      expect(stats.done, name).toBe(5);
      expect(stats.objects, name).toEqual(report.objects);
      expect(stats.sourceBytesScanned, name).toBe(3 * big.length + small.length);
      expect(stats.bytes.destinationRead, name).toBe(report.bytes.destinationRead);
      seen[name] = { objects: stats.objects, moved: { ...stats.bytes, sourceRead: 0, destinationRead: 0 } };
    }
    expect(seen.workflow).toEqual(seen.direct);
  });
});
