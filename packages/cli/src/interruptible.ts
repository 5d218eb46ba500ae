import { RunAbortedError } from "@chunksync/sync";
import { EXIT_INTERRUPTED } from "./exitCodes.js";

/**
 * Said at the first Ctrl-C (or SIGTERM), as soon as it is taken: what was in flight still
 * settles, which may take a while, and a second one does not wait for it.
 */
export const STOPPING = "chunksync: stopping once the requests in flight settle; Ctrl-C again stops at once";

/**
 * Runs `work` with Ctrl-C and SIGTERM aborting its signal (see {@link STOPPING}). Work that stops by throwing exits
 * 130 with `stopped` said on stderr; work that stops on its own returns its own code. A second
 * Ctrl-C does not wait: it says `again` and exits 130 at once. On a terminal each line starts by
 * clearing its row, where the terminal echoed `^C`.
 */
export async function interruptible(
  work: (signal: AbortSignal) => Promise<number>,
  stopped = "nothing was written",
  again = stopped,
): Promise<number> {
  const abort = new AbortController();
  const row = process.stderr.isTTY === true && process.env.TERM !== "dumb" ? "\r\x1b[2K" : "";
  const onSignal = () => {
    if (abort.signal.aborted) {
      process.stderr.write(`${row}chunksync: interrupted again; ${again}\n`);
      return process.exit(EXIT_INTERRUPTED);
    }
    process.stderr.write(`${row}${STOPPING}\n`);
    abort.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await work(abort.signal);
  } catch (error) {
    if (error instanceof RunAbortedError || abort.signal.aborted) {
      process.stderr.write(`chunksync: interrupted; ${stopped}\n`);
      return EXIT_INTERRUPTED;
    }
    throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
