/**
 * Throughput of the chunk digest alone and with content-defined blocks cut and digested in the
 * same pass: 256 MiB of seeded random data in 8 MiB buffers, one chunk per buffer, best of
 * several interleaved rounds (the machine may be shared). Variants isolate each cost: the cut
 * loop of the production chunker (WebAssembly, packages/core/src/blocks/gearCuts.ts) or in C
 * (compiled here with gcc as a Node-API addon when gcc is present), the block digest (SHA-256,
 * or keyed GMAC: AES-GCM over the block as associated data), the pieces a read delivers, a chunk
 * digest made from the block digests instead of a second pass over the bytes, and the blocks
 * cut in a worker thread while the main thread digests the chunk.
 * Run: npx tsx bench/cdcThroughput.ts [--mib 256] [--rounds 5]
 */
import { execFileSync } from "node:child_process";
import { createCipheriv, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import {
  BlockChunker,
  type BlockDigest,
  type BlockParams,
  blockParams,
  createDigester,
  sha256Block,
} from "@chunksync/core";
import { GEAR } from "../packages/core/src/blocks/gearTable.js";
import { seededBytes } from "./lib/data.js";

const MiB = 1024 * 1024;
const chunkSize = 8 * MiB;

/** Keyed GMAC: collision resistant only while the key is secret from whoever writes the data. */
function gmacWith(key: Buffer): BlockDigest {
  const iv = Buffer.alloc(12);
  return (data) => {
    const cipher = createCipheriv("aes-128-gcm", key, iv);
    cipher.setAAD(data);
    cipher.final();
    return cipher.getAuthTag();
  };
}
const uncounted: BlockDigest = () => Buffer.alloc(0);

/** A cut loop over one whole chunk: writes each block's length to `out`, returns the count. */
type Cuts = (chunk: Uint8Array, min: number, avg: number, max: number, out: Uint32Array) => number;
type RawCuts = (
  chunk: Uint8Array,
  gear: Uint32Array,
  min: number,
  avg: number,
  max: number,
  out: Uint32Array,
) => number;
function loadC(built: string): Cuts {
  const raw = (createRequire(import.meta.url)(built) as { cuts: RawCuts }).cuts;
  return (chunk, min, avg, max, out) => raw(chunk, GEAR, min, avg, max, out);
}
/** The C cut loop, built into the temp directory; undefined when gcc or Node's headers are missing. */
function nativeCuts(built: string): Cuts | undefined {
  try {
    execFileSync("gcc", [
      "-O3",
      "-fPIC",
      "-shared",
      "-I/usr/include/node",
      "-o",
      built,
      join(import.meta.dirname, "native", "gearcut.c"),
    ]);
    return loadC(built);
  } catch {
    return undefined;
  }
}

/** Blocks of one chunk: cut by the C loop, each digested in one shot; returns the digests. */
function nativeBlocks(
  cuts: Cuts,
  params: BlockParams,
  chunk: Uint8Array,
  digest: (b: Uint8Array) => Buffer,
): Buffer[] {
  const lengths = new Uint32Array(Math.ceil(chunk.length / params.min) + 1);
  const count = cuts(chunk, params.min, params.avg, params.max, lengths);
  const digests: Buffer[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const end = at + (lengths[i] as number);
    digests.push(digest(chunk.subarray(at, end)));
    at = end;
  }
  return digests;
}

interface Job {
  shared: SharedArrayBuffer;
  params: BlockParams;
  native: string | undefined;
}

if (!isMainThread) {
  // Worker: cuts and digests the blocks of each chunk it is sent, in the shared buffer.
  const { shared, params, native } = workerData as Job;
  const cuts = native ? loadC(native) : undefined;
  parentPort?.on("message", (index: number) => {
    const chunk = new Uint8Array(shared, index * chunkSize, chunkSize);
    if (cuts) nativeBlocks(cuts, params, chunk, sha256Block);
    else {
      const blocks = new BlockChunker(params, index * chunkSize);
      blocks.update(chunk);
      blocks.end();
    }
    parentPort?.postMessage(index);
  });
} else await main();

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { mib: { type: "string" }, rounds: { type: "string" } } });
  const total = Number(values.mib ?? 256) * MiB;
  const rounds = Number(values.rounds ?? 5);
  const shared = new SharedArrayBuffer(total);
  const buffers: Buffer[] = [];
  for (let at = 0; at < total; at += chunkSize) {
    const buffer = Buffer.from(shared, at, chunkSize);
    seededBytes("cdc-throughput", chunkSize, at).copy(buffer);
    buffers.push(buffer);
  }
  const params = blockParams(total);
  const gmac = gmacWith(randomBytes(16));
  const built = join(tmpdir(), `chunksync-gearcut-${process.pid}.node`);
  const cuts = nativeCuts(built);

  const chunkDigests = () => {
    for (const buffer of buffers) {
      const chunk = createDigester("sha256");
      chunk.update(buffer);
      chunk.digest();
    }
  };
  const withChunker =
    (digest: BlockDigest, chunkDigest = true, piece = chunkSize) =>
    () => {
      buffers.forEach((buffer, i) => {
        const chunk = chunkDigest ? createDigester("sha256") : undefined;
        const blocks = new BlockChunker(params, i * chunkSize, digest);
        // As a read delivers it: each piece feeds the chunk digest and the blocks in turn.
        for (let at = 0; at < buffer.length; at += piece) {
          const bytes = buffer.subarray(at, at + piece);
          chunk?.update(bytes);
          blocks.update(bytes);
          blocks.take();
        }
        chunk?.digest();
        blocks.end();
      });
    };
  const withNative =
    (cuts: Cuts, digest: (b: Uint8Array) => Buffer, chunkDigest: "pass" | "from blocks") => () => {
      for (const buffer of buffers) {
        if (chunkDigest === "pass") sha256Block(buffer);
        const digests = nativeBlocks(cuts, params, buffer, digest);
        if (chunkDigest === "from blocks") sha256Block(Buffer.concat(digests));
      }
    };
  const inWorker = (native: boolean) => {
    // The worker runs this file too, with the TypeScript loader registered first.
    const boot = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    const worker = new Worker(boot, {
      eval: true,
      workerData: { shared, params, native: native ? built : undefined } satisfies Job,
    });
    return {
      worker,
      run: async () => {
        let left = buffers.length;
        const done = new Promise<void>((resolve) => {
          const onDone = () => {
            if (--left === 0) {
              worker.off("message", onDone);
              resolve();
            }
          };
          worker.on("message", onDone);
        });
        buffers.forEach((_, i) => void worker.postMessage(i));
        chunkDigests();
        await done;
      },
    };
  };

  const variants: [string, () => unknown][] = [
    ["sha256 alone (chunk digest)", chunkDigests],
    ["+ blocks: production cut, sha256 per block", withChunker(sha256Block)],
    ["+ blocks: production cut, sha256, 64 KiB pieces", withChunker(sha256Block, true, 64 * 1024)],
    ["+ blocks: production cut, no block digest", withChunker(uncounted)],
    ["+ blocks: production cut, GMAC per block", withChunker(gmac)],
    ["blocks alone: production cut, sha256/block", withChunker(sha256Block, false)],
  ];
  const workers: Worker[] = [];
  const chunkerWorker = inWorker(false);
  workers.push(chunkerWorker.worker);
  variants.push(["+ blocks in a worker: production cut, sha256", chunkerWorker.run]);
  const none = () => Buffer.alloc(0);
  if (cuts) {
    // The C loop must cut where the production chunker does.
    const chunker = new BlockChunker(params, 0, uncounted);
    chunker.update(buffers[0] as Buffer);
    const expected = [...chunker.end()].map((b) => b.length);
    const lengths = new Uint32Array(chunkSize / params.min + 1);
    const count = cuts(buffers[0] as Buffer, params.min, params.avg, params.max, lengths);
    if (count !== expected.length || expected.some((l, i) => l !== lengths[i]))
      throw new Error("C cuts differ");
    const cWorker = inWorker(true);
    workers.push(cWorker.worker);
    variants.push(
      ["+ blocks: C cut, sha256 per block", withNative(cuts, sha256Block, "pass")],
      ["+ blocks: C cut, no block digest", withNative(cuts, none, "pass")],
      ["+ blocks: C cut, GMAC per block", withNative(cuts, gmac, "pass")],
      ["C cut, chunk digest from block digests", withNative(cuts, sha256Block, "from blocks")],
      ["+ blocks in a worker: C cut, sha256", cWorker.run],
    );
  } else console.log("gcc or Node headers missing: C variants skipped");

  const best = new Map<string, number>();
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of variants) {
      const start = process.hrtime.bigint();
      await run();
      const rate = total / MiB / (Number(process.hrtime.bigint() - start) / 1e9);
      best.set(name, Math.max(best.get(name) ?? 0, rate));
    }
  }
  for (const worker of workers) await worker.terminate();
  const base = best.get("sha256 alone (chunk digest)") as number;
  console.log(
    `${total / MiB} MiB in ${chunkSize / MiB} MiB buffers, blocks avg ${params.avg / 1024} KiB (min ${params.min / 1024}, max ${params.max / 1024}), best of ${rounds}`,
  );
  for (const [name, rate] of best)
    console.log(
      `${name.padEnd(48)} ${rate.toFixed(0).padStart(6)} MiB/s  ${((rate / base) * 100).toFixed(0).padStart(3)}% of sha256 alone`,
    );
}
