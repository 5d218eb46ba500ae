import {
  compareUtf8,
  entryAsListed,
  entryMayStand,
  type IndexEntry,
  type IndexScope,
  type ListedVersion,
  markStandsFor,
  type PieceRef,
  sameEtag,
} from "@chunksync/core";
import type { ObjectReader } from "@chunksync/storage";
import { bucketVersioning } from "./bucketVersioning.js";
import { IndexCursor } from "./IndexCursor.js";
import type { IndexLocation } from "./IndexLocation.js";
import { IndexWriter } from "./IndexWriter.js";

/** What one side's index did in a run, for the summary and `--json`. */
export interface SideIndexReport {
  /** Where the index is (a directory or an s3:// URL). */
  location: string;
  /** The stored index as the run found it: none yet, used, or dropped (see `notes`). */
  found: "absent" | "loaded" | "dropped";
  /** Why the index or some of its pieces were dropped and rebuilt by reading. */
  notes: string[];
  /** Objects whose digests this side took from its index, reading none of their bytes. */
  fromIndex: number;
  /** Compared objects whose bytes this side read (no entry, or one made for another version). */
  read: number;
  /** Entries in the index the run left behind; absent when it left the old index as it was. */
  written?: number;
}

export interface SideIndexOptions {
  location: IndexLocation;
  scope: IndexScope;
  /**
   * False to read every object the run takes up (`check --full`): their entries are rebuilt, not
   * consulted. The keys its filters pass over keep their stored entries, as in any run.
   */
  consult: boolean;
  /** False for a run that writes nothing (`sync --dry-run`): the index is consulted, and left as it was. */
  keep?: boolean;
}

/**
 * One side's digest index for one run: the stored entries it consults as the listing passes
 * their keys, and the new index it writes in the same order. An entry is found only where it
 * may still stand for the version listed (see `entryMayStand`: some need one HEAD first).
 */
export class SideIndex {
  readonly report: SideIndexReport;
  #failed = false;
  /** The stored entry the last lookup found, standing or not. */
  #passed: IndexEntry | undefined;
  /** Rot marks found for the versions listed, by key, until their key's entry is kept (see {@link keep}). */
  readonly #marks = new Map<string, IndexEntry>();

  private constructor(
    readonly cursor: IndexCursor,
    readonly writer: IndexWriter,
    readonly options: SideIndexOptions,
    readonly keeps: boolean,
  ) {
    const location = options.location;
    this.report = {
      location: location.description,
      found: cursor.opening.state,
      notes: cursor.opening.notes,
      fromIndex: 0,
      read: 0,
    };
  }

  static async open(options: SideIndexOptions): Promise<SideIndex> {
    const cursor = await IndexCursor.open(options.location, options.scope);
    const stored = cursor.opening.state === "loaded" ? cursor : undefined;
    const writer = new IndexWriter(options.location, options.scope, stored);
    return new SideIndex(cursor, writer, options, options.keep !== false);
  }

  /**
   * The stored entry of `key` if it may still stand for the version `listed` (see
   * `entryNeedsHead` for the HEAD some need), restated with what the listing says. Keys come in ascending order.
   */
  async find(key: string, listed: ListedVersion): Promise<IndexEntry | undefined> {
    const loading = this.loading(key);
    if (loading !== undefined) await loading;
    return this.lookup(key, listed);
  }

  /**
   * Whether this side's bucket keeps or kept versions, asked of `store` (see
   * {@link bucketVersioning}) only where the stored index holds entries to trust: false, and no
   * request, for a side with none. A state that could not be read counts as versioned, noted.
   */
  async versioned(store: ObjectReader, signal?: AbortSignal): Promise<boolean> {
    if (!this.holdsEntries) return false;
    const known = await bucketVersioning(store, signal);
    if (known.note !== undefined) this.note(known.note);
    return known.versioned;
  }

  /** Whether the stored index this run consults holds entries (pieces) at all. */
  get holdsEntries(): boolean {
    // A run that consults none (`check --full`) keeps the entries of the keys it passes over
    // as stored: the run that next consults them asks what they need.
    return this.options.consult && this.cursor.pieces.length > 0;
  }

  /** Adds `text` to what this side's index says of the run, once however often it is said. */
  note(text: string): void {
    if (!this.report.notes.includes(text)) this.report.notes.push(text);
  }

  /**
   * The stored piece to read before {@link lookup} can answer for `key`; undefined for none (see
   * IndexCursor). `taken`: false for a key the run's filters pass over.
   */
  loading(key: string, taken = true): Promise<void> | undefined {
    if (taken && !this.options.consult) return undefined;
    return this.cursor.loading(key);
  }

  /**
   * {@link find} where {@link loading} has nothing to read for `key`: no turn of the event loop.
   * An entry a scrub marked rotted is never found: its object's stored bytes are not its
   * digests' (see {@link rottedEntry}). A run that consults no entry finds one only for a key
   * its filters pass over (`taken` false), which keeps its entry and mark as stored.
   */
  lookup(key: string, listed: ListedVersion, taken = true): IndexEntry | undefined {
    if (taken && !this.options.consult) return undefined;
    const entry = this.cursor.lookup(key);
    this.#passed = entry;
    if (entry === undefined || !entryMayStand(entry, listed)) return undefined;
    if (!entry.rotted) return entryAsListed(entry, listed);
    this.#marks.set(key, entryAsListed(entry, listed));
    return undefined;
  }

  /**
   * `key`'s stored entry where a {@link lookup} of `key` found it marked rotted by a scrub and it
   * may still stand for the version listed (some need one HEAD to tell: see `entryNeedsHead`): a
   * source refuses to send that version, and the new index keeps the mark until a new version
   * replaces it. Asked before the key's entry is kept.
   */
  rottedEntry(key: string): IndexEntry | undefined {
    return this.#marks.get(key);
  }

  /**
   * The stored entry a run keeps for `key` where it settles nothing new of it: the one that may
   * stand for the version `listed` (see {@link find}), else its rot mark (see {@link rottedEntry}).
   */
  async stoodOrMarked(key: string, listed: ListedVersion): Promise<IndexEntry | undefined> {
    return (await this.find(key, listed)) ?? this.rottedEntry(key);
  }

  /**
   * `entry`, or the rot mark of its key where that was found for the very version `entry` is of
   * (an object this side read, not rewrote: `check` reads a rotted destination's object): a
   * mark stands until a new version replaces it, lest a run the other way take the rot for the
   * object's bytes.
   */
  #marked(entry: IndexEntry): IndexEntry {
    const mark = this.#marks.get(entry.key);
    if (mark === undefined) return entry;
    this.#marks.delete(entry.key);
    if (entry === mark) return entry;
    return markStandsFor(mark, entry) ? mark : entry;
  }

  /**
   * The chunk digests of `key`'s stored entry where the last {@link lookup} was of `key` and
   * found that entry no longer standing: the key's last indexed version, which tells which
   * chunks of the version listed now likely changed. Never a verdict: only the challenge is.
   * None where that entry is of the version `listed` itself (read in the second it was written,
   * and not confirmed by a HEAD past that second): its digests tell nothing of what changed, and the run then keeps every
   * chunk it reads where there is room, as if each had changed; taken as the prior, they kept
   * none, and the block round and the write read the changed chunks again.
   */
  priorDigests(key: string, listed: ListedVersion): readonly Buffer[] | undefined {
    const entry = this.storedEntry(key);
    if (entry === undefined) return undefined;
    return entry.size === listed.size && sameEtag(entry.etag, listed.etag) ? [] : entry.digests;
  }

  /**
   * `key`'s stored entry as the last {@link lookup}, which was of `key`, read it, whether or not
   * it stands for the version listed: what a stopped run keeps, as it was, for a key it did not
   * settle (see {@link commitSettled}).
   */
  storedEntry(key: string): IndexEntry | undefined {
    const entry = this.#passed;
    return entry?.key === key ? entry : undefined;
  }

  /**
   * Adds the entry of the next key in order to the new index. An index that cannot be written
   * costs the next run its reads, never this run its objects: the failure is noted and the
   * old index left as it was.
   */
  keep(entry: IndexEntry): Promise<void> | undefined {
    if (this.#failed || !this.keeps) return undefined;
    try {
      // A promise only while a piece is written (see IndexWriter.add); it never rejects.
      return this.writer.add(this.#marked(entry))?.catch((error: unknown) => this.#fail(error));
    } catch (error) {
      this.#fail(error);
      return undefined;
    }
  }

  /**
   * Makes the new index the side's index (after a run that reached its end), unless it keeps
   * none. Where another run swapped in an index since this one read its own (a scrub that ran
   * meanwhile), the rot marks that index holds for versions this run kept as they were are
   * carried into the new one: the last run to finish wins, but never over a scrub's finding.
   */
  async commit(): Promise<void> {
    if (this.#failed || !this.keeps) return this.discard();
    try {
      const stored = this.stored();
      await this.writer.commit(stored.pieces, this.#marksSince(stored.pieces));
      this.report.written = this.writer.entries;
    } catch (error) {
      this.#fail(error);
      await this.discard();
    }
  }

  /**
   * Makes the index the side's index after a run that stopped before its end (interrupted, or
   * failed): the entries of the keys it settled in order, then, after the last of them, the
   * entries of the keys it settled out of order (`later`, ascending: objects beyond one still in
   * progress) merged with the stored entries of the other keys, as they were. A stored entry
   * stands only for the version it names, so one the run would have replaced (an object it was
   * writing, or one removed) never decides a later run. The rerun then reads only what this run
   * did not settle.
   */
  async commitSettled(later: readonly IndexEntry[] = []): Promise<void> {
    // A run stopped before it settled any entry leaves the old index as it was.
    const after = this.writer.lastKey;
    if (this.#failed || !this.keeps || (after === undefined && later.length === 0)) return this.discard();
    try {
      const stored = this.stored();
      let next = 0;
      for await (const entry of stored.entries(after)) {
        while (next < later.length && compareUtf8(later[next]!.key, entry.key) < 0)
          await this.writer.add(later[next++]!);
        // The run's own entry of a key replaces the stored one.
        if (later[next]?.key === entry.key) await this.writer.add(later[next++]!);
        else await this.writer.add(entry);
      }
      while (next < later.length) await this.writer.add(later[next++]!);
      await this.writer.commit(stored.pieces, this.#marksSince(stored.pieces));
      this.report.written = this.writer.entries;
      for (const note of stored.opening.notes) this.note(note);
    } catch (error) {
      this.#fail(error);
      await this.discard();
    }
  }

  /** The stored index this one replaces, as the run read it. */
  stored(): IndexCursor {
    return this.cursor;
  }

  /**
   * Writes what is left as pieces and returns every piece written, in key order, for a manifest
   * written elsewhere (the workflow writes each page's pieces, and the manifest at the end);
   * undefined when they could not be written (noted: the old index stands).
   */
  async pieces(): Promise<readonly PieceRef[] | undefined> {
    if (this.#failed) return undefined;
    try {
      return await this.writer.finish();
    } catch (error) {
      this.#fail(error);
      return undefined;
    }
  }

  /** How to ask for the marks of an index swapped in since the run read the one whose pieces were `read`. */
  #marksSince(read: readonly PieceRef[]) {
    return () => marksSince(this.options, read);
  }

  #fail(error: unknown): void {
    this.#failed = true;
    this.report.notes.push(notWrittenNote(error));
  }

  /** Leaves the stored index as it was. */
  async discard(): Promise<void> {
    await this.writer.discard();
  }
}

/**
 * The rot marks of the index stored at `options.location` now, by key, where it is no longer the
 * one whose pieces were `read` (another run swapped in its own since); undefined where it is.
 */
async function marksSince(
  options: SideIndexOptions,
  read: readonly PieceRef[],
): Promise<Map<string, IndexEntry> | undefined> {
  const now = await IndexCursor.open(options.location, options.scope);
  const names = (pieces: readonly PieceRef[]) => pieces.map((p) => p.name).join("/");
  if (now.opening.state !== "loaded" || names(now.pieces) === names(read)) return undefined;
  const marks = new Map<string, IndexEntry>();
  for await (const entry of now.entries()) if (entry.rotted) marks.set(entry.key, entry);
  return marks;
}

const NOT_WRITTEN = "the new index could not be written";

/** What a side's index says where its new index could not be written: what was stored before stands, if anything was. */
export function notWrittenNote(error: unknown): string {
  return `${NOT_WRITTEN} (${(error as Error).message}); the index stored before this run, if any, stands`;
}

/** Whether `note` is a {@link notWrittenNote}. */
export function isNotWrittenNote(note: string): boolean {
  return note.startsWith(`${NOT_WRITTEN} (`);
}
