import { setMaxListeners } from "node:events";
import {
  compareUtf8,
  constantTimeEqual,
  directoryPrefix,
  entryMayStand,
  formatSampleSpec,
  type IndexEntry,
  type IndexScope,
  planChunks,
  type RandomSource,
  type SampledObject,
  Sampler,
  type SampleSpec,
  sameEtag,
  unseenProbability,
} from "@chunksync/core";
import type { ObjectReader, ObjectSummary } from "@chunksync/storage";
import { bucketVersioning } from "../digestIndex/bucketVersioning.js";
import { IndexCursor, type UnreadPiece } from "../digestIndex/IndexCursor.js";
import type { IndexLocation } from "../digestIndex/IndexLocation.js";
import { IndexWriter } from "../digestIndex/IndexWriter.js";
import { digestRange } from "../digestRange.js";
import { describeError } from "../errorCodes.js";
import { ObjectChangedError, RunAbortedError } from "../errors.js";
import { type KeyRule, keySelection } from "../keyFilter.js";
import { forEachConcurrent, LISTING_READ_AHEAD, Limiter, readAhead, settleAll } from "../Limiter.js";
import { retryFor, withRetry } from "../retry.js";

/** What becomes of a dropped piece's objects in a scrub. */
const UNCHECKED = "go unchecked by this scrub";

const UNSEEN_FRACTIONS = [0.001, 0.01, 0.1] as const;

export interface ScrubOptions {
  store: ObjectReader;
  prefix: string;
  /** The side's digest index: where it is kept and what it was made for. */
  index: { location: IndexLocation; scope: IndexScope };
  sample: SampleSpec;
  concurrency: number;
  filters?: readonly KeyRule[];
  random?: RandomSource;
  signal?: AbortSignal;
}

/** An object whose stored bytes no longer match what its index entry says was stored. */
export interface RottedObject {
  key: string;
  etag: string;
  chunks: { index: number; offset: number; length: number }[];
}

/** What a scrub did and found; `--json` prints it. */
export interface ScrubReport {
  startedAt: string;
  durationMs: number;
  sample: string;
  index: {
    location: string;
    found: "absent" | "loaded" | "dropped";
    notes: string[];
    /** Entries left in the rewritten index; absent when the index was left as it was. */
    written?: number;
    /** Entries marked rotted because their object failed the scrub (see `IndexEntry.rotted`). */
    marked: number;
    /** Marks cleared: objects marked rotted before whose every chunk this scrub read and found as indexed. */
    cleared: number;
    /**
     * Why the rotted objects' entries could not be marked (the index could not be rewritten):
     * they still stand, and a sync with this index trusts them.
     */
    notMarked?: { code: string; message: string };
    /**
     * Pieces that could not be read or were found damaged: their objects were not judged (a
     * later sync that can read an unread piece trusts their entries). The scrub is incomplete: exit 2.
     */
    unread: UnreadPiece[];
  };
  objects: {
    listed: number;
    /** Listed objects whose index entry stands for the listed version: the ones a scrub can judge. */
    indexed: number;
    sampled: number;
    rotted: number;
    failed: number;
  };
  chunks: { sampled: number; equal: number; differs: number };
  bytes: { listed: number; sampled: number; read: number };
  rotted: RottedObject[];
  failures: { key: string; code: string; message: string }[];
  /**
   * Whether every chunk of every object whose index entry stands was read and judged (`--full`,
   * or a count as large as the index, with no object failed and no piece of the index unread; at
   * least one chunk): then no rot went unseen.
   */
  everyChunkRead: boolean;
  /**
   * The chance that rot of a fraction f of the chunks went unseen: 0 when every chunk was read,
   * else at most (1 - f)^k for the k chunks read and judged.
   */
  unseen: { fraction: number; probability: number }[];
  /** Stopped (its signal) before it judged every object drawn: what it found until then stands, its rotted entries marked. */
  interrupted: boolean;
}

interface Indexed {
  key: string;
  relative: string;
  entry: IndexEntry;
}

/** An object held in a `count` sample until the listing ends: its entry (all its digests) is not kept. */
interface Held {
  key: string;
  relative: string;
  etag: string;
}

/**
 * One side alone re-reads a sample of the chunks its index holds digests of and compares each
 * with its entry, naming the objects whose stored bytes no longer match what was indexed (rot,
 * or a change below the S3 API that kept ETag and LastModified). Each failing object's entry is
 * marked rotted in the index (rewritten whole, the manifest swapped last): a sync to this side
 * reads the object and repairs it from its source, a sync from it refuses to send the rot (see
 * `IndexEntry.rotted`). Listed objects without a standing entry are not judged.
 */
export async function runScrub(options: ScrubOptions): Promise<ScrubReport> {
  const started = Date.now();
  const signal = options.signal;
  if (signal) setMaxListeners(0, signal);
  const { store, index } = options;
  const limiter = new Limiter(options.concurrency);
  const prefix = directoryPrefix(options.prefix);
  const selected = keySelection(options.filters ?? []);
  const cursor = await IndexCursor.open(index.location, index.scope, UNCHECKED);
  const sampler = new Sampler<Indexed | Held>(options.sample, index.scope.chunkSize, options.random);
  const report: ScrubReport = {
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    sample: formatSampleSpec(options.sample, "chunks"),
    index: {
      location: index.location.description,
      found: cursor.opening.state,
      notes: cursor.opening.notes,
      marked: 0,
      cleared: 0,
      unread: cursor.opening.unread,
    },
    objects: { listed: 0, indexed: 0, sampled: 0, rotted: 0, failed: 0 },
    chunks: { sampled: 0, equal: 0, differs: 0 },
    bytes: { listed: 0, sampled: 0, read: 0 },
    rotted: [],
    interrupted: false,
    failures: [],
    everyChunkRead: false,
    unseen: [],
  };
  // Without an index there is nothing to compare the bytes with: nothing is read.
  if (cursor.opening.state !== "loaded") {
    report.durationMs = Date.now() - started;
    return report;
  }

  // Where the bucket keeps versions, another version of the same bytes (its ETag) may be the
  // current one: the listing names each version, and only an entry of the version it names is
  // judged, lest the rot of one version be marked on (or a mark cleared from) another's entry.
  const versions = await bucketVersioning(store, signal);
  if (versions.note !== undefined) report.index.notes.push(versions.note);
  let unnamed = 0;
  async function* drawn(): AsyncGenerator<SampledObject<Indexed>> {
    const listing = store.list(prefix, signal, undefined, undefined, versions.versioned);
    for await (const listed of readAhead(listing, LISTING_READ_AHEAD)) {
      const relative = listed.key.slice(prefix.length);
      if (!selected(relative)) continue;
      report.objects.listed++;
      report.bytes.listed += listed.size;
      const entry = await cursor.find(listed.key);
      if (entry === undefined || !entryMayStand(entry, listed)) continue;
      if (versions.versioned && !namesVersionOf(listed, entry)) {
        unnamed++;
        continue;
      }
      report.objects.indexed++;
      const plan = planChunks(entry.size, index.scope.chunkSize);
      // A reservoir holds its objects to the listing's end: without their digests, which are read again.
      const item =
        options.sample.kind === "count"
          ? { key: listed.key, relative, etag: entry.etag }
          : { key: listed.key, relative, entry };
      const sampled = sampler.offer(item, entry.size, plan.chunkSize);
      if (sampled) yield sampled as SampledObject<Indexed>;
    }
    const held = sampler.rest();
    if (held.length === 0) return;
    // A fraction's one unit held when no run drew one: its object's entry was kept with it.
    if (options.sample.kind !== "count") {
      yield* held as SampledObject<Indexed>[];
      return;
    }
    // Held objects come in key order: one more pass over the index finds their entries.
    const again = await IndexCursor.open(index.location, index.scope, UNCHECKED);
    for (const { item, ranges } of held) {
      const entry = await again.find(item.key);
      if (entry !== undefined && "etag" in item && entry.etag === item.etag)
        yield { item: { key: item.key, relative: item.relative, entry }, ranges };
    }
    const unread = report.index.unread;
    unread.push(...again.opening.unread.filter((u) => !unread.some((v) => v.piece === u.piece)));
  }

  /** The versions judged rotted, and those marked before that read whole as indexed, by key. */
  const judgedVersions = { rotted: new Map<string, IndexEntry>(), whole: new Map<string, IndexEntry>() };
  /** Objects drawn that another writer replaced before the scrub judged them. */
  let rewritten = 0;
  const judged = forEachConcurrent(
    readAhead(drawn(), options.concurrency * 4),
    options.concurrency,
    async (object) => {
      const { entry } = object.item;
      const plan = planChunks(entry.size, index.scope.chunkSize);
      try {
        const differing = await settleAll(
          object.ranges.map(async (r) => {
            const chunk = { index: r.offset / plan.chunkSize, offset: r.offset, length: r.length };
            const digest = await limiter.run(() =>
              withRetry(
                () =>
                  digestRange(
                    store,
                    "destination",
                    entry.key,
                    entry.etag,
                    chunk,
                    index.scope.algorithm,
                    (piece) => {
                      report.bytes.read += piece.length;
                    },
                    signal,
                  ),
                retryFor(signal),
              ),
            );
            const indexed = entry.digests[chunk.index];
            return indexed !== undefined && constantTimeEqual(digest, indexed) ? undefined : chunk;
          }),
        );
        const rotted = differing.filter((c) => c !== undefined);
        // Counted once judged: an object rewritten under the scrub was not, and its chunks
        // would otherwise lower the chance of rot having gone unseen that the report states.
        report.objects.sampled++;
        report.chunks.sampled += object.ranges.length;
        for (const r of object.ranges) report.bytes.sampled += r.length;
        report.chunks.equal += object.ranges.length - rotted.length;
        report.chunks.differs += rotted.length;
        if (rotted.length > 0) {
          report.objects.rotted++;
          report.rotted.push({ key: object.item.relative, etag: entry.etag, chunks: rotted });
          judgedVersions.rotted.set(entry.key, entry);
        } else if (entry.rotted && object.ranges.length === plan.count) {
          judgedVersions.whole.set(entry.key, entry);
        }
      } catch (error) {
        if (signal?.aborted) throw new RunAbortedError(error);
        // An object rewritten since it was listed is a new version, not rot: its entry no longer stands.
        if (error instanceof ObjectChangedError) {
          rewritten++;
          return;
        }
        report.objects.failed++;
        report.failures.push({ key: object.item.relative, ...describeError(error) });
      }
    },
  );
  try {
    await judged;
  } catch (error) {
    // A stop keeps what was found until then: the entries of rotted objects found are still
    // marked (the index's rewrite is not cut), lest the next sync trust them.
    if (!signal?.aborted) throw error;
    report.interrupted = true;
  }
  report.rotted.sort((a, b) => compareUtf8(a.key, b.key));
  if (judgedVersions.rotted.size > 0 || judgedVersions.whole.size > 0) {
    try {
      await markEntries(options, judgedVersions, report);
    } catch (error) {
      // The rot found is the scrub's result: it is reported whatever became of the index.
      report.index.notMarked = describeError(error);
    }
  }
  if (rewritten > 0)
    report.index.notes.push(
      `${rewritten} object${rewritten === 1 ? " was" : "s were"} written anew while the scrub read ${rewritten === 1 ? "it" : "them"} (a new version, not rot): not judged`,
    );
  if (unnamed > 0)
    report.index.notes.push(
      `the bucket keeps versions, and ${unnamed} listed object${unnamed === 1 ? "'s" : "s'"} entries could not be tied to the version listed (a version written and not listed since, or a listing that named no version): not judged`,
    );
  report.everyChunkRead =
    !report.interrupted &&
    report.objects.failed === 0 &&
    report.index.unread.length === 0 &&
    report.chunks.sampled > 0 &&
    report.chunks.sampled === sampler.offered.units;
  report.unseen = UNSEEN_FRACTIONS.map((fraction) => ({
    fraction,
    probability: report.everyChunkRead ? 0 : unseenProbability(fraction, report.chunks.sampled),
  }));
  report.durationMs = Date.now() - started;
  return report;
}

/**
 * Rewrites the index with the entries of the versions judged `rotted` marked so, and the marks
 * of those read `whole` as indexed cleared: every stored entry is copied in key order into new
 * pieces, and the new manifest replaces the old one last, as a sync commits. An entry is changed
 * only where it is still of the version judged: a sync that rewrote the index meanwhile may hold
 * another version's, which this scrub did not read.
 */
async function markEntries(
  options: ScrubOptions,
  judged: { rotted: ReadonlyMap<string, IndexEntry>; whole: ReadonlyMap<string, IndexEntry> },
  report: ScrubReport,
): Promise<void> {
  const { location, scope } = options.index;
  // The entries of a piece dropped here leave the index with it: the next sync reads their objects.
  const cursor = await IndexCursor.open(location, scope, "are read again by the next sync");
  const writer = new IndexWriter(location, scope);
  let marked = 0;
  let cleared = 0;
  try {
    for await (const entry of cursor.entries()) {
      const rotted = judged.rotted.get(entry.key);
      const whole = judged.whole.get(entry.key);
      if (rotted !== undefined && sameVersionEntry(entry, rotted)) {
        marked++;
        await writer.add(entry.rotted ? entry : { ...entry, rotted: true });
      } else if (whole !== undefined && entry.rotted && sameVersionEntry(entry, whole)) {
        cleared++;
        const { rotted: _mark, ...unmarked } = entry;
        await writer.add(unmarked);
      } else await writer.add(entry);
    }
    await writer.commit(cursor.pieces);
  } catch (error) {
    await writer.discard();
    throw error;
  }
  report.index.marked = marked;
  report.index.cleared = cleared;
  report.index.notes.push(...cursor.opening.notes.filter((n) => !report.index.notes.includes(n)));
  report.index.written = writer.entries;
}

/** Whether two entries of one key name the same version: size, ETag, LastModified and version ID. */
function sameVersionEntry(a: IndexEntry, b: IndexEntry): boolean {
  return (
    a.size === b.size &&
    sameEtag(a.etag, b.etag) &&
    a.lastModified === b.lastModified &&
    a.versionId === b.versionId
  );
}

/**
 * Whether `entry` is of the very version `listed` names, in a bucket that keeps versions: the
 * listing names it (ListObjectVersions), and the entry records that ID, or records none as read
 * from the null version. A version this side wrote records none whatever its ID: unknown.
 */
function namesVersionOf(listed: ObjectSummary, entry: IndexEntry): boolean {
  if (listed.versionId === undefined) return false;
  if (entry.versionId !== undefined) return entry.versionId === listed.versionId;
  return entry.proof === "read" && listed.versionId === "null";
}
