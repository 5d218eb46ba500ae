import { type ChunkRange, type DigestAlgorithm, sameEtag } from "@chunksync/core";

interface Ahead {
  etag: string;
  algorithm: DigestAlgorithm;
  /** Each chunk's range and digest being read, by chunk index, until a challenge takes it. */
  chunks: Map<number, { range: ChunkRange; digest: Promise<Buffer> }>;
}

/**
 * Chunk digests a side reads ahead of the challenge that will ask for them, by key (a key has
 * one version in progress), until the challenge takes them or the object settles. Where both
 * sides live in one process, each starts its reads as soon as it knows the version: neither
 * waits for the other's before its own begin. A challenge of some chunks waits for theirs
 * alone, so an object's first chunks can be decided while its last are still read.
 */
export class ReadAhead {
  readonly #byKey = new Map<string, Ahead>();

  /** Holds `digests`, the digests by `algorithm` of `ranges` of `key`'s version `etag` being read, in the order of `ranges`. */
  start(
    key: string,
    etag: string,
    algorithm: DigestAlgorithm,
    ranges: readonly ChunkRange[],
    digests: readonly Promise<Buffer>[],
  ): void {
    const chunks = new Map<number, { range: ChunkRange; digest: Promise<Buffer> }>();
    for (const [i, range] of ranges.entries()) {
      const digest = digests[i]!;
      // Awaited by `take` or `forget`; until then a failure is not an unhandled one.
      digest.catch(() => {});
      chunks.set(range.index, { range, digest });
    }
    this.#byKey.set(key, { etag, algorithm, chunks });
  }

  /**
   * The digests read ahead of `key`'s version `etag` by `algorithm` of the chunks in `indices`,
   * each with its range, once read: none where the reads were of another
   * version, and none of a chunk whose read failed (it is read again by the challenge, whose
   * pinned read tells what went wrong).
   */
  async take(
    key: string,
    etag: string,
    algorithm: DigestAlgorithm,
    indices: readonly number[],
  ): Promise<{ range: ChunkRange; digest: Buffer }[]> {
    const ahead = this.#byKey.get(key);
    if (ahead === undefined || !sameEtag(ahead.etag, etag) || ahead.algorithm !== algorithm) return [];
    const taken: { range: ChunkRange; digest: Promise<Buffer> }[] = [];
    for (const index of indices) {
      const chunk = ahead.chunks.get(index);
      if (chunk === undefined) continue;
      ahead.chunks.delete(index);
      taken.push(chunk);
    }
    if (ahead.chunks.size === 0) this.#byKey.delete(key);
    const settled = await Promise.allSettled(taken.map((c) => c.digest));
    const got: { range: ChunkRange; digest: Buffer }[] = [];
    for (const [i, s] of settled.entries())
      if (s.status === "fulfilled") got.push({ range: taken[i]!.range, digest: s.value });
    return got;
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
    return Promise.allSettled([...ahead.chunks.values()].map((c) => c.digest)).then(() => {});
  }
}
