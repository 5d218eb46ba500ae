/**
 * The read pass with content-defined blocks against the read pass without them (issue 12, item
 * 6: "the digest pipeline with blocks stays at 80% or more of the pipeline without them on the
 * same data"), on the real server, in alternating rounds (A B A B ...): one object read in 8 MiB
 * chunks through the storage port, N ranged GETs in flight, each chunk hashed as it arrives
 * (SHA-256, what the index keeps); the "with blocks" pass also cuts every chunk into blocks and
 * digests them in the same pass (the production BlockChunker, the WebAssembly cut loop), as a
 * source would if it cut every chunk it reads. The engine itself cuts only the chunks whose
 * digests differ, from the bytes this pass kept (README, "Blocks"), so its comparison pass is
 * the "without" one; this bench prices the cut where every chunk is cut (an insertion near the
 * start, a VACUUM). A third line hashes the same chunks from memory, cut and not: the CPU alone.
 * The client's CPU in each pass through the server is printed too, against the pass's wall: where
 * it is well under the wall, the one thread that reads, hashes and cuts is not what the pass waits
 * for alone. With the local server's CPU (where the bench can see it), the last line bounds what
 * any spreading of the work could reach here: the pass without blocks' client and server CPU,
 * plus what the cut and the block digests add (the in-memory passes' difference), over every
 * core of the machine with none idle, against the pass without blocks' wall.
 *
 *   npx tsx bench/blockPipeline.ts [--mib 256] [--rounds 5] [--concurrency 4]
 *
 * S3_ENDPOINT and its keys (see scripts/local-s3.ts) name a running server; else one is started.
 */
import { availableParallelism, loadavg } from "node:os";
import { BlockChunker, blockParams, chunkRanges, createDigester, planChunks } from "@chunksync/core";
import { pool, putLargeObject, seededBytes } from "./lib/data.js";
import { median, option, pairedBench } from "./lib/paired.js";
import { serverCpuSeconds } from "./lib/serverCpu.js";
import { MiB, markdownTable, rate } from "./lib/table.js";

const CHUNK = 8 * MiB;

pairedBench(5, async ({ argv, rounds, ctx }) => {
  const size = Number(option(argv, "--mib") ?? 256) * MiB;
  const concurrency = Number(option(argv, "--concurrency") ?? 4);
  const bucket = await ctx.createBucket("source", ctx.bucketName("blockpipe"));
  await putLargeObject(ctx.clients.source, bucket, "object.bin", "block-pipeline", size);
  const data = seededBytes("block-pipeline", size);
  const { connection, store, head } = await ctx.sourceObject(bucket, "object.bin");
  const ranges = chunkRanges(planChunks(size, CHUNK));
  // The block parameters the engine takes for an object of this size.
  const params = blockParams(size);

  /** One pass over the object; `blocks`: each chunk also cut into digested blocks. */
  const pass = async (blocks: boolean) => {
    let cut = 0;
    await pool(ranges, concurrency, async (range) => {
      const digest = createDigester("sha256");
      const chunker = blocks ? new BlockChunker(params, range.offset) : undefined;
      // As the engine reads a chunk it digests (digestRange): each piece hashed as it lands.
      await store.readInto("object.bin", range, head.etag, {
        piece: (piece) => {
          digest.update(piece);
          chunker?.update(piece);
        },
      });
      digest.digest();
      if (chunker) cut += chunker.end().count;
    });
    return cut;
  };
  const inMemory = (blocks: boolean) => {
    for (const range of ranges) {
      const chunk = data.subarray(range.offset, range.offset + range.length);
      const digest = createDigester("sha256");
      digest.update(chunk);
      digest.digest();
      if (blocks) {
        const chunker = new BlockChunker(params, range.offset);
        chunker.update(chunk);
        chunker.end();
      }
    }
  };
  const seconds = async (work: () => unknown) => {
    const started = process.hrtime.bigint();
    await work();
    return Number(process.hrtime.bigint() - started) / 1e9;
  };
  /** This process's CPU seconds (user and system) over `work`. */
  const cpuOf = async (work: () => unknown) => {
    const before = process.cpuUsage();
    await work();
    const used = process.cpuUsage(before);
    return (used.user + used.system) / 1e6;
  };

  const blocksCut = await pass(true); // also warms: connections, the cut loop compiled
  const runs = {
    without: [] as number[],
    with: [] as number[],
    memWithout: [] as number[],
    memWith: [] as number[],
    cpuWithout: [] as number[],
    cpuWith: [] as number[],
    serverWithout: [] as number[],
    serverWith: [] as number[],
  };
  const conf = ctx.s3.cephConf;
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [false, true] : [true, false];
    const t: Record<string, number> = {};
    for (const blocks of order) {
      const serverBefore = conf ? serverCpuSeconds(conf) : 0;
      const cpu = await cpuOf(async () => {
        t[String(blocks)] = await seconds(() => pass(blocks));
      });
      (blocks ? runs.cpuWith : runs.cpuWithout).push(cpu);
      if (conf) (blocks ? runs.serverWith : runs.serverWithout).push(serverCpuSeconds(conf) - serverBefore);
    }
    runs.without.push(t.false!);
    runs.with.push(t.true!);
    ratios.push(t.false! / t.true!);
    runs.memWithout.push(await seconds(() => inMemory(false)));
    runs.memWith.push(await seconds(() => inMemory(true)));
    ctx.log(
      `round ${round + 1}/${rounds}: without ${(t.false! * 1000).toFixed(0)} ms, with blocks ` +
        `${(t.true! * 1000).toFixed(0)} ms, load ${loadavg()[0]!.toFixed(1)}`,
    );
  }
  connection.destroy();
  const speed = (s: number[]) => rate(size / MiB / median(s), "MiB/s");
  const cpuShare = (cpu: number[], wall: number[]) =>
    `${(median(cpu) * 1000).toFixed(0)} ms (${((median(cpu) / median(wall)) * 100).toFixed(0)}%)`;
  const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
  // The least wall a pass with blocks could take on every core with none idle: the pass without
  // blocks' client and server CPU plus what blocks add to the client's (measured in memory).
  const cores = availableParallelism();
  const added = median(runs.memWith) - median(runs.memWithout);
  const busyWithout = median(runs.cpuWithout) + median(runs.serverWithout);
  const leastWith = Math.max(median(runs.without), (busyWithout + added) / cores);
  const serverRows: string[][] = conf
    ? [
        ["the server's CPU in that pass", ms(median(runs.serverWithout)), ms(median(runs.serverWith)), ""],
        [
          `bound: the pass without blocks' client and server CPU plus the ${ms(added)} blocks add (in memory), on ${cores} cores with none idle`,
          `${ms(busyWithout)}: ${((busyWithout / (cores * median(runs.without))) * 100).toFixed(0)}% of ${cores} cores over its wall`,
          `at least ${ms(leastWith)} wall`,
          `at most ${((median(runs.without) / leastWith) * 100).toFixed(0)}%`,
        ],
      ]
    : [];
  console.log(
    [
      `## The read pass with blocks against without, ${size / MiB} MiB, ${CHUNK / MiB} MiB chunks, ` +
        `${concurrency} GETs in flight, medians of ${rounds} alternating rounds`,
      "",
      `Blocks: min ${params.min / 1024} KiB, average ${params.avg / 1024} KiB, max ${params.max / 1024} KiB ` +
        `(the engine's for this size), ${blocksCut} blocks. Load average after: ${loadavg()
          .map((l) => l.toFixed(1))
          .join(" / ")}.`,
      "",
      markdownTable(
        ["pass", "without blocks", "with blocks (every chunk cut)", "with / without (median of rounds)"],
        [
          [
            "through the server",
            speed(runs.without),
            speed(runs.with),
            `${(median(ratios) * 100).toFixed(0)}%`,
          ],
          [
            "client CPU of that pass, and its share of the pass's wall",
            cpuShare(runs.cpuWithout, runs.without),
            cpuShare(runs.cpuWith, runs.with),
            "",
          ],
          ...serverRows,
          [
            "same chunks in memory (CPU only)",
            speed(runs.memWithout),
            speed(runs.memWith),
            `${((median(runs.memWithout) / median(runs.memWith)) * 100).toFixed(0)}%`,
          ],
        ],
      ),
      "",
      "Target (issue 12): with >= 80% of without. The engine's comparison pass cuts nothing (blocks only in " +
        "chunks whose digests differ); these figures are for a pass where every chunk is cut.",
    ].join("\n"),
  );
});
