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
 * core of the machine with none idle, against the pass without blocks' wall. One more pass through
 * the server gives the cut and the block digests a thread of their own: each chunk read into a
 * buffer of its own (kept, as the engine keeps the chunks it may cut), hashed as it lands, then
 * handed whole to a worker thread that cuts and digests it while the next chunks are read.
 *
 *   npx tsx bench/blockPipeline.ts [--mib 256] [--rounds 5] [--concurrency 4]
 *
 * S3_ENDPOINT and its keys (see scripts/local-s3.ts) name a running server; else one is started.
 */
import { availableParallelism, loadavg } from "node:os";
import { Worker } from "node:worker_threads";
import { BlockChunker, blockParams, chunkRanges, createDigester, planChunks } from "@chunksync/core";
import type { CutChunk, CutJob } from "./lib/cutWorker.js";
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
  // The worker pass: a slot per read in flight and as many again for chunks being cut, so reads
  // go on while the worker is behind; a read waits for a slot when it is further behind.
  const slots = Array.from({ length: 2 * concurrency }, () => new SharedArrayBuffer(CHUNK));
  // The worker's module, with the TypeScript loader registered first.
  const workerModule = JSON.stringify(new URL("./lib/cutWorker.ts", import.meta.url).href);
  const boot = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${workerModule}); })`;
  const worker = new Worker(boot, { eval: true, workerData: { slots, params } satisfies CutJob });
  const free = slots.map((_, slot) => slot);
  const waiting: ((slot: number) => void)[] = [];
  const cutting = new Map<number, () => void>();
  worker.on("message", (slot: number) => {
    cutting.get(slot)?.();
    cutting.delete(slot);
    const next = waiting.shift();
    if (next) next(slot);
    else free.push(slot);
  });
  const slotFree = () =>
    free.length > 0 ? Promise.resolve(free.pop()!) : new Promise<number>((resolve) => waiting.push(resolve));
  const workerPass = async () => {
    const cuts: Promise<void>[] = [];
    await pool(ranges, concurrency, async (range) => {
      const slot = await slotFree();
      const digest = createDigester("sha256");
      const into = Buffer.from(slots[slot]!, 0, range.length);
      await store.readInto("object.bin", range, head.etag, {
        into,
        piece: (piece) => digest.update(piece),
      });
      digest.digest();
      cuts.push(new Promise<void>((resolve) => cutting.set(slot, resolve)));
      worker.postMessage({ slot, offset: range.offset, length: range.length } satisfies CutChunk);
    });
    await Promise.all(cuts);
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
  await workerPass();
  const runs = {
    without: [] as number[],
    with: [] as number[],
    worker: [] as number[],
    memWithout: [] as number[],
    memWith: [] as number[],
    cpuWithout: [] as number[],
    cpuWith: [] as number[],
    cpuWorker: [] as number[],
    serverWithout: [] as number[],
    serverWith: [] as number[],
    serverWorker: [] as number[],
  };
  const conf = ctx.s3.cephConf;
  const ratios: number[] = [];
  const workerRatios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // The three passes in an order rotated each round.
    const order = (["false", "true", "worker"] as const).map((_, i, all) => all[(i + round) % all.length]!);
    const t: Record<string, number> = {};
    for (const mode of order) {
      const serverBefore = conf ? serverCpuSeconds(conf) : 0;
      const cpu = await cpuOf(async () => {
        t[mode] = await seconds(() => (mode === "worker" ? workerPass() : pass(mode === "true")));
      });
      ({ false: runs.cpuWithout, true: runs.cpuWith, worker: runs.cpuWorker })[mode].push(cpu);
      if (conf)
        ({ false: runs.serverWithout, true: runs.serverWith, worker: runs.serverWorker })[mode].push(
          serverCpuSeconds(conf) - serverBefore,
        );
    }
    runs.without.push(t.false!);
    runs.with.push(t.true!);
    runs.worker.push(t.worker!);
    ratios.push(t.false! / t.true!);
    workerRatios.push(t.false! / t.worker!);
    runs.memWithout.push(await seconds(() => inMemory(false)));
    runs.memWith.push(await seconds(() => inMemory(true)));
    ctx.log(
      `round ${round + 1}/${rounds}: without ${(t.false! * 1000).toFixed(0)} ms, with blocks ` +
        `${(t.true! * 1000).toFixed(0)} ms, on a worker thread ${(t.worker! * 1000).toFixed(0)} ms, load ${loadavg()[0]!.toFixed(1)}`,
    );
  }
  connection.destroy();
  await worker.terminate();
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
          [
            "through the server, the cut and block digests on a worker thread (chunks kept whole, as the engine's)",
            "",
            speed(runs.worker),
            `${(median(workerRatios) * 100).toFixed(0)}%`,
          ],
          [
            "client CPU of that pass (both threads), and its share of the pass's wall",
            "",
            cpuShare(runs.cpuWorker, runs.worker) +
              (conf ? `; the server's CPU ${ms(median(runs.serverWorker))}` : ""),
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
