import { setTimeout as sleep } from "node:timers/promises";
import { isBrokenConnection, StorageError } from "@chunksync/storage";

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Base delay; attempt n waits a random time in [0, base * 2^n] (full jitter). */
  baseDelayMs: number;
  signal?: AbortSignal;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 200 };

/** The default retry, given up when `signal` aborts. */
export function retryFor(signal: AbortSignal | undefined): RetryOptions {
  return signal ? { ...DEFAULT_RETRY, signal } : DEFAULT_RETRY;
}

/** True for errors worth repeating a whole step for: throttling, 5xx, broken connections. */
export function isTransient(error: unknown): boolean {
  if (error instanceof StorageError) return error.retryable;
  return isBrokenConnection(error);
}

/**
 * Repeats a step whose request body is a stream (which the SDK cannot replay itself)
 * after a transient failure, with exponential backoff and full jitter.
 */
export async function withRetry<T>(
  step: () => Promise<T>,
  options: RetryOptions = DEFAULT_RETRY,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (attempt >= options.attempts || !isTransient(error) || options.signal?.aborted) throw error;
      await sleep(Math.random() * options.baseDelayMs * 2 ** attempt, undefined, { signal: options.signal });
    }
  }
}
