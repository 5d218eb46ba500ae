import { closeSync } from "node:fs";
import { constants } from "node:os";
import { isatty } from "node:tty";
import { jsonText } from "@chunksync/core";
import { RunAbortedError } from "@chunksync/sync";
import { stopWaiting } from "./sideSettings.js";

/**
 * How long a stop waits for the storage's last answers (writes being completed, uploads being
 * aborted, the listing of what is left) before it stops waiting for them: a server that no
 * longer answers would otherwise hold the stop through every timeout and retry, minutes on end,
 * and a service manager's or a cluster's grace period (30 s in Kubernetes) would kill it first.
 */
export const STOP_GRACE_S = 20;
/** What a stop does before the process ends, which may take a while. */
const STOP_STEPS = `transfers in flight are cut, writes being completed get up to ${STOP_GRACE_S} s`;
/** Said when the grace is over and the work's last requests are cut. */
export const STOPPED_WAITING = `chunksync: no answer ${STOP_GRACE_S} s after the stop: stopped waiting for the storage`;
/** Said at the first Ctrl-C, as soon as it is taken; a second one does not wait for the stop's steps. */
export const STOPPING = `chunksync: stopping (${STOP_STEPS}); Ctrl-C again stops at once`;
/** Said at the first SIGTERM (a scheduler or service manager stopping the run), as {@link STOPPING}. */
export const TERMINATING = `chunksync: terminated; stopping (${STOP_STEPS}); a second signal stops at once`;

/** Said at the first SIGHUP, where stderr outlives the terminal (a file, a pipe). */
export const HUNG_UP = `chunksync: the terminal hung up; stopping (${STOP_STEPS}); a second signal stops at once`;

type StopSignal = "SIGINT" | "SIGTERM" | "SIGHUP";
const STOP_SIGNALS: readonly StopSignal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** Set once a hangup was taken: the process then ends by {@link endIfHungUp}. */
let hungUp = false;

/**
 * Ends a process that took a hangup as the hangup would have ended it: by SIGHUP's default
 * action, which the shell reads as exit status 129. Node's own exit restores the terminal's
 * modes as it found them at start, and Node 20 aborts with a failed assertion (a core dump and
 * a native stack trace in the log) where that terminal is gone.
 */
export function endIfHungUp(): void {
  if (!hungUp) return;
  process.removeAllListeners("SIGHUP");
  process.kill(process.pid, "SIGHUP");
}

/** Set once {@link closeLostTerminals} watches this process. */
let watchingTerminals = false;

/**
 * As the process ends, closes each standard stream that was a terminal when it started and is
 * none now. A run started with `setsid` (or disowned) outlives its terminal with no SIGHUP sent
 * to it, and Node 20's exit, which restores each such terminal's modes, aborts where the
 * terminal is gone (exit 134, a core dump): it passes over a descriptor that was closed.
 */
export function closeLostTerminals(): void {
  if (watchingTerminals) return;
  watchingTerminals = true;
  const terminals = [0, 1, 2].filter((fd) => isatty(fd));
  if (terminals.length === 0) return;
  process.once("exit", () => {
    for (const fd of terminals) {
      if (isatty(fd)) continue;
      try {
        closeSync(fd);
      } catch {}
    }
  });
}

/**
 * Once a command has ended and said its ending (its summary, its JSON with its exit code): a
 * stop signal that comes before the process is gone ends it with `code`, as said, where Node
 * would end it by the signal (143 after a SIGTERM where the JSON said 2). A hangup during the
 * command ends it by SIGHUP still (see {@link endIfHungUp}).
 */
export function endAs(code: number): void {
  if (hungUp) return;
  // Once a process (main runs once a process, but many times in a test's): the last code said.
  if (endingCode === undefined) for (const by of STOP_SIGNALS) process.on(by, () => process.exit(endingCode));
  endingCode = code;
}

/** The code the command that ended last said (see {@link endAs}). */
let endingCode: number | undefined;

/** Why a run's signal was aborted by {@link SignalStop}: the signal that stopped it. */
class StoppedBy extends Error {
  constructor(readonly by: StopSignal) {
    super(`stopped by ${by}`);
  }
}

/**
 * Exit code of work stopped through `signal`: 128 plus the number of the signal that stopped it,
 * as shells, service managers and schedulers read it (130 after Ctrl-C, 143 after SIGTERM, 129
 * after a hangup); 130 where it was stopped otherwise.
 */
export function interruptedExitCode(signal: AbortSignal): number {
  // A process that took a hangup ends by SIGHUP, whichever signal stopped the work first.
  const by = hungUp ? "SIGHUP" : signal.reason instanceof StoppedBy ? signal.reason.by : "SIGINT";
  return 128 + constants.signals[by];
}

/**
 * Ctrl-C, SIGTERM and SIGHUP for one piece of work: the first aborts {@link signal} and is said
 * through `say`; the second does not wait: `again` says what is left, then the process exits with
 * the first signal's code. A hangup (the terminal closed: a lost SSH session) stops the work as
 * the others do, so that the uploads it began are aborted, not left. On a terminal each line
 * should start by clearing its row, where the terminal echoed `^C`.
 */
export class SignalStop {
  readonly #abort = new AbortController();
  #grace: NodeJS.Timeout | undefined;
  readonly #handlers = STOP_SIGNALS.map((by) => [by, () => this.#take(by)] as const);

  constructor(
    private readonly say: (line: string) => void,
    private readonly again: () => void,
  ) {
    for (const [by, handler] of this.#handlers) process.on(by, handler);
  }

  #take(by: StopSignal): void {
    if (by === "SIGHUP") hungUp = true;
    if (!this.#abort.signal.aborted) {
      this.say(by === "SIGINT" ? STOPPING : by === "SIGTERM" ? TERMINATING : HUNG_UP);
      this.#abort.abort(new StoppedBy(by));
      this.#startGrace();
    } else {
      this.again();
      endIfHungUp();
      process.exit(interruptedExitCode(this.#abort.signal));
    }
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Stops the work for a reason of the work's own (its exit code is then 130's). */
  abort(): void {
    this.#abort.abort();
    this.#startGrace();
  }

  /** Once the grace is over, what the work still waits for from its storage is cut. */
  #startGrace(): void {
    this.#grace ??= setTimeout(() => {
      this.say(STOPPED_WAITING);
      stopWaiting(new Error(`stopped waiting for an answer ${STOP_GRACE_S} s after the run was stopped`));
    }, STOP_GRACE_S * 1000).unref();
  }

  /** The exit code of the work once stopped. */
  get exitCode(): number {
    return interruptedExitCode(this.#abort.signal);
  }

  dispose(): void {
    for (const [by, handler] of this.#handlers) process.off(by, handler);
    clearTimeout(this.#grace);
  }
}

/** What starts each line on stderr: a clear of the row where a terminal echoed `^C`. */
function row(): string {
  return process.stderr.isTTY === true && process.env.TERM !== "dumb" ? "\r\x1b[2K" : "";
}

/**
 * Runs `work`, the first requests of a command before its own stop handling takes over (each
 * side's probe: a server that accepts connections but never answers holds it for minutes), so
 * that a signal then stops it too: it is said as ever, what is in flight is cut at once
 * (nothing was written yet), and `stopped` is told the exit code, as is a second signal before
 * the process ends. Resolves to the work's value, or to that exit code.
 */
export async function stoppableStart<T>(
  work: () => Promise<T>,
  stopped: (exitCode: number) => void,
): Promise<{ value: T } | { exitCode: number }> {
  const start = row();
  const stop = new SignalStop(
    (line) => process.stderr.write(`${start}${line}\n`),
    () => stopped(stop.exitCode),
  );
  stop.signal.addEventListener(
    "abort",
    () => stopWaiting(new Error("stopped before the run began comparing objects")),
    { once: true },
  );
  try {
    const value = await work();
    if (!stop.signal.aborted) return { value };
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    stop.dispose();
  }
  stopped(stop.exitCode);
  return { exitCode: stop.exitCode };
}

/**
 * Runs `work` under a {@link SignalStop}. Work that stops by throwing exits with the signal's
 * code (130 after Ctrl-C, 143 after SIGTERM, 129 after a hangup) with `stopped` said on stderr; work that stops on
 * its own returns its own code (see {@link interruptedExitCode}). A second signal says `again`.
 * With `json` (the command's name, where `--json` was given), work stopped before it had a
 * report of its own (a listing that never answered) still prints one JSON object on stdout:
 * `{command, exitCode, interrupted: true}`.
 */
export async function interruptible(
  work: (signal: AbortSignal) => Promise<number>,
  {
    stopped = "nothing was written",
    again = stopped,
    json,
  }: { stopped?: string; again?: string; json?: string } = {},
): Promise<number> {
  const start = row();
  const ending = () => {
    if (json !== undefined)
      process.stdout.write(`${jsonText({ command: json, exitCode: stop.exitCode, interrupted: true })}\n`);
  };
  const stop = new SignalStop(
    (line) => process.stderr.write(`${start}${line}\n`),
    () => {
      process.stderr.write(`${start}chunksync: interrupted again; ${again}\n`);
      ending();
    },
  );
  try {
    return await work(stop.signal);
  } catch (error) {
    if (error instanceof RunAbortedError || stop.signal.aborted) {
      process.stderr.write(`chunksync: interrupted; ${stopped}\n`);
      ending();
      return stop.exitCode;
    }
    throw error;
  } finally {
    stop.dispose();
  }
}
