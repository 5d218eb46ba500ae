import { readdirSync, readFileSync } from "node:fs";

/** Linux's clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on every common build). */
const TICKS = 100;

/**
 * CPU seconds (user + system) spent so far by the local server's processes: every process
 * whose command line names `conf` (the throwaway Ceph's radosgw, OSD and monitor). On two
 * saturated cores a run's wall time follows client and server CPU together, so the server's
 * share of a run is read before and after it. Zero where /proc is not there.
 */
export function serverCpuSeconds(conf: string): number {
  let ticks = 0;
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(conf)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // A process that ended between the listing and the read.
    }
  }
  return ticks / TICKS;
}
