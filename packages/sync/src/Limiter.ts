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
  let failure: { error: unknown } | undefined;
  const pull = async (): Promise<void> => {
    while (failure === undefined) {
      const next = await iterator.next();
      if (next.done) return;
      try {
        await worker(next.value);
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
  let buffer: T[] = [];
  let head = 0;
  let finished = false;
  let closed = false;
  let failure: { error: unknown } | undefined;
  // One waiter on each side: the consumer for an item, the producer for room.
  let wakeConsumer: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;
  void (async () => {
    try {
      for await (const item of source) {
        buffer.push(item);
        wakeConsumer?.();
        while (buffer.length - head >= limit && !closed) {
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
      if (head < buffer.length) {
        const item = buffer[head++] as T;
        // Taken items are dropped in blocks: shift() on a long array copies it every time.
        if (head >= 1024 && head * 2 >= buffer.length) {
          buffer = buffer.slice(head);
          head = 0;
        }
        wakeProducer?.();
        yield item;
        continue;
      }
      if (failure) throw failure.error;
      if (finished) return;
      await new Promise<void>((resolve) => {
        wakeConsumer = resolve;
      });
      wakeConsumer = undefined;
    }
  } finally {
    closed = true;
    wakeProducer?.();
  }
}
