import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { appendFileSync, closeSync, openSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tailFile } from "./process.js";

interface Daemon {
  name: string;
  child: ChildProcess;
  /** Why it is gone, once it is. */
  exit?: string;
}

/**
 * Runs when the parent is gone (its end of our stdin closes), whatever killed it: kills the
 * daemons it listed (only if their command line still names our dir, so a reused pid is never
 * hit), runs the extra cleanup commands (e.g. `docker rm -f`), removes the dir.
 */
const WATCHDOG = `cat >/dev/null
dir=$1
for pid in $(cat "$dir/pids" 2>/dev/null); do
  grep -qaF "$dir" "/proc/$pid/cmdline" 2>/dev/null && kill -9 "$pid"
done
[ -f "$dir/on-exit.sh" ] && sh "$dir/on-exit.sh" >/dev/null 2>&1
rm -rf "$dir"`;

const running = new Set<Supervisor>();
let exitHandlerInstalled = false;

/**
 * Owns the processes and the temp dir of one throwaway server. Daemons run in the foreground as
 * children with their output in `DIR/log/NAME.out`. They are stopped by `stop()`; if this
 * process exits without calling it, an 'exit' handler kills them; if it dies abruptly (SIGKILL,
 * OOM), a detached watchdog does.
 */
export class Supervisor {
  private readonly daemons: Daemon[] = [];
  private stopped = false;

  private constructor(
    readonly dir: string,
    private readonly watchdog: ChildProcess,
  ) {}

  static async create(prefix: string): Promise<Supervisor> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    await mkdir(join(dir, "log"));
    // Detached: its own process group, so a Ctrl-C aimed at the test run does not kill it first.
    const watchdog = spawn("sh", ["-c", WATCHDOG, "local-s3-watchdog", dir], {
      detached: true,
      stdio: ["pipe", "ignore", "ignore"],
    });
    watchdog.unref();
    (watchdog.stdin as Socket).unref();
    const supervisor = new Supervisor(dir, watchdog);
    running.add(supervisor);
    if (!exitHandlerInstalled) {
      exitHandlerInstalled = true;
      process.on("exit", () => {
        for (const s of running) s.killNow();
      });
    }
    return supervisor;
  }

  /** Starts a long-running process (in the foreground, so it dies with its process group on Ctrl-C). */
  spawn(name: string, command: string, args: readonly string[], env?: NodeJS.ProcessEnv): void {
    const fd = openSync(join(this.dir, "log", `${name}.out`), "a");
    const child = spawn(command, args, { stdio: ["ignore", fd, fd], env: env ?? process.env });
    closeSync(fd);
    child.unref();
    const daemon: Daemon = { name, child };
    child.on("error", (error) => {
      daemon.exit ??= error.message;
    });
    child.on("exit", (code, signal) => {
      daemon.exit ??= signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
    });
    if (child.pid !== undefined) appendFileSync(join(this.dir, "pids"), `${child.pid}\n`);
    this.daemons.push(daemon);
  }

  /** A shell command the watchdog runs if this process dies without calling `stop()`. */
  async runOnAbruptExit(shellCommand: string): Promise<void> {
    await writeFile(join(this.dir, "on-exit.sh"), `${shellCommand}\n`, { flag: "a" });
  }

  /** Throws if any daemon has exited. */
  assertRunning(): void {
    const dead = this.daemons.filter((d) => d.exit !== undefined);
    if (dead.length > 0) throw new Error(dead.map((d) => `${d.name} ${d.exit}`).join("; "));
  }

  /** The tail of every log in the dir, for error messages: daemons' own output first, it holds their errors. */
  async logTails(): Promise<string> {
    const logDir = join(this.dir, "log");
    const names = (await readdir(logDir).catch(() => [])).sort(
      (a, b) => Number(a.endsWith(".log")) - Number(b.endsWith(".log")) || a.localeCompare(b),
    );
    const parts = await Promise.all(
      names.map(async (name) => {
        const lines = name.endsWith(".out") ? 10 : 5;
        return `--- ${name} (last ${lines} lines) ---\n${await tailFile(join(logDir, name), lines)}`;
      }),
    );
    return parts.join("\n");
  }

  /**
   * Stops the daemons, last started first: SIGTERM, then SIGKILL after a grace period.
   * With `keepDir`, the dir (logs) stays for a post-mortem.
   */
  async stop(options: { keepDir?: boolean; graceMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    running.delete(this);
    for (const daemon of [...this.daemons].reverse()) await terminate(daemon.child, options.graceMs ?? 3000);
    this.watchdog.kill("SIGKILL");
    if (!options.keepDir) await rm(this.dir, { recursive: true, force: true });
  }

  /** Synchronous last resort from the 'exit' handler; the watchdog removes the dir afterwards. */
  private killNow(): void {
    for (const { child } of this.daemons) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  }
}

async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  const alive = () => child.exitCode === null && child.signalCode === null;
  if (!alive()) return;
  const exited = once(child, "exit").then(
    () => true,
    () => true,
  );
  child.kill("SIGTERM");
  if (await within(exited, graceMs)) return;
  child.kill("SIGKILL");
  await within(exited, 2000);
}

/** Whether `promise` settles within `ms`; the timer is cleared either way so it never holds the process open. */
async function within(promise: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
