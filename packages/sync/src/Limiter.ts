/**
 * A counting semaphore shared by every I/O task of a run, so that the number of
 * ranged GETs, part uploads and copies in flight (and so memory) stays bounded
 * however many objects are in progress.
 */
export class Limiter {
  readonly #waiting: (() => void)[] = [];
  #free: number;

  constructor(readonly capacity: number) {
    this.#free = capacity;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

/**
 * Runs `worker` over `items` with at most `concurrency` in flight. Workers pull from one
 * shared iterator (natural backpressure for lazy sources). The first failure stops new
 * work, waits for the tasks in flight to settle, then rethrows.
 */
export async function forEachConcurrent<T>(
  items: Iterable<T> | AsyncIterable<T>,
  concurrency: number,
  worker: (item: T) => Promise<void>,
): Promise<void> {
  const iterator =
    Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : (items as Iterable<T>)[Symbol.iterator]();
  await pullConcurrently(() => iterator.next(), concurrency, worker);
}

/**
 * {@link forEachConcurrent} over items that come in arrays (see {@link readAheadBatches}): a
 * worker takes the next item of the array in hand without a turn of the event loop, and only
 * one waits for the next array.
 */
export async function forEachInBatches<T>(
  batches: AsyncIterable<readonly T[]>,
  concurrency: number,
  worker: (item: T) => Promise<void>,
): Promise<void> {
  const iterator = batches[Symbol.asyncIterator]();
  let batch: readonly T[] = [];
  let at = 0;
  let pulling: Promise<IteratorResult<readonly T[]>> | undefined;
  const refill = async (): Promise<IteratorResult<T>> => {
    while (at >= batch.length) {
      const pulled = pulling ?? iterator.next();
      pulling = pulled;
      const next = await pulled;
      // Workers waiting on the same pull: the first takes its array, the others its items.
      if (pulling !== pulled) continue;
      pulling = undefined;
      if (next.done) return { done: true, value: undefined };
      batch = next.value;
      at = 0;
    }
    return { done: false, value: batch[at++]! };
  };
  await pullConcurrently(
    () => (at < batch.length ? { done: false, value: batch[at++]! } : refill()),
    concurrency,
    worker,
  );
}

/** The workers of {@link forEachConcurrent}, each taking its next item from `next`. */
async function pullConcurrently<T>(
  next: () => IteratorResult<T> | Promise<IteratorResult<T>>,
  concurrency: number,
  worker: (item: T) => Promise<void>,
): Promise<void> {
  let failure: { error: unknown } | undefined;
  const pull = async (): Promise<void> => {
    while (failure === undefined) {
      let item = next();
      if (item instanceof Promise) item = await item;
      if (item.done) return;
      try {
        await worker(item.value);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, pull));
  if (failure) throw failure.error;
}

/** Like Promise.all, but waits for every task to settle before rethrowing the first failure. */
export async function settleAll<T>(tasks: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * Reads `source` ahead of its consumer, up to `limit` items not yet taken, so that a
 * listing's end is known early while memory stays bounded at any listing size. A failure
 * of the source is rethrown to the consumer after the items read before it; a consumer
 * that stops early stops the source too.
 */
export async function* readAhead<T>(source: AsyncIterable<T>, limit: number): AsyncGenerator<T> {
  for await (const batch of readAheadBatches(source, limit)) yield* batch;
}

/**
 * {@link readAhead}, handing over everything read and not yet taken as one array: a consumer
 * of many small items (a listing's keys) takes a turn of the event loop per array, not per
 * item. `weight` is what an item counts against `limit` (an array's length, for arrays). At
 * most `limit` items wait beside the array the consumer holds.
 */
export async function* readAheadBatches<T>(
  source: AsyncIterable<T>,
  limit: number,
  weight: (item: T) => number = () => 1,
): AsyncGenerator<T[]> {
  let buffer: T[] = [];
  let held = 0;
  let finished = false;
  let closed = false;
  let failure: { error: unknown } | undefined;
  // One waiter on each side: the consumer for items, the producer for room.
  let wakeConsumer: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;
  void (async () => {
    try {
      for await (const item of source) {
        buffer.push(item);
        held += weight(item);
        wakeConsumer?.();
        while (held >= limit && !closed) {
          await new Promise<void>((resolve) => {
            wakeProducer = resolve;
          });
          wakeProducer = undefined;
        }
        if (closed) return;
      }
    } catch (error) {
      failure = { error };
    } finally {
      finished = true;
      wakeConsumer?.();
    }
  })();
  try {
    for (;;) {
      if (buffer.length > 0) {
        const taken = buffer;
        buffer = [];
        held = 0;
        wakeProducer?.();
        yield taken;
        continue;
      }
      if (failure) throw failure.error;
      if (finished) return;
      await new Promise<void>((resolve) => {
        wakeConsumer = resolve;
      });
      wakeConsumer = undefined;
      // A page in hand comes an item a microtask: the producer takes all of it before the
      // consumer's next turn, or each batch would be one item.
      if (!finished) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    closed = true;
    wakeProducer?.();
  }
}
