import type { ObjectReader } from "@chunksync/storage";
import { changedUnderRun } from "@chunksync/sync";
import type { ChunkLinkSigner, LinkReader } from "./context.js";

const SCHEME = "inprocess:";

/**
 * Links for in-process runs, where both sides live in one process: the "link" names the
 * source key and reading it is a pinned ranged read of the source store. Deployed runs
 * use presigned URLs ({@link S3LinkSigner}) instead.
 */
export class InProcessLinks implements ChunkLinkSigner {
  constructor(readonly source: ObjectReader) {}

  async sign(key: string): Promise<string> {
    return SCHEME + encodeURIComponent(key);
  }

  readonly read: LinkReader = async (url, etag, range, signal) => {
    const key = decodeURIComponent(url.slice(SCHEME.length));
    try {
      return await this.source.read(key, range, etag, signal);
    } catch (error) {
      throw changedUnderRun("source", key, error);
    }
  };
}
