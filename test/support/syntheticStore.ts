import { MemoryObjectStore, type ObjectHead, type ObjectSummary } from "@chunksync/storage";

/** The ETag S3 gives an empty object. */
const EMPTY_ETAG = '"d41d8cd98f00b204e9800998ecf8427e"';
/** When every synthetic object was written: long ago, so a digest index may stand for it. */
const WRITTEN = Date.UTC(2020, 0, 1);

/** The i-th synthetic key: fixed-width digits, so numeric order is S3's key order. */
export function syntheticKey(i: number): string {
  return `key-${String(i).padStart(10, "0")}`;
}

/**
 * A store that lists `count` empty objects without holding them: key i is listed when
 * `has(i)`, generated in S3's key order, so that a run over millions of keys measures
 * the engine and not a store. Heads answer for the listed keys; nothing else is stored.
 */
export class SyntheticListingStore extends MemoryObjectStore {
  constructor(
    bucket: string,
    readonly count: number,
    readonly has: (i: number) => boolean = () => true,
  ) {
    super({ bucket });
  }

  override async *list(
    prefix: string,
    signal?: AbortSignal,
    startAfter?: string,
  ): AsyncIterable<ObjectSummary> {
    // Keys after `startAfter` (a listing resumed, as a workflow's page lists), found by number.
    const after = startAfter === undefined ? -1 : Number(startAfter.slice("key-".length));
    if (Number.isNaN(after)) throw new Error(`a synthetic store lists after its own keys, not ${startAfter}`);
    for (let i = after + 1; i < this.count; i++) {
      // A page of S3's size between checks: an abort is seen soon, at little cost per key.
      if (i % 1000 === 0) signal?.throwIfAborted();
      if (!this.has(i)) continue;
      const key = syntheticKey(i);
      if (key.startsWith(prefix)) {
        yield { key, size: 0, etag: EMPTY_ETAG, storageClass: "STANDARD", lastModified: WRITTEN };
      }
    }
  }

  override async head(key: string): Promise<ObjectHead | undefined> {
    const i = Number(key.slice("key-".length));
    if (!key.startsWith("key-") || !Number.isInteger(i) || i >= this.count || !this.has(i)) return undefined;
    return { key, size: 0, etag: EMPTY_ETAG, lastModified: WRITTEN, archived: false, metadata: {} };
  }
}
