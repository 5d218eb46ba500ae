import { writeSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { ChunksyncError } from "@chunksync/core";

/** Text gathered before one write: few system calls, and a bound on what waits in memory. */
const FLUSH_AT = 64 * 1024;
/**
 * The longest a line waits for its block: a run of large objects settles a few lines a minute,
 * and the report follows the run (`tail -f`, a run killed) rather than its last 64 KiB.
 */
const FLUSH_AFTER_MS = 1000;

/**
 * The `--report` file written as the run goes, one JSON line per settled object and a summary
 * line at the end: never one string of the whole run (V8 caps a string near 512 MiB, about
 * 1.27 million objects of a per-object report).
 */
export class JsonLinesReport {
  #pending = "";
  #written: Promise<void> = Promise.resolve();
  /** Set while lines wait for their block; writes them at the latest FLUSH_AFTER_MS after the first. */
  #due: NodeJS.Timeout | undefined;

  private constructor(
    private readonly file: FileHandle,
    private readonly path: string,
  ) {}

  /**
   * Empties the file (opened for appending before the run) as the run begins. Only a regular
   * file has a length: a pipe or a device (`/dev/stdout`, `/dev/null`) refuses to be truncated.
   */
  static async begin(file: FileHandle, path: string): Promise<JsonLinesReport> {
    const report = new JsonLinesReport(file, path);
    await report.#guard(async () => {
      if ((await file.stat()).isFile()) await file.truncate(0);
    });
    return report;
  }

  /**
   * Adds one line; a promise of the disk's write when a block is due (so memory stays bounded),
   * else none: most lines are only gathered.
   */
  add(line: string): Promise<void> | undefined {
    this.#pending += line;
    if (this.#pending.length >= FLUSH_AT) return this.flush();
    // A failed write is not lost: every later flush, the run's last one included, rethrows it.
    this.#due ??= setTimeout(() => this.flush().catch(() => {}), FLUSH_AFTER_MS).unref();
    return undefined;
  }

  /** Writes what is gathered, after every earlier write (concurrent callers keep their order). */
  flush(): Promise<void> {
    clearTimeout(this.#due);
    this.#due = undefined;
    const text = this.#pending;
    this.#pending = "";
    this.#written = this.#written.then(async () => {
      if (text !== "") await this.#guard(() => this.file.write(text));
    });
    return this.#written;
  }

  /**
   * Writes what is gathered before this call returns, for a process about to exit (a second
   * Ctrl-C), whose asynchronous writes would never run. A write already handed to the disk may
   * land after it; a disk that fails now loses the lines, as the exit would.
   */
  flushNow(): void {
    clearTimeout(this.#due);
    this.#due = undefined;
    const text = this.#pending;
    this.#pending = "";
    try {
      if (text !== "") writeSync(this.file.fd, text);
    } catch {
      // The process exits on its interruption either way.
    }
  }

  /** A disk that fails mid-run (full, gone) ends the run with the path named, not a stack trace. */
  async #guard(write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new ChunksyncError("REPORT_WRITE_FAILED", `--report: cannot write ${this.path} (${reason})`, {
        cause: error,
      });
    }
  }
}
