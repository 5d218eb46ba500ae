import { type ChunkRange, type DigestAlgorithm, sameEtag } from "@chunksync/core";

interface Ahead {
  etag: string;
  algorithm: DigestAlgorithm;
  ranges: readonly ChunkRange[];
  digests: Promise<Buffer[]>;
}

/**
 * Chunk digests a side reads ahead of the challenge that will ask for them, by key (a key has
 * one version in progress), until the challenge takes them or the object settles. Where both
 * sides live in one process, each starts its reads as soon as it knows the version: neither
 * waits for the other's before its own begin.
 */
export class ReadAhead {
  readonly #byKey = new Map<string, Ahead>();

  /** Holds `digests`, the digests by `algorithm` of `ranges` of `key`'s version `etag` being read. */
  start(
    key: string,
    etag: string,
    algorithm: DigestAlgorithm,
    ranges: readonly ChunkRange[],
    digests: Promise<Buffer[]>,
  ): void {
    // Awaited by `take` or `forget`; until then a failure is not an unhandled one.
    digests.catch(() => {});
    this.#byKey.set(key, { etag, algorithm, ranges, digests });
  }

  /**
   * The digests read ahead of `key`'s version `etag` by `algorithm`, each with its range, once
   * read: none where the reads were of another version or failed (a failed one is read again
   * by the challenge, whose pinned read tells what went wrong).
   */
  async take(
    key: string,
    etag: string,
    algorithm: DigestAlgorithm,
  ): Promise<{ range: ChunkRange; digest: Buffer }[]> {
    const ahead = this.#byKey.get(key);
    if (ahead === undefined || !sameEtag(ahead.etag, etag) || ahead.algorithm !== algorithm) return [];
    this.#byKey.delete(key);
    const digests = await ahead.digests.catch(() => undefined);
    return digests ? ahead.ranges.map((range, i) => ({ range, digest: digests[i]! })) : [];
  }

  /**
   * Drops what is read ahead of `key` once its sync is settled: a promise that settles once
   * reads nothing took have (no read outlives its object), undefined where none was left, so
   * that most objects settle with no turn of the event loop.
   */
  forget(key: string): Promise<void> | undefined {
    const ahead = this.#byKey.get(key);
    if (ahead === undefined) return undefined;
    this.#byKey.delete(key);
    return ahead.digests.then(
      () => {},
      () => {},
    );
  }
}
