import { readFileSync } from "node:fs";

/** The machine's CPU ticks so far (/proc/stat's first line): busy, and all. */
function ticks(): { busy: number; all: number } {
  const fields = readFileSync("/proc/stat", "latin1")
    .split("\n", 1)[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are the cores' idle time.
  const all = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: all - fields[3]! - fields[4]!, all };
}

/**
 * Samples how busy the whole machine's cores are (client, server and anything else), every
 * `everyMs`, until stopped; then tells the busy share of each of `parts` equal spans of the time
 * sampled. Where a run's wall follows the CPU of a client and a server that share the cores, this
 * tells which stretches of the run leave a core idle: work added there waits for none. Linux only
 * (/proc/stat counts in ticks of 10 ms, so a span should be some ticks long).
 */
export function sampleMachineBusy(everyMs = 10): { stop(parts: number): number[] } {
  const samples = [{ at: performance.now(), ...ticks() }];
  const timer = setInterval(() => samples.push({ at: performance.now(), ...ticks() }), everyMs);
  return {
    stop(parts) {
      clearInterval(timer);
      samples.push({ at: performance.now(), ...ticks() });
      const first = samples[0]!;
      const last = samples.at(-1)!;
      // Each span's share from the samples nearest its ends.
      const nearest = (at: number) =>
        samples.reduce((best, s) => (Math.abs(s.at - at) < Math.abs(best.at - at) ? s : best));
      return Array.from({ length: parts }, (_, i) => {
        const from = nearest(first.at + ((last.at - first.at) * i) / parts);
        const to = nearest(first.at + ((last.at - first.at) * (i + 1)) / parts);
        return to.all > from.all ? (to.busy - from.busy) / (to.all - from.all) : Number.NaN;
      });
    },
  };
}
