import { formatBytes as bytes } from "@chunksync/core";
import type { ObjectResult, RunStats } from "@chunksync/sync";
import { duration } from "./format.js";
import { printable } from "./printable.js";

export interface Progress {
  onResult(result: ObjectResult): void;
  /** Writes `line` (no newline) above the status line, which is drawn again under it. */
  say(line: string): void;
  stop(): void;
}

function describe(r: ObjectResult): string {
  const key = printable(r.sourceKey ?? r.destinationKey);
  // The message may quote the key, or a server's own text.
  if (r.error) return `${r.state.padEnd(9)} ${key}: ${printable(r.error.message)}`;
  const chunks =
    r.chunks && r.chunks.total > 1 ? ` (${r.chunks.changed.length}/${r.chunks.total} chunks)` : "";
  // Keeping a destination-only object and leaving an archived one unread are what a sync does
  // too, not what it would do: such results are never "applied".
  // "metadata" and "tags" name what changed, not what is done to it: said as a verb.
  const action = r.action === "metadata" || r.action === "tags" ? `restate ${r.action}` : r.action;
  const verb =
    r.action === "keep" ? "keep" : r.action === "none" ? "skip" : r.applied ? action : `would ${action}`;
  // Planned for a changed object from its chunks: the block round a sync runs may send less.
  const bound = r.state === "changed" ? "at most " : "";
  const moved =
    r.planned.transfer > 0
      ? r.applied
        ? `, ${bytes(r.planned.transfer)} sent`
        : `, ${bound}${bytes(r.planned.transfer)} to send`
      : "";
  return `${r.state.padEnd(9)} ${key}${chunks}: ${verb}${moved}`;
}

const BAR_WIDTH = 20;
/** Below this, a rate says more about start-up than about the run: no ETA yet. */
const MIN_ETA_BASIS_MS = 2000;
/** Objects settled within the rate's span below which their rate does not bound the ETA. */
const MIN_OBJECTS_FOR_RATE = 10;

/**
 * The status line's fields, in the order a narrow terminal leaves them out: the bytes read (2),
 * the bytes sent (3), then the objects' count (1). Both forms of the line put their fields
 * at these places: what it is of (0), the count, read, sent, and the rate (4).
 */
const LEFT_OUT_FIRST = [2, 3, 1];

/** What the status line may be given besides the run's counters. */
export interface StatusOptions {
  /** Columns it must fit in: the fields that matter least go first (see {@link statusLine}). */
  width?: number;
  /** Work done per second, as measured lately (see {@link RateWindow}); else since the start. */
  rate?: number;
  /** Objects settled per second, as measured lately; else since the start. */
  objectRate?: number;
}

/**
 * The live status line. While the listing goes on, what has been found so far; then a bar
 * weighted by bytes of work (digesting both sides, writing, verifying), because objects
 * differ in size by orders of magnitude. The ETA shows only when work remains and enough
 * of the run has passed to measure a rate. Narrower than its fields, it leaves out first the
 * bytes read, then the bytes sent, then the objects' count: the bar, the rate and the ETA stay.
 */
export function statusLine(stats: RunStats, now: number, options: StatusOptions = {}): string {
  const elapsed = now - stats.startedAt;
  const { sourceRead, destinationRead, transferred } = stats.bytes;
  const done = stats.workDone;
  const rate = options.rate ?? (elapsed > 0 ? (done / elapsed) * 1000 : 0);
  const read = `read src ${bytes(sourceRead)} dst ${bytes(destinationRead)}`;
  // Streamed bodies count as they go: a whole object's PUT is stored only at its end.
  const sent = `sent ${bytes(transferred + stats.sending)}`;
  if (!stats.listed) {
    // Both listings are merged as they come: the destination's count shows that the run
    // moves even while the source has nothing before the destination's keys.
    const destination =
      stats.destinationListed > 0 ? ` (${stats.destinationListed} listed on the destination)` : "";
    const counted = `listing: ${stats.objects.scanned} objects`;
    const found = `${counted}, ${bytes(stats.sourceBytesScanned)} so far${destination}`;
    // Narrower still, what was found is said shorter: the count alone.
    const shorter = (room: number) =>
      [
        found,
        `${counted}, ${bytes(stats.sourceBytesScanned)} so far`,
        counted,
        `${stats.objects.scanned} listed`,
      ].find((f) => f.length <= room) ?? "";
    return fitFields(
      [found, `${stats.done} done`, read, sent, `${bytes(rate)}/s`],
      LEFT_OUT_FIRST,
      options.width,
      shorter,
    );
  }
  const objects = stats.objects.scanned + stats.destinationOnly;
  // Every listed object is compared before anything else is known of it: until a byte of
  // work is planned (a dry run of missing objects), objects are the only measure.
  // What the indexes answered for is done, with no byte read: the bar moves as a run from the
  // indexes goes, while the rate and the ETA are of the reading alone.
  const answered = stats.answeredWork;
  const measured =
    stats.plannedWork > 0 ? (done + answered) / stats.plannedWork : objects > 0 ? stats.done / objects : 1;
  // Reads retried or objects restarted can pass the plan: the bar stops short of 100% until
  // every object has settled, and never draws past its ends.
  const fraction = Math.max(0, Math.min(stats.done < objects ? 0.99 : 1, measured));
  const left = stats.plannedWork - done - answered;
  // The longer of the times the bytes and the objects left take at their rates: a tail of small
  // objects costs requests, not bytes, and by bytes alone it would say a second for minutes.
  const objectRate = options.objectRate ?? (elapsed > 0 ? (stats.done / elapsed) * 1000 : 0);
  const byObjects = objectRate > 0 ? (objects - stats.done) / objectRate : 0;
  const eta =
    left > 0 && rate > 0 && elapsed >= MIN_ETA_BASIS_MS && stats.done < objects
      ? ` ETA ${duration(Math.max(1000, (left / rate) * 1000, byObjects * 1000))}`
      : "";
  const percent = ` ${Math.floor(fraction * 100)}%`;
  // Filled as the percentage is rounded: a bar full only at 100%. Narrower still, the bar
  // itself is drawn shorter, down to a few marks, so that the rate and the ETA stay; then the
  // percentage alone.
  const bar = (room: number) => {
    if (room < MIN_BAR_WIDTH + 2 + percent.length) return percent.trimStart();
    const width = Math.max(MIN_BAR_WIDTH, Math.min(BAR_WIDTH, room - 2 - percent.length));
    const filled = Math.floor(fraction * width);
    return `[${"#".repeat(filled)}${".".repeat(width - filled)}]${percent}`;
  };
  return fitFields(
    [
      bar(BAR_WIDTH + 2 + percent.length),
      `${stats.done}/${objects} objects`,
      read,
      sent,
      `${bytes(rate)}/s${eta}`,
    ],
    LEFT_OUT_FIRST,
    options.width,
    bar,
  );
}

/** The fewest marks a bar narrowed to fit is drawn with. */
const MIN_BAR_WIDTH = 5;

/**
 * `fields` joined by " | " within `width`: the others left out in the order `dropped` names them
 * (indices), until the line fits; then the first is said again by `shorter` within the room the
 * others leave it; where even that does not fit, the first alone, as `shorter` says it within
 * the width. A field is shown whole or not at all: a number cut short would read as another.
 */
function fitFields(
  fields: string[],
  dropped: number[],
  width: number | undefined,
  shorter: (room: number) => string,
): string {
  const shown = [...fields];
  const line = () => shown.filter((f) => f !== "").join(" | ");
  if (width === undefined) return line();
  for (const at of dropped) {
    if (line().length <= width) return line();
    shown[at] = "";
  }
  const first = line().length > width ? shorter(width - (line().length - shown[0]!.length)) : "";
  if (first !== "") shown[0] = first;
  if (line().length > width) {
    shown.fill("", 1);
    shown[0] = shorter(width);
  }
  return line().length <= width ? line() : "";
}

/**
 * Work done per second over about the last `spanMs`, from samples of the work done: an average
 * since the start counts the listing's seconds, or those of a long run of unchanged objects, as
 * slowness, and its ETA then says ten times the time left.
 */
export class RateWindow {
  readonly #samples: { at: number; done: number }[] = [];

  constructor(readonly spanMs = 10_000) {}

  /** Adds the sample (`done` at `at`, in ms) and returns the rate; undefined until a second of samples. */
  sample(at: number, done: number): number | undefined {
    const samples = this.#samples;
    samples.push({ at, done });
    while (samples.length > 2 && samples[1]!.at <= at - this.spanMs) samples.shift();
    const first = samples[0]!;
    return at - first.at >= 1000 ? ((done - first.done) / (at - first.at)) * 1000 : undefined;
  }

  /** How much was done within the span the last {@link sample} measured. */
  get counted(): number {
    const samples = this.#samples;
    return samples.length === 0 ? 0 : samples.at(-1)!.done - samples[0]!.done;
  }
}

/**
 * On a terminal: one live status line with settled objects printed above it. Elsewhere
 * (and on a terminal declared `TERM=dumb`, which cannot clear a line): one plain line per
 * object that needed work, so logs stay greppable. Quiet: only the objects that failed, on either.
 */
export function startProgress(
  stats: RunStats,
  stream: NodeJS.WriteStream,
  quiet: boolean,
  env: NodeJS.ProcessEnv = process.env,
): Progress {
  const shown = (r: ObjectResult) => (quiet ? r.error !== undefined : r.state !== "identical");
  const terminal = stream.isTTY === true && env.TERM !== "dumb";
  if (!terminal || quiet) {
    // Quiet on a terminal, a line said (a stop's) still clears the row where `^C` was echoed.
    const row = terminal ? "\r\x1b[2K" : "";
    return {
      onResult: (r) => {
        if (shown(r)) stream.write(`${describe(r)}\n`);
      },
      say: (line) => stream.write(`${row}${line}\n`),
      stop: () => {},
    };
  }
  // A terminal that reports no size (a pseudo-terminal nobody sized) says 0 columns: then the
  // width the shell states, as `ls` takes it. A line wider than the terminal wraps, and clearing
  // the last of its rows would leave the others on the screen at every redraw.
  // One column short of the width: a line that reaches the last column wraps on some terminals.
  const columns = () => (stream.columns || Number.parseInt(env.COLUMNS ?? "", 10) || 120) - 1;
  const windows = { work: new RateWindow(), objects: new RateWindow() };
  const rates: { rate?: number; objectRate?: number } = {};
  const draw = () => {
    const options: StatusOptions = { width: columns() };
    if (rates.rate !== undefined) options.rate = rates.rate;
    if (rates.objectRate !== undefined) options.objectRate = rates.objectRate;
    stream.write(`\r\x1b[2K${statusLine(stats, Date.now(), options)}`);
  };
  // Sampled at the timer's steady pace only: objects that settle by the thousand draw too.
  const timer = setInterval(() => {
    const now = Date.now();
    const rate = windows.work.sample(now, stats.workDone);
    const objectRate = windows.objects.sample(now, stats.done);
    if (rate !== undefined) rates.rate = rate;
    // A rate of a few objects says little of the rest (large objects settle one in many
    // seconds, and the ETA grew a second a second between them): the bytes' rate stands alone.
    if (objectRate !== undefined)
      rates.objectRate = windows.objects.counted >= MIN_OBJECTS_FOR_RATE ? objectRate : 0;
    draw();
  }, 200);
  timer.unref();
  /** Once stopped, lines said after (a stop's own, as the run's last requests end) draw no status under them. */
  let stopped = false;
  return {
    onResult: (r) => {
      if (shown(r)) stream.write(`\r\x1b[2K${describe(r)}\n`);
      if (!stopped) draw();
    },
    say: (line) => {
      stream.write(`\r\x1b[2K${line}\n`);
      if (!stopped) draw();
    },
    stop: () => {
      stopped = true;
      clearInterval(timer);
      stream.write("\r\x1b[2K");
    },
  };
}
