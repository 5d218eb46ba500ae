/**
 * Bytes that would cross with content-defined blocks, on synthetic edits, using only the pure
 * block matcher and assembly planner (no storage): each object cut on the 8 MiB chunk grid,
 * blocks matched against the old object's, parts planned. Compared with the ideal (the bytes
 * that really changed) and with today's fixed chunks (every 8 MiB chunk whose digest differs).
 * Shuffled pages are also matched with fixed page-sized blocks, which content-defined cuts cannot
 * imitate. Holds both objects in memory (about 1.5 GB at the largest, 300 MiB).
 * Run: npx tsx bench/cdcScenarios.ts [--avg 65536]
 */
import { parseArgs } from "node:util";
import {
  BLOCK_DIGEST_BYTES,
  BlockList,
  type BlockParams,
  blockParams,
  blocksOf,
  confirmGaps,
  DEFAULT_CHUNK_SIZE,
  digestOf,
  filterGuesses,
  formatBytes,
  guessGaps,
  matchBlocks,
  planAssembly,
  planChunks,
} from "@chunksync/core";
import { seededBytes } from "./lib/data.js";

const { values } = parseArgs({ options: { avg: { type: "string" } } });
const MiB = 1024 * 1024;
const CHUNK = DEFAULT_CHUNK_SIZE;

function gridBlocks(data: Buffer, params: BlockParams): BlockList {
  const out = new BlockList(BLOCK_DIGEST_BYTES);
  for (let at = 0; at < data.length; at += CHUNK)
    out.append(blocksOf(data.subarray(at, at + CHUNK), params, at));
  return out;
}

/** Today's engine: every chunk of the new object whose digest differs from the old one's at the same index. */
function chunkBytes(old: Buffer, next: Buffer): number {
  let crossed = 0;
  for (let at = 0; at < next.length; at += CHUNK) {
    const piece = next.subarray(at, at + CHUNK);
    const before = old.subarray(at, at + CHUNK);
    if (!digestOf("sha256", piece).equals(digestOf("sha256", before))) crossed += piece.length;
  }
  return crossed;
}

function run(name: string, old: Buffer, next: Buffer, ideal: number): void {
  const base = blockParams(Math.max(old.length, next.length));
  const avg = values.avg ? Number(values.avg) : base.avg;
  const params = { min: avg / 4, avg, max: avg * 4 };
  const start = performance.now();
  const blocks = gridBlocks(next, params);
  const segments = matchBlocks(blocks, gridBlocks(old, params), old.length);
  const grid = planChunks(next.length, CHUNK);
  const plan = planAssembly(grid, segments, old.length);
  const seconds = (performance.now() - start) / 1000;
  // The destination digests its bytes where the gaps between matches say the source blocks probably are.
  const guesses = guessGaps(segments, blocks, old.length);
  const confirmed = filterGuesses(guesses, (k) => {
    const [b, at] = [guesses.index[k] as number, guesses.oldOffset[k] as number];
    return digestOf("sha256", old.subarray(at, at + blocks.length(b))).equals(blocks.digest(b));
  });
  const guessed = guesses.index.reduce((n, b) => n + blocks.length(b), 0);
  const filled = planAssembly(
    grid,
    confirmGaps(segments, blocks, confirmed, next.length, old.length),
    old.length,
  );
  const chunks = chunkBytes(old, next);
  console.log(
    `${name}\n  blocks avg ${formatBytes(avg)}: crossed ${formatBytes(plan.sourceBytes)} (${plan.sourceBytes} B), ideal ${formatBytes(ideal)} (${ideal} B), ` +
      `${(plan.sourceBytes / Math.max(1, ideal)).toFixed(2)}x ideal; 8 MiB chunks today: ${formatBytes(chunks)}\n` +
      `  parts ${plan.parts.length} (${plan.mixedParts} mixed), destination reads ${formatBytes(plan.oldBytesRead)}, ` +
      `copies ${formatBytes(plan.copiedBytes)}; ${segments.length} segments; ${seconds.toFixed(1)} s\n` +
      `  gaps guessed ${formatBytes(guessed)} (${guesses.index.length} blocks), ${confirmed.index.length} confirmed by the destination: ` +
      `crossed ${formatBytes(filled.sourceBytes)} (${filled.sourceBytes} B), ${(filled.sourceBytes / Math.max(1, ideal)).toFixed(2)}x ideal; ` +
      `parts ${filled.parts.length} (${filled.mixedParts} mixed), destination reads ${formatBytes(filled.oldBytesRead)}`,
  );
}

// (a) same size, 1 MiB overwritten in the middle of 64 MiB.
{
  const old = seededBytes("a", 64 * MiB);
  const next = Buffer.from(old);
  seededBytes("a-edit", MiB).copy(next, 33 * MiB);
  run("(a) 1 MiB overwritten at 33 MiB of 64 MiB", old, next, MiB);
}
// (e) 1 MiB appended to 300 MiB.
{
  const old = seededBytes("e", 300 * MiB);
  const next = Buffer.concat([old, seededBytes("e-tail", MiB)]);
  run("(e) 1 MiB appended to 300 MiB", old, next, MiB);
}
// (c) 100 bytes inserted 1,000 bytes from the start of 256 MiB: every chunk boundary shifts.
{
  const old = seededBytes("c", 256 * MiB);
  const next = Buffer.concat([
    old.subarray(0, 1000),
    seededBytes("c-ins", 112).subarray(0, 100),
    old.subarray(1000),
  ]);
  run("(c) 100 bytes inserted at byte 1,000 of 256 MiB", old, next, 100);
}
// (d) the 4 KiB pages of 64 MiB shuffled, 1 % of them rewritten.
{
  const PAGE = 4096;
  const old = seededBytes("d", 64 * MiB);
  const pages = old.length / PAGE;
  const order = Array.from({ length: pages }, (_, i) => i);
  let state = 12345;
  const random = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  for (let i = pages - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const next = Buffer.alloc(old.length);
  let changed = 0;
  order.forEach((from, to) => {
    if (random() < 0.01) {
      seededBytes(`d-${to}`, PAGE).copy(next, to * PAGE);
      changed += PAGE;
    } else old.copy(next, to * PAGE, from * PAGE, from * PAGE + PAGE);
  });
  run(`(d) 4 KiB pages of 64 MiB shuffled, ${changed / PAGE} pages rewritten`, old, next, changed);
  // Content-defined cuts cannot fall on page boundaries; fixed blocks of the page size do.
  const pageBlocks = (data: Buffer): BlockList => {
    const out = new BlockList(BLOCK_DIGEST_BYTES);
    for (let at = 0; at < data.length; at += PAGE)
      out.push(at, PAGE, digestOf("sha256", data.subarray(at, at + PAGE)));
    return out;
  };
  const plan = planAssembly(
    planChunks(next.length, CHUNK),
    matchBlocks(pageBlocks(next), pageBlocks(old), old.length),
    old.length,
  );
  console.log(
    `  fixed 4 KiB blocks instead: crossed ${formatBytes(plan.sourceBytes)} (${plan.sourceBytes} B), ` +
      `parts ${plan.parts.length} (${plan.mixedParts} mixed), destination reads ${formatBytes(plan.oldBytesRead)}`,
  );
}
