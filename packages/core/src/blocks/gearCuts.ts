import type { BlockParams } from "./blockParams.js";
import { GEAR } from "./gearTable.js";

/**
 * The block chunker's cut loop (FastCDC's gear hash and its cut rules) as a small WebAssembly
 * module, assembled here byte by byte so no toolchain is needed. It cuts about twice as fast as
 * the same loop in JavaScript, which is most of what cutting a changed chunk costs both sides;
 * rolling four bytes a pass (see `scan`) made it a third faster again (1 MiB slices of random
 * bytes, copy into the module included: about 2.0 GB/s before, 2.7 GB/s after, on this machine
 * kind). The fingerprint's chain (a shift and an add a byte) is what bounds it now.
 *
 * Memory: the gear table at 0, the fingerprint carried out of a piece at FP_AT, the cut
 * positions of a piece from OUT_AT, then the piece itself.
 */
const GEAR_AT = 0;
const FP_AT = 1024;
const OUT_AT = 2048;
const PAGE = 65536;

/**
 * Most bytes one call cuts: larger pieces go in slices of this size (the cuts do not depend on
 * how the bytes are sliced), so the module's memory stays near 1 MiB. Whole 8 MiB chunks cut no
 * faster in one call: the cut alone ran at about 1.3 GiB/s so and 1.4 GiB/s in 1 MiB slices.
 */
export const MAX_CUT_PIECE = 1024 * 1024;

// Opcodes used below.
const [BLOCK, LOOP, IF, BR, BR_IF, END, GET, SET] = [0x02, 0x03, 0x04, 0x0c, 0x0d, 0x0b, 0x20, 0x21];
const [CONST, ADD, SUB, SHL, AND, EQZ, GE_U, GT_U, LT_U, SELECT] = [
  0x41, 0x6a, 0x6b, 0x74, 0x71, 0x45, 0x4f, 0x4b, 0x49, 0x1b,
];
const [I32, VOID] = [0x7f, 0x40];
const load32 = (offset: number) => [0x28, 2, ...uleb(offset)];
const load8 = (offset: number) => [0x2d, 0, ...uleb(offset)];
const store32 = (offset: number) => [0x36, 2, ...uleb(offset)];

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const name = (text: string) => [...uleb(text.length), ...[...text].map((c) => c.charCodeAt(0))];

/**
 * `cuts(data, n, fp, toMin, toAvg, toMax, min, avg, max, maskS, maskL)`: the first block of
 * the piece is already under way, so its thresholds come as bytes left to go (`to*`); the
 * blocks after it start afresh. Returns how many blocks end in the piece.
 */
const [data, n, fp, toMin, toAvg, toMax, min, avg, max, maskS, maskL] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const PARAMS = 11;
const [start, pos, end, limit, count] = [11, 12, 13, 14, 15];

/** min(start + k, limit), unsigned. */
const clamp = (k: number) => {
  const sum = [GET, start, GET, k, ADD];
  return [...sum, GET, limit, ...sum, GET, limit, LT_U, SELECT];
};
/** fp = (fp << 1) + gear[pos[k]] */
const roll = (k: number) => [
  ...[GET, fp, CONST, 1, SHL, GET, pos, ...load8(k), CONST, 2, SHL, ...load32(GEAR_AT), ADD, SET, fp],
];
/** Bytes a pass of the unrolled loop rolls: a mask test after each, one bounds test for all. */
const UNROLL = 4;
/**
 * Hashes bytes up to `end`; leaves to the enclosing `$cut` block, `pos` just past the byte,
 * where the masked fingerprint is zero. Four bytes a pass while four are left (the bounds test
 * and `pos` are updated once a pass, each byte read at its offset from `pos`), then one at a time.
 */
const scan = (mask: number) => [
  ...[BLOCK, VOID, BLOCK, VOID, LOOP, VOID], // $nohit, $tail, $four
  ...[GET, pos, CONST, UNROLL, ADD, GET, end, GT_U, BR_IF, 1],
  ...Array.from({ length: UNROLL }, (_, k) => [
    ...roll(k),
    ...[GET, fp, GET, mask, AND, EQZ, IF, VOID, GET, pos, CONST, k + 1, ADD, SET, pos, BR, 4, END],
  ]).flat(),
  ...[GET, pos, CONST, UNROLL, ADD, SET, pos, BR, 0, END, END], // $four, $tail
  ...[LOOP, VOID], // $one
  ...[GET, pos, GET, end, GE_U, BR_IF, 1, ...roll(0), GET, pos, CONST, 1, ADD, SET, pos],
  ...[GET, fp, GET, mask, AND, EQZ, BR_IF, 2, BR, 0],
  ...[END, END],
];
/**
 * The module's bytes, assembled when the first chunker is made (in a function, not at load: a
 * run without blocks does not pay for assembling them).
 */
function moduleBytes(): Uint8Array {
  const code = [
    ...[1, 5, I32], // five i32 locals
    ...[GET, data, GET, n, ADD, SET, limit, GET, data, SET, start],
    ...[BLOCK, VOID, LOOP, VOID], // $done, $blocks
    ...[GET, start, GET, limit, GE_U, BR_IF, 1],
    ...[...clamp(toMin), SET, pos, ...clamp(toAvg), SET, end],
    ...[BLOCK, VOID], // $cut: a scan's hit leaves here
    ...scan(maskS),
    ...[...clamp(toMax), SET, end],
    ...scan(maskL),
    // No hit: a cut at max, unless the piece ended before the block reached it.
    ...[GET, pos, GET, start, SUB, GET, toMax, LT_U, BR_IF, 2, END],
    // out[count++] = pos - data; the next block starts afresh at pos.
    ...[GET, count, CONST, 2, SHL, GET, pos, GET, data, SUB, ...store32(OUT_AT)],
    ...[GET, count, CONST, 1, ADD, SET, count, GET, pos, SET, start, CONST, 0, SET, fp],
    ...[GET, min, SET, toMin, GET, avg, SET, toAvg, GET, max, SET, toMax, BR, 0, END, END],
    ...[CONST, 0, GET, fp, ...store32(FP_AT), GET, count, END],
  ];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec(Array.from({ length: PARAMS }, () => [I32])), 1, I32]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0, 1]])),
    ...section(
      7,
      vec([
        [...name("cuts"), 0, 0],
        [...name("memory"), 2, 0],
      ]),
    ),
    ...section(10, vec([[...uleb(code.length), ...code]])),
  ]);
}

/** The few WebAssembly globals used here (the project's TypeScript libraries do not declare them). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
interface Memory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** A block chunker's parameters as the cut loop takes them. */
export interface CutRules extends BlockParams {
  /** Harder mask, before `avg`, and easier one, after it (normalized chunking level 2). */
  readonly maskS: number;
  readonly maskL: number;
}

/** The top `bits` bits of a 32-bit word: they depend on the most bytes of the gear hash's window. */
function topBits(bits: number): number {
  return bits >= 32 ? -1 : ~((1 << (32 - bits)) - 1) | 0;
}

/** The masks of validated parameters. */
export function cutRules({ min, avg, max }: BlockParams): CutRules {
  const bits = Math.log2(avg);
  return Object.freeze({ min, avg, max, maskS: topBits(bits + 2), maskL: topBits(bits - 2) });
}

/**
 * The cut loop of one process, shared by every block chunker in it: a call's results are read
 * before the next call, and JavaScript runs one call at a time.
 */
class GearCuts {
  readonly #cuts: (...args: number[]) => number;
  readonly #memory: Memory;
  #bytes: Uint8Array;
  #words: Uint32Array;

  constructor() {
    const { Module, Instance } = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
    const { exports } = new Instance(new Module(moduleBytes()));
    this.#cuts = exports.cuts as (...args: number[]) => number;
    this.#memory = exports.memory as Memory;
    this.#bytes = new Uint8Array(this.#memory.buffer);
    this.#words = new Uint32Array(this.#memory.buffer);
    this.#words.set(GEAR, GEAR_AT / 4);
  }

  /**
   * Finds where blocks end in `piece` (at most {@link MAX_CUT_PIECE} bytes), the current block
   * having `length` bytes and fingerprint `fp` before it. Returns how many end in it: read
   * their ends with {@link at} and the fingerprint carried past the piece with {@link fp}.
   */
  cut(piece: Uint8Array, length: number, fp: number, rules: CutRules): number {
    const n = piece.length;
    // A block ends at least `min` bytes after the one before it, bar the first.
    const dataAt = OUT_AT + 4 * (Math.floor(n / rules.min) + 1);
    const short = dataAt + n - this.#memory.buffer.byteLength;
    if (short > 0) {
      this.#memory.grow(Math.ceil(short / PAGE));
      this.#bytes = new Uint8Array(this.#memory.buffer);
      this.#words = new Uint32Array(this.#memory.buffer);
    }
    this.#bytes.set(piece, dataAt);
    // Thresholds past the piece's end act as at its end + 1: a `max` of many GiB stays in 32 bits.
    return this.#cuts(
      dataAt,
      n,
      fp,
      Math.max(rules.min - length, 0),
      Math.max(rules.avg - length, 0),
      Math.min(rules.max - length, n + 1),
      rules.min,
      rules.avg,
      Math.min(rules.max, n + 1),
      rules.maskS,
      rules.maskL,
    );
  }

  /** Where the `i`-th block of the last piece cut ends in it. */
  at(i: number): number {
    return this.#words[OUT_AT / 4 + i] as number;
  }

  /** The fingerprint carried past the last piece cut. */
  get fp(): number {
    return (this.#words[FP_AT / 4] as number) | 0;
  }
}

let shared: GearCuts | undefined;
/** The process's cut loop, compiled on first use. */
export function gearCuts(): GearCuts {
  shared ??= new GearCuts();
  return shared;
}
