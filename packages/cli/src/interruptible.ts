import { RunAbortedError } from "@chunksync/sync";
import { EXIT_INTERRUPTED } from "./exitCodes.js";

/**
 * Runs `work` with Ctrl-C and SIGTERM aborting its signal. Work that stops by throwing exits
 * 130 with `stopped` said on stderr; work that stops on its own returns its own code.
 */
export async function interruptible(
  work: (signal: AbortSignal) => Promise<number>,
  stopped = "nothing was written",
): Promise<number> {
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
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
