import { randomBytes } from "node:crypto";
import {
  compareUtf8,
  decodePiece,
  encodeManifest,
  entryLine,
  type IndexEntry,
  type IndexScope,
  markStandsFor,
  type PieceRef,
  pieceChecksum,
  pieceHeader,
  pieceRunStart,
} from "@chunksync/core";
import { MANIFEST } from "./IndexCursor.js";
import type { IndexLocation } from "./IndexLocation.js";

/** Entries per piece: a piece is read whole when a run needs any key in it. */
const PIECE_ENTRIES = 4096;
/** And at most about this many bytes (large objects carry many digests). */
const PIECE_BYTES = 4 * 1024 * 1024;
/** An unreferenced piece younger than this may belong to a run still writing; it is left. */
const ORPHAN_AGE_MS = 60 * 60 * 1000;

/** The stored index a new one replaces, as far as the run read it (an IndexCursor). */
export interface StoredIndex {
  /** Its pieces, in key order. */
  readonly pieces: readonly PieceRef[];
  /** Whether this run read piece `name` whole and found it to be what its manifest says. */
  checked(name: string): boolean;
}

/**
 * Writes a side's new index as the run goes: entries in key order are cut into pieces, each
 * written under a new name, and the new manifest replaces the old one last. Until then the old
 * index stands whole; a run killed at any point leaves the old manifest or the new one, and
 * two runs at once each leave a whole index (the last to finish wins).
 *
 * A run that changed nothing writes nothing: while the new pieces come out byte for byte as the
 * `stored` index's pieces this run checked (a no-change run: the same entries cut at the same
 * places), they are held back, not written; at the first piece that differs, the held ones are
 * copied under new names (checked again as they are read), so a new index never names a piece
 * of the one it replaces, which another run may remove.
 */
export class IndexWriter {
  /** What the names of this run's pieces start with. */
  readonly #prefix = `p-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}-`;
  readonly #pieces: PieceRef[] = [];
  /** The leading pieces of #pieces that are the stored index's own, not written. */
  #held = 0;
  #lines: string[] = [];
  #bytes = 0;
  #first: string | undefined;
  #last: string | undefined;
  #entries = 0;

  constructor(
    readonly location: IndexLocation,
    readonly scope: IndexScope,
    /** The index this one replaces, if one was found whole: a new index just like it is not written. */
    readonly stored?: StoredIndex,
  ) {}

  /** Entries added so far. */
  get entries(): number {
    return this.#entries;
  }

  /** The key of the last entry added, if any: the next must come after it. */
  get lastKey(): string | undefined {
    return this.#last;
  }

  /**
   * Adds `entry`; entries come in ascending key order, each key once. A promise only when a
   * piece is due and being written: most entries are taken without a turn of the event loop.
   */
  add(entry: IndexEntry): Promise<void> | undefined {
    if (this.#last !== undefined && compareUtf8(this.#last, entry.key) >= 0) {
      throw new Error(`index entries out of key order: ${entry.key} after ${this.#last}`);
    }
    const line = entryLine(entry);
    this.#first ??= entry.key;
    this.#last = entry.key;
    this.#lines.push(line);
    this.#bytes += line.length;
    this.#entries++;
    if (this.#lines.length >= PIECE_ENTRIES || this.#bytes >= PIECE_BYTES) return this.#flush();
    return undefined;
  }

  /**
   * Writes what is left, then the manifest over the old one (see {@link commitIndex}); nothing
   * at all when the new index is the stored one, piece for piece (stray pieces of dead runs are
   * then left for a run that writes). A concurrent reader of the old manifest that misses a
   * piece drops it and reads its objects.
   */
  async commit(
    previous: readonly PieceRef[],
    marksSince?: () => Promise<ReadonlyMap<string, IndexEntry> | undefined>,
  ): Promise<void> {
    await this.#flush();
    if (this.#held === this.#pieces.length && this.#held === this.stored?.pieces.length) return;
    // Asked only of a run that replaces the index (one request): a run that changed nothing leaves
    // whatever index stands, marks and all.
    const marks = await marksSince?.();
    if (marks !== undefined && marks.size > 0) await this.#carry(marks);
    await commitIndex(this.location, this.scope, await this.finish(), previous);
  }

  /**
   * Puts `marks` (rot marks by key, from an index another run swapped in meanwhile) in place of
   * this index's entries of the versions they stand for (see `markStandsFor`): each piece that
   * holds such a key is written again, under a new name.
   */
  async #carry(marks: ReadonlyMap<string, IndexEntry>): Promise<void> {
    await this.#copyHeld();
    const keys = [...marks.keys()].sort(compareUtf8);
    for (const [at, piece] of this.#pieces.entries()) {
      const within = keys.some((k) => compareUtf8(piece.first, k) <= 0 && compareUtf8(k, piece.last) <= 0);
      if (!within) continue;
      const data = await this.location.read(piece.name, piece.bytes);
      if (data === undefined) throw new Error(`piece ${piece.name} of the new index is gone`);
      let carried = false;
      const entries = decodePiece(data, piece, this.scope).map((entry) => {
        const mark = marks.get(entry.key);
        if (mark === undefined || entry.rotted || !markStandsFor(mark, entry)) return entry;
        carried = true;
        return mark;
      });
      if (!carried) continue;
      const rewritten = Buffer.from(pieceHeader() + entries.map(entryLine).join(""));
      // A name no piece of this run has (its pieces are numbered from 0 to their count, less one).
      const name = this.#pieceName(this.#pieces.length + at);
      await this.location.write(name, rewritten);
      this.#pieces[at] = { ...piece, name, bytes: rewritten.length, sha256: pieceChecksum(rewritten) };
      await this.location.remove(piece.name).catch(() => {});
    }
  }

  /**
   * Writes what is left as a last piece and returns every piece written, in key order, for a
   * manifest written elsewhere (the workflow writes a page's pieces, and the manifest at the end).
   */
  async finish(): Promise<readonly PieceRef[]> {
    await this.#flush();
    await this.#copyHeld();
    return this.#pieces;
  }

  /** Removes the pieces this writer wrote: the run failed, and the old index stays as it was. */
  async discard(): Promise<void> {
    for (const piece of this.#pieces)
      if (piece.name.startsWith(this.#prefix)) await this.location.remove(piece.name).catch(() => {});
  }

  async #flush(): Promise<void> {
    if (this.#lines.length === 0) return;
    const data = Buffer.from(pieceHeader() + this.#lines.join(""));
    const piece = {
      name: this.#pieceName(this.#pieces.length),
      first: this.#first!,
      last: this.#last!,
      count: this.#lines.length,
      bytes: data.length,
      sha256: pieceChecksum(data),
    };
    this.#lines = [];
    this.#bytes = 0;
    this.#first = undefined;
    const stored = this.#held === this.#pieces.length ? this.stored?.pieces[this.#held] : undefined;
    if (stored !== undefined && samePiece(stored, piece) && this.stored!.checked(stored.name)) {
      this.#pieces.push(stored);
      this.#held++;
      return;
    }
    await this.#copyHeld();
    await this.location.write(piece.name, data);
    this.#pieces.push(piece);
  }

  /** Writes the held pieces under this run's names, from the stored ones (checked again). */
  async #copyHeld(): Promise<void> {
    for (let i = 0; i < this.#held; i++) {
      const stored = this.#pieces[i]!;
      const data = await this.location.read(stored.name, stored.bytes);
      if (data === undefined || data.length !== stored.bytes || pieceChecksum(data) !== stored.sha256)
        throw new Error(`piece ${stored.name} of the stored index changed before it could be copied`);
      const copy = { ...stored, name: this.#pieceName(i) };
      await this.location.write(copy.name, data);
      this.#pieces[i] = copy;
    }
    this.#held = 0;
  }

  #pieceName(at: number): string {
    return `${this.#prefix}${at}.jsonl`;
  }
}

/** The same entries in the same bytes (the name aside). */
function samePiece(a: PieceRef, b: PieceRef): boolean {
  return (
    a.first === b.first &&
    a.last === b.last &&
    a.count === b.count &&
    a.bytes === b.bytes &&
    a.sha256 === b.sha256
  );
}

/**
 * Makes `pieces` (in key order) the index at `location`: the manifest listing them replaces the
 * old one in one write, then the pieces of the index it replaced (`previous`) and stray pieces
 * of runs that died long ago are removed.
 */
export async function commitIndex(
  location: IndexLocation,
  scope: IndexScope,
  pieces: readonly PieceRef[],
  previous: readonly PieceRef[],
): Promise<void> {
  const manifest = { scope, pieces: [...pieces], writtenAt: new Date().toISOString() };
  await location.write(MANIFEST, encodeManifest(manifest));
  const kept = new Set(pieces.map((p) => p.name));
  const stale = new Set(previous.map((p) => p.name).filter((name) => !kept.has(name)));
  const cutoff = Date.now() - ORPHAN_AGE_MS;
  for await (const name of location.names()) {
    const written = pieceRunStart(name);
    if (written !== undefined && written < cutoff && !kept.has(name)) stale.add(name);
  }
  for (const name of stale) await location.remove(name).catch(() => {});
}
