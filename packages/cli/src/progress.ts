import { formatBytes as bytes } from "@chunksync/core";
import type { ObjectResult, RunStats } from "@chunksync/sync";
import { duration } from "./format.js";

export interface Progress {
  onResult(result: ObjectResult): void;
  stop(): void;
}

function describe(r: ObjectResult): string {
  const key = r.sourceKey ?? r.destinationKey;
  if (r.error) return `${r.state.padEnd(9)} ${key}: ${r.error.message}`;
  const chunks =
    r.chunks && r.chunks.total > 1 ? ` (${r.chunks.changed.length}/${r.chunks.total} chunks)` : "";
  const verb = r.applied ? r.action : `would ${r.action}`;
  const moved =
    r.planned.transfer > 0 ? `, ${bytes(r.planned.transfer)} ${r.applied ? "sent" : "to send"}` : "";
  return `${r.state.padEnd(9)} ${key}${chunks}: ${verb}${moved}`;
}

/**
 * On a terminal: one live status line (objects, bytes digested per side, bytes sent,
 * rate, ETA) with settled objects printed above it. Elsewhere: one plain line per
 * object that needed work, so logs stay greppable.
 */
export function startProgress(stats: RunStats, stream: NodeJS.WriteStream, quiet: boolean): Progress {
  const tty = stream.isTTY === true && !quiet;
  if (!tty) {
    return {
      onResult: (r) => {
        if (!quiet && r.state !== "identical") stream.write(`${describe(r)}\n`);
      },
      stop: () => {},
    };
  }
  const status = () => {
    const elapsed = Date.now() - stats.startedAt;
    const { sourceRead, destinationRead, transferred } = stats.bytes;
    const rate = elapsed > 0 ? (sourceRead / elapsed) * 1000 : 0;
    const left = Math.max(0, stats.sourceBytesScanned - sourceRead);
    const eta =
      rate > 0 && stats.done < stats.objects.scanned ? ` ETA ${duration((left / rate) * 1000)}` : "";
    const width = 20;
    const filled = stats.objects.scanned > 0 ? Math.round((stats.done / stats.objects.scanned) * width) : 0;
    return (
      `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${stats.done}/${stats.objects.scanned} objects` +
      ` | digested src ${bytes(sourceRead)} dst ${bytes(destinationRead)} | sent ${bytes(transferred)}` +
      ` | ${bytes(rate)}/s${eta}`
    );
  };
  const draw = () => stream.write(`\r\x1b[2K${status().slice(0, stream.columns ?? 120)}`);
  const timer = setInterval(draw, 200);
  timer.unref();
  return {
    onResult: (r) => {
      if (r.state !== "identical") stream.write(`\r\x1b[2K${describe(r)}\n`);
      draw();
    },
    stop: () => {
      clearInterval(timer);
      stream.write("\r\x1b[2K");
    },
  };
}
