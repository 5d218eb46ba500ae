/**
 * A counting semaphore shared by every I/O task of a run, so that the number of
 * ranged GETs, part uploads and copies in flight (and so memory) stays bounded
 * however many objects are in progress. A task that opens an object (its first reads) waits
 * behind the tasks of objects already under way: those finish before new ones start, so that
 * a changed object's block round and write do not queue behind the reads of every object
 * listed after it.
 */
export class Limiter {
  readonly #waiting: (() => void)[] = [];
  /** Tasks that open an object, served once no other task waits. */
  readonly #opening: (() => void)[] = [];
  #free: number;

  constructor(readonly capacity: number) {
    this.#free = capacity;
  }

  /** Runs `task` once a slot is free; `opens`: it starts work on an object not yet under way. */
  async run<T>(task: () => Promise<T>, opens = false): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => (opens ? this.#opening : this.#waiting).push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift() ?? this.#opening.shift();
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
      let next: IteratorResult<T>;
      try {
        // The source's failure (a listing's, or an object it settled itself) counts as one too.
        next = await iterator.next();
      } catch (error) {
        failure ??= { error };
        return;
      }
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
 * that stops early stops the source too. `weight` says how many items one counts for against
 * `limit` (a batch of keys, its length).
 */
export async function* readAhead<T>(
  source: AsyncIterable<T>,
  limit: number,
  weight: (item: T) => number = () => 1,
): AsyncGenerator<T> {
  const ahead = new Prefetch(source, limit, weight);
  try {
    while (await ahead.ready()) yield ahead.take();
  } finally {
    ahead.close();
  }
}

/**
 * `work` of each item of `source`, in `source`'s order, with up to `limit` items started ahead
 * of the consumer: requests one after the other (a record each, of a bucket far away) overlap,
 * and what the consumer does in order stays in order. A failure is rethrown where the consumer
 * reaches its item; a consumer that stops early leaves the work started to end unwatched.
 */
export async function* mapAhead<T, R>(
  source: AsyncIterable<T>,
  limit: number,
  work: (item: T) => Promise<R>,
): AsyncGenerator<R> {
  // Each promise in a box: an async generator's `yield` would wait for it.
  async function* started() {
    for await (const item of source) {
      const result = work(item);
      // Awaited in turn by the consumer; until then (or if it stops early) not an unhandled rejection.
      result.catch(() => {});
      yield { result };
    }
  }
  for await (const { result } of readAhead(started(), limit)) yield await result;
}

/**
 * Listed objects a run reads ahead of what it works on: two of S3's pages of 1,000. With one, the
 * next page was asked for only once the consumer had taken the last, and a run that decides
 * objects from its indexes faster than pages come waited a round trip for each.
 */
export const LISTING_READ_AHEAD = 2000;

/**
 * {@link readAhead} taking every item read so far at once: one turn of the consumer per batch,
 * not per item (a listing's page comes in one piece).
 */
export async function* readAheadBatches<T>(source: AsyncIterable<T>, limit: number): AsyncGenerator<T[]> {
  const ahead = new Prefetch(source, limit, () => 1);
  try {
    while (await ahead.ready()) yield ahead.takeAll();
  } finally {
    ahead.close();
  }
}

/** The buffer behind {@link readAhead}: one producer filling it up to a limit, one consumer taking. */
class Prefetch<T> {
  /** Items read; those before #head are taken (undefined, until dropped). */
  #buffer: (T | undefined)[] = [];
  #head = 0;
  /** The weight of the items read and not yet taken, or handed out by takeAll and not done with. */
  #held = 0;
  /** The weight of the items the last takeAll handed out. */
  #lent = 0;
  #finished = false;
  #closed = false;
  #failure: { error: unknown } | undefined;
  // One waiter on each side: the consumer for an item, the producer for room.
  #wakeConsumer: (() => void) | undefined;
  #wakeProducer: (() => void) | undefined;

  constructor(
    source: AsyncIterable<T>,
    readonly limit: number,
    readonly weight: (item: T) => number,
  ) {
    void this.#produce(source);
  }

  async #produce(source: AsyncIterable<T>): Promise<void> {
    try {
      for await (const item of source) {
        this.#buffer.push(item);
        this.#held += this.weight(item);
        this.#wakeConsumer?.();
        while (this.#held >= this.limit && !this.#closed) {
          await new Promise<void>((resolve) => {
            this.#wakeProducer = resolve;
          });
          this.#wakeProducer = undefined;
        }
        if (this.#closed) return;
      }
    } catch (error) {
      this.#failure = { error };
    } finally {
      this.#finished = true;
      this.#wakeConsumer?.();
    }
  }

  /**
   * Whether an item can be taken, once one is read or the source ended; the items {@link takeAll}
   * handed out before are done with. Rethrows the source's failure.
   */
  async ready(): Promise<boolean> {
    if (this.#lent > 0) this.#taken(this.#lent);
    this.#lent = 0;
    for (;;) {
      if (this.#head < this.#buffer.length) return true;
      if (this.#failure) throw this.#failure.error;
      if (this.#finished) return false;
      await new Promise<void>((resolve) => {
        this.#wakeConsumer = resolve;
      });
      this.#wakeConsumer = undefined;
    }
  }

  /** The next item read, once {@link ready} said there is one. */
  take(): T {
    const item = this.#buffer[this.#head] as T;
    // Let go of it at once: the slots taken are dropped only in blocks (see #drop), and a
    // block of items that each hold a page of results would hold a whole run's.
    this.#buffer[this.#head++] = undefined;
    this.#taken(this.weight(item));
    return item;
  }

  /**
   * Every item read and not yet taken, once {@link ready} said there is one. They count against
   * the limit until the consumer asks for more: a batch in hand is still held.
   */
  takeAll(): T[] {
    // Every slot from #head on holds an item read and not taken.
    const items = (this.#head === 0 ? this.#buffer : this.#buffer.slice(this.#head)) as T[];
    this.#buffer = [];
    this.#head = 0;
    this.#lent = this.#held;
    return items;
  }

  #taken(weight: number): void {
    this.#held -= weight;
    this.#drop();
    this.#wakeProducer?.();
  }

  /** Taken items are dropped in blocks: shift() on a long array copies it every time. */
  #drop(): void {
    if (this.#head >= 1024 && this.#head * 2 >= this.#buffer.length) {
      this.#buffer = this.#buffer.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Stops the producer at its next item: the consumer is gone. */
  close(): void {
    this.#closed = true;
    this.#wakeProducer?.();
  }
}
