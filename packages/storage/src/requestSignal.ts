/**
 * The signal of the request `withSignal` is sending, until the first middleware takes it: the
 * SDK runs that middleware synchronously inside `send`, so no other request can come between.
 */
let pendingSignal: AbortSignal | undefined;

/**
 * Sends a request whose HTTP exchange `signal` aborts. The signal travels beside the SDK's
 * `send`, not as its options: a `send` with options resolves the whole middleware chain anew
 * (about 0.1-0.2 ms of CPU a request), one without reuses the chain the client cached. (An
 * AsyncLocalStorage would carry it too, but on Node 20 it turns on promise hooks, which cost
 * every promise of the process more than the chain saves.) Only a client made by
 * `createS3Client` takes the signal. Kept apart from the client so that callers need not load the SDK.
 */
export function withSignal<T>(signal: AbortSignal | undefined, send: () => Promise<T>): Promise<T> {
  if (signal === undefined) return send();
  pendingSignal = signal;
  try {
    return send();
  } finally {
    pendingSignal = undefined;
  }
}

/** The signal `withSignal` set for the request being sent, once: the client's first middleware takes it. */
export function takePendingSignal(): AbortSignal | undefined {
  const signal = pendingSignal;
  pendingSignal = undefined;
  return signal;
}
