import { availableParallelism } from "node:os";
import { crc32c as awsCrc32c } from "@aws-crypto/crc32c";
import { chunkRanges, createDigester, type DigestAlgorithm, digestOf, planChunks } from "@chunksync/core";
import { createCRC32 } from "hash-wasm";
// digestRange is internal to the sync package; the bench measures exactly what SourceSide calls.
import { digestRange } from "../../packages/sync/src/digestRange.js";
import type { BenchContext } from "../lib/BenchContext.js";
import { pool, putObject, seededBytes } from "../lib/data.js";
import { MiB, markdownTable, rate } from "../lib/table.js";

const ALGORITHMS: DigestAlgorithm[] = ["sha256", "sha1", "md5", "crc32c"];
const CONCURRENCY = [1, 2, 4];
const CHUNK = 8 * MiB;

/** Best of `repeats` timings of `work` (which processes `bytes`), in MiB/s. */
async function mibPerSecond(
  bytes: number,
  repeats: number,
  work: () => Promise<void> | void,
): Promise<number> {
  let best = 0;
  for (let i = 0; i < repeats; i++) {
    const started = process.hrtime.bigint();
    await work();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    best = Math.max(best, bytes / MiB / seconds);
  }
  return best;
}

/**
 * Section 2: digesting an object through the storage port (ranged GETs pinned to the ETag,
 * hashed as the bytes arrive: the same digestRange SourceSide uses) against hashing the
 * same bytes already in memory.
 */
export async function digestPipelineSection(ctx: BenchContext): Promise<string> {
  const size = (ctx.quick ? 256 : 1024) * MiB;
  const repeats = ctx.quick ? 2 : 3;
  const bucket = await ctx.createBucket("source", ctx.bucketName("digest"));
  const data = seededBytes("digest", size);
  await putObject(ctx.clients.source, bucket, "object.bin", data);
  const { connection, store, head } = await ctx.sourceObject(bucket, "object.bin");
  const ranges = chunkRanges(planChunks(size, CHUNK));
  const chunks = ranges.map((r) => data.subarray(r.offset, r.offset + r.length));

  ctx.log("  GET only (no hashing)");
  const getOnly = new Map<number, number>();
  for (const c of CONCURRENCY) {
    getOnly.set(
      c,
      await mibPerSecond(size, repeats, () =>
        pool(ranges, c, async (range) => {
          const body = await store.read("object.bin", range, head.etag);
          for await (const _ of body) {
            // drain
          }
        }),
      ),
    );
  }

  const implementations = await crc32cImplementations(chunks, repeats, size);

  const rows: string[][] = [];
  for (const algorithm of ALGORITHMS) {
    ctx.log(`  ${algorithm}`);
    const raw = await mibPerSecond(size, repeats, () => {
      for (const chunk of chunks) {
        const d = createDigester(algorithm);
        d.update(chunk);
        d.digest();
      }
    });
    const piped = new Map<number, number>();
    for (const c of CONCURRENCY) {
      piped.set(
        c,
        await mibPerSecond(size, repeats, () =>
          pool(ranges, c, async (range) => {
            await digestRange(store, "source", "object.bin", head.etag, range, algorithm, () => {});
          }),
        ),
      );
    }
    const best = Math.max(...piped.values());
    const bestC = [...piped].find(([, v]) => v === best)![0];
    const ceiling = Math.min(raw, getOnly.get(bestC) ?? Number.POSITIVE_INFINITY);
    rows.push([
      algorithm,
      rate(raw, "MiB/s"),
      ...CONCURRENCY.map((c) => rate(piped.get(c)!, "MiB/s")),
      `${((best / raw) * 100).toFixed(0)}% (c=${bestC})`,
      best >= 0.8 * raw ? "met" : "missed",
      `${((best / ceiling) * 100).toFixed(0)}%`,
      raw > (getOnly.get(bestC) ?? 0) ? "GET throughput" : "hashing (one JS thread)",
    ]);
  }
  connection.destroy();
  await ctx.dropBuckets([bucket]);

  return [
    "## 2. Digest pipeline efficiency",
    "",
    `One ${size / MiB} MiB object, ${CHUNK / MiB} MiB chunks, best of ${repeats}. *raw hash* = the same digester ` +
      "over the same bytes already in memory, one core; *pipeline c=N* = N ranged GETs in flight through " +
      "S3ObjectStore.read, each hashed as it arrives (digestRange, as SourceSide does). The RGW server shares the " +
      `machine's ${availableParallelism()} cores with the client. Target: pipeline >= 80% of raw hash speed.`,
    "",
    markdownTable(
      ["GET only (no hash)", ...CONCURRENCY.map((c) => `c=${c}`)],
      [["MiB/s", ...CONCURRENCY.map((c) => rate(getOnly.get(c)!, "MiB/s"))]],
    ),
    "",
    markdownTable(
      [
        "algorithm",
        "raw hash (1 core)",
        ...CONCURRENCY.map((c) => `pipeline c=${c}`),
        "best pipeline / raw",
        "target 80%",
        "best / min(raw, GET only)",
        "limited by",
      ],
      rows,
    ),
    "",
    "crc32c implementations over the same chunks in memory (one core): the core uses the fastest.",
    "",
    markdownTable(["crc32c package", "kind", "MiB/s", "vs @node-rs/crc32"], implementations),
    "",
  ].join("\n");
}

/** The CRC-32C (Castagnoli) polynomial, reversed, as hash-wasm takes it. */
const CASTAGNOLI = 0x82f63b78;

/**
 * The core's crc32c (@node-rs/crc32, native) against a WASM and a pure JavaScript
 * implementation, over the same chunks; each must give the core's value.
 */
async function crc32cImplementations(chunks: Buffer[], repeats: number, size: number): Promise<string[][]> {
  const wasm = await createCRC32(CASTAGNOLI);
  const want = digestOf("crc32c", chunks[0]!).readUInt32BE(0);
  const candidates: [string, string, (b: Buffer) => number][] = [
    ["@node-rs/crc32 (the core's)", "native (napi-rs)", (b) => digestOf("crc32c", b).readUInt32BE(0)],
    [
      "hash-wasm",
      "WebAssembly",
      (b) => {
        wasm.init();
        wasm.update(b);
        return Number.parseInt(wasm.digest("hex"), 16);
      },
    ],
    ["@aws-crypto/crc32c (the AWS SDK's)", "JavaScript", (b) => awsCrc32c(b)],
  ];
  const speeds: number[] = [];
  for (const [name, , crc] of candidates) {
    if (crc(chunks[0]!) !== want) throw new Error(`${name} disagrees with the core's crc32c`);
    speeds.push(
      await mibPerSecond(size, repeats, () => {
        for (const chunk of chunks) crc(chunk);
      }),
    );
  }
  return candidates.map(([name, kind], i) => [
    name,
    kind,
    rate(speeds[i]!, "MiB/s"),
    `${(speeds[i]! / speeds[0]!).toFixed(2)}x`,
  ]);
}
