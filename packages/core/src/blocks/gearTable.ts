/**
 * The 256 random 32-bit values of the gear rolling hash. Part of the block format: both sides
 * derive them from this fixed seed (mulberry32), and changing either moves every block boundary.
 */
export const GEAR: Uint32Array = (() => {
  const table = new Uint32Array(256);
  let state = 0x636b7379; // "ckys"
  for (let i = 0; i < 256; i++) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    table[i] = (t ^ (t >>> 14)) >>> 0;
  }
  return table;
})();
