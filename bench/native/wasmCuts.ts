/**
 * The block chunker's cut loop as a WebAssembly module assembled here byte by byte (no
 * toolchain needed), for the throughput bench only: same gear table, masks and rules as
 * packages/core/src/blocks/blockChunker.ts, over one whole chunk copied into its memory.
 */
const GEAR_AT = 0;
const OUT_AT = 4096;
const DATA_AT = 65536;

// Opcodes used below.
const [BLOCK, LOOP, BR, BR_IF, END, GET, SET] = [0x02, 0x03, 0x0c, 0x0d, 0x0b, 0x20, 0x21];
const [CONST, ADD, SUB, SHL, AND, EQZ, GE_U, LT_U, SELECT] = [
  0x41, 0x6a, 0x6b, 0x74, 0x71, 0x45, 0x4f, 0x49, 0x1b,
];
const LOAD = [0x28, 2, 0];
const LOAD8 = [0x2d, 0, 0];
const STORE = [0x36];
const VOID = 0x40;

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

// Params: 0 data, 1 n, 2 min, 3 avg, 4 max, 5 maskS, 6 maskL. Locals: 7 start, 8 pos, 9 end, 10 fp, 11 count, 12 limit.
const [data, n, min, avg, max, maskS, maskL, start, pos, end, fp, count, limit] = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
];
/** min(start + k, limit), unsigned. */
const clamp = (k: number) => [
  GET,
  start,
  GET,
  k,
  ADD,
  GET,
  limit,
  GET,
  start,
  GET,
  k,
  ADD,
  GET,
  limit,
  LT_U,
  SELECT,
];
/** fp = (fp << 1) + gear[*pos++] */
const roll = [
  GET,
  fp,
  CONST,
  1,
  SHL,
  GET,
  pos,
  ...LOAD8,
  CONST,
  2,
  SHL,
  ...LOAD,
  ADD,
  SET,
  fp,
  GET,
  pos,
  CONST,
  1,
  ADD,
  SET,
  pos,
];
const body = [
  ...[1, 6, 0x7f], // six i32 locals
  ...[GET, data, GET, n, ADD, SET, limit, GET, data, SET, start, CONST, 0, SET, count],
  ...[BLOCK, VOID, LOOP, VOID], // $done, $blocks
  ...[GET, start, GET, limit, GE_U, BR_IF, 1],
  ...[...clamp(min), SET, pos, ...clamp(avg), SET, end, CONST, 0, SET, fp],
  ...[BLOCK, VOID, BLOCK, VOID, LOOP, VOID], // $cut, $nohitS, $s
  ...[GET, pos, GET, end, GE_U, BR_IF, 1, ...roll, GET, fp, GET, maskS, AND, EQZ, BR_IF, 2, BR, 0, END, END],
  ...[...clamp(max), SET, end, LOOP, VOID], // $l
  ...[GET, pos, GET, end, GE_U, BR_IF, 1, ...roll, GET, fp, GET, maskL, AND, EQZ, BR_IF, 1, BR, 0, END, END],
];
// out[count] = pos - start; count++; start = pos
const store = [
  ...[GET, count, CONST, 2, SHL, GET, pos, GET, start, SUB, STORE[0] as number, 2, ...uleb(OUT_AT)],
  ...[GET, count, CONST, 1, ADD, SET, count, GET, pos, SET, start, BR, 0, END, END, GET, count, END],
];
const code = [...body, ...store];

const bytes = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...section(1, vec([[0x60, ...vec(Array.from({ length: 7 }, () => [0x7f])), 1, 0x7f]])),
  ...section(3, vec([[0]])),
  ...section(5, vec([[0, ...uleb(DATA_AT / 65536 + 1 + 128)]])),
  ...section(
    7,
    vec([
      [...name("cuts"), 0, 0],
      [...name("mem"), 2, 0],
    ]),
  ),
  ...section(10, vec([[...uleb(code.length), ...code]])),
]);

/** The few WebAssembly globals used here (the project's TypeScript libraries do not declare them). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
const { Module, Instance } = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

export type WasmCuts = (chunk: Uint8Array, min: number, avg: number, max: number, out: Uint32Array) => number;

/** Instantiates the module with `gear` in its memory; chunks up to 8 MiB. */
export function wasmCuts(gear: Uint32Array): WasmCuts {
  const { exports } = new Instance(new Module(bytes));
  const memory = exports.mem as { buffer: ArrayBuffer };
  const cuts = exports.cuts as (...args: number[]) => number;
  new Uint32Array(memory.buffer, GEAR_AT, 256).set(gear);
  return (chunk, min, avg, max, out) => {
    new Uint8Array(memory.buffer, DATA_AT, chunk.length).set(chunk);
    const bits = Math.log2(avg);
    const top = (b: number) => ~((1 << (32 - b)) - 1) | 0;
    const count = cuts(DATA_AT, chunk.length, min, avg, max, top(bits + 2), top(bits - 2));
    out.set(new Uint32Array(memory.buffer, OUT_AT, count));
    return count;
  };
}
