import type { ChunkRange, DigestAlgorithm } from "@chunksync/core";
import type { ObjectReader } from "@chunksync/storage";
import { digestRange, type Side } from "./digestRange.js";
import { type Limiter, settleAll } from "./Limiter.js";
import { retryFor, withRetry } from "./retry.js";

/**
 * Where one side's chunk digests come from. The challenge protocol and the decision only
 * see digests, so an implementation that answers from a persistent per-side index (kept
 * beside the bucket, keyed by key, ETag, range and algorithm) can replace the ranged reads
 * without touching either.
 */
export interface DigestSource {
  /**
   * The digests of `ranges` of `object` at exactly its version `etag`, in the order of
   * `ranges`.
   *
   * @throws ObjectChangedError when that version is no longer the object's
   */
  digests(
    object: { key: string; etag: string },
    ranges: readonly ChunkRange[],
    algorithm: DigestAlgorithm,
    read?: DigestReads,
  ): Promise<Buffer[]>;
}

/** How the reads of one call of {@link DigestSource.digests} go, where it reads. */
export interface DigestReads {
  /** They open an object (its reads ahead of the challenge): see `Limiter.run`. */
  opens?: boolean;
}

export interface RangedReadDigestsOptions {
  store: ObjectReader;
  /** Which side the store is, for the error a lost pin raises. */
  side: Side;
  /** Shared with the run's other requests: reads in flight stay bounded. */
  limiter: Limiter;
  /** Called with every byte count read. */
  onRead?: (bytes: number) => void;
  signal?: AbortSignal;
}

/**
 * What sees one attempt at reading a range as it is digested: each piece once hashed, then
 * the digest, or undefined where the attempt failed (a read that breaks is read again, with a
 * new tap).
 */
export interface RangeTap {
  /** Where the read lands, for a tap that keeps its pieces (views of it); else they are valid only while `piece` runs. */
  into?: Buffer;
  piece(piece: Uint8Array): void;
  end(digest: Buffer | undefined): void;
}

/**
 * Digests from a fresh ranged read of each chunk, pinned to the version and hashed as it
 * streams (never buffered whole); a read that breaks is repeated. Every read settles
 * before the first failure is rethrown.
 */
export class RangedReadDigests implements DigestSource {
  constructor(readonly options: RangedReadDigestsOptions) {}

  /** The digests of `ranges`, as {@link DigestSource}; `read.tap` gives each attempt's {@link RangeTap}, if any, before its read starts. */
  digests(
    object: { key: string; etag: string },
    ranges: readonly ChunkRange[],
    algorithm: DigestAlgorithm,
    read: TappedReads = {},
  ): Promise<Buffer[]> {
    return settleAll(this.each(object, ranges, algorithm, read));
  }

  /** {@link digests}, one promise a range: each settles as its own read does. */
  each(
    object: { key: string; etag: string },
    ranges: readonly ChunkRange[],
    algorithm: DigestAlgorithm,
    read: TappedReads = {},
  ): Promise<Buffer>[] {
    const { store, side, limiter, onRead, signal } = this.options;
    const attempt = async (range: ChunkRange) => {
      const seen = await read.tap?.(range);
      let digest: Buffer | undefined;
      try {
        digest = await digestRange(
          store,
          side,
          object.key,
          object.etag,
          range,
          algorithm,
          (piece) => {
            onRead?.(piece.length);
            seen?.piece(piece);
          },
          signal,
          seen?.into,
        );
        return digest;
      } finally {
        seen?.end(digest);
      }
    };
    return ranges.map((range) =>
      limiter.run(() => withRetry(() => attempt(range), retryFor(signal)), read.opens),
    );
  }
}

/** How {@link RangedReadDigests} reads: {@link DigestReads}, and a tap on each attempt. */
export interface TappedReads extends DigestReads {
  tap?: (range: ChunkRange) => RangeTap | undefined | Promise<RangeTap | undefined>;
}

/**
 * The digests of `ranges` from `source`, one promise a range: from a ranged read's own, so that
 * each settles as its range is read (tapped as `read.tap` says); from another source, which
 * reads no bytes here to tap, all once it answers.
 */
export function digestsEach(
  source: DigestSource,
  object: { key: string; etag: string },
  ranges: readonly ChunkRange[],
  algorithm: DigestAlgorithm,
  read: TappedReads = {},
): Promise<Buffer>[] {
  if (source instanceof RangedReadDigests) return source.each(object, ranges, algorithm, read);
  const { tap: _tap, ...reads } = read;
  const all = source.digests(object, ranges, algorithm, reads);
  return ranges.map((_, i) => all.then((digests) => digests[i]!));
}

/** A side's digest source: the one its options name, or ranged reads of its own store. */
export function sideDigests(
  options: Omit<RangedReadDigestsOptions, "side"> & { digests?: DigestSource | undefined },
  side: Side,
): DigestSource {
  return (
    options.digests ??
    new RangedReadDigests({
      store: options.store,
      side,
      limiter: options.limiter,
      ...(options.onRead ? { onRead: options.onRead } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    })
  );
}
