import { attributesOf, type ObjectAttributes, type ObjectIdentity } from "@chunksync/core";
import { isArchiveClass, type ObjectHead, type ObjectReader, type ObjectSummary } from "@chunksync/storage";
import type { DestinationSide } from "../DestinationSide.js";
import { ObjectChangedError } from "../errors.js";
import type { SourceSide } from "../SourceSide.js";

/** What the run's listings said of one object: on the source, and on the destination if there. */
export interface ListedPair {
  source: ObjectSummary;
  destination: ObjectSummary | undefined;
}

/**
 * The head of the listed source object. A source listed but gone by now changed under
 * the run, in either engine: it is reported (or restarted) as SOURCE_CHANGED.
 */
export function presentSource(key: string, head: ObjectHead | undefined): ObjectHead {
  if (head === undefined) throw new ObjectChangedError("source", key);
  return head;
}

/** The source version an object's reads, copies and challenges are pinned to. */
export function sourceIdentity(bucket: string, key: string, head: Pick<ObjectHead, "etag" | "versionId">) {
  const id: ObjectIdentity = {
    bucket,
    key,
    etag: head.etag,
    ...(head.versionId ? { versionId: head.versionId } : {}),
  };
  return id;
}

/**
 * The attributes of `head` to restate or compare; with `copyTags` its tag set too (a HEAD
 * carries none). The tags of an archived object are not read: it is reported, not written.
 */
export async function readAttributes(
  store: ObjectReader,
  head: ObjectHead,
  copyTags: boolean | undefined,
): Promise<ObjectAttributes> {
  return attributesOf(head, copyTags && !head.archived ? await store.tagging(head.key) : undefined);
}

/** What {@link inspect} reads with: both stores, and the sides that can read ahead. */
export interface InspectContext {
  source: ObjectReader;
  destination: ObjectReader;
  sourceSide: SourceSide;
  destinationSide: DestinationSide;
  chunkSize: number;
  /** A dry run writes nothing, so it reads no body to send. */
  dryRun?: boolean;
  signal?: AbortSignal;
}

/**
 * Both sides' heads. Where the listings say both objects exist and hold bytes, each side
 * reads its first chunk instead of a HEAD: one GET gives the head of the version it reads
 * and that chunk's digest, which the challenge then does not read again. Where the
 * destination listing has no such key, its HEAD is skipped: the write is conditional on
 * the key's absence (If-None-Match, or a HEAD just before a multipart completion), and a
 * source object of at most one chunk is read whole in the same request that heads it.
 */
export async function inspect(
  ctx: InspectContext,
  sourceKey: string,
  destinationKey: string,
  listed: ListedPair | undefined,
): Promise<{ source: ObjectHead; destination: ObjectHead | undefined }> {
  const { source, destination, signal } = ctx;
  let heads: [ObjectHead | undefined, ObjectHead | undefined];
  if (listed && listed.destination === undefined) {
    // A small object the destination lacks is read whole with its head: one GET, no HEAD.
    const small =
      !ctx.dryRun &&
      listed.source.size > 0 &&
      listed.source.size <= ctx.chunkSize &&
      !isArchiveClass(listed.source.storageClass);
    heads = [
      small ? await ctx.sourceSide.read(sourceKey, ctx.chunkSize) : await source.head(sourceKey, signal),
      undefined,
    ];
  } else if (
    listed?.destination &&
    listed.source.size > 0 &&
    listed.destination.size > 0 &&
    !isArchiveClass(listed.source.storageClass) &&
    !isArchiveClass(listed.destination.storageClass)
  ) {
    heads = await Promise.all([
      ctx.sourceSide.probe(sourceKey, ctx.chunkSize),
      ctx.destinationSide.probe(destinationKey, ctx.chunkSize, ctx.sourceSide.options.algorithm),
    ]);
  } else {
    // Both HEADs at once: they are independent, and small objects are bound by round trips.
    heads = await Promise.all([source.head(sourceKey, signal), destination.head(destinationKey, signal)]);
  }
  return { source: presentSource(sourceKey, heads[0]), destination: heads[1] };
}
