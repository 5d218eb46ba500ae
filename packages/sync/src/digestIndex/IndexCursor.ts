import {
  compareUtf8,
  decodeManifest,
  decodePiece,
  type IndexEntry,
  type IndexManifest,
  IndexRejectedError,
  type IndexScope,
  type PieceRef,
} from "@chunksync/core";
import { describeError, type FailureDescription } from "../errorCodes.js";
import type { IndexLocation } from "./IndexLocation.js";

/** The manifest's name in an index location. */
export const MANIFEST = "manifest.json";

/** What became of a stored index as a run opened and read it. */
export interface IndexOpening {
  state: "absent" | "loaded" | "dropped";
  /** Why the index, or some of its pieces, were dropped; empty when all was used. */
  notes: string[];
  /**
   * Pieces dropped as they were read, whose objects this run took from no entry: damaged or
   * missing ones (a sync rebuilds them), and ones that could not be read (an error: they may
   * stand for the next run, whose syncs then trust their entries). A scrub judged none of those
   * objects.
   */
  unread: UnreadPiece[];
}

/** A piece of the index that was dropped as it was read, and why. */
export interface UnreadPiece extends FailureDescription {
  piece: string;
  /** Entries it holds, as the manifest says. */
  objects: number;
}

/**
 * Reads a side's stored index in key order, one piece in memory at a time, for keys asked in
 * ascending order (as the merged listings come). A piece that is missing, damaged or does not
 * hold what the manifest says is dropped with a note: its objects are read again.
 */
export class IndexCursor {
  #next = 0;
  #entries: IndexEntry[] = [];
  #position = 0;
  #current: PieceRef | undefined;
  /** The read of the piece in hand while it is under way. */
  #reading: Promise<void> | undefined;
  readonly #checked = new Set<string>();

  private constructor(
    readonly location: IndexLocation,
    readonly scope: IndexScope,
    /** The pieces of the stored index, in key order; none when there was no usable index. */
    readonly pieces: readonly PieceRef[],
    readonly opening: IndexOpening,
    /** What becomes of a dropped piece's objects, as its note says it. */
    readonly dropped: string,
  ) {}

  /**
   * Opens the index at `location`; an absent, damaged, old-format or foreign one opens empty.
   * `dropped` says what becomes of the objects of a piece dropped as it is read (a sync reads
   * them again; a scrub leaves them unchecked).
   */
  static async open(
    location: IndexLocation,
    scope: IndexScope,
    dropped = "are read again",
  ): Promise<IndexCursor> {
    const cursor = (pieces: readonly PieceRef[], opening: IndexOpening) =>
      new IndexCursor(location, scope, pieces, opening, dropped);
    let data: Buffer | undefined;
    try {
      data = await location.read(MANIFEST);
    } catch (error) {
      const note = `its manifest could not be read (${(error as Error).message})`;
      return cursor([], { state: "dropped", notes: [note], unread: [] });
    }
    if (data === undefined) return cursor([], { state: "absent", notes: [], unread: [] });
    let manifest: IndexManifest;
    try {
      manifest = decodeManifest(data, scope);
      checkPieceOrder(manifest.pieces);
    } catch (error) {
      if (!(error instanceof IndexRejectedError)) throw error;
      return cursor([], { state: "dropped", notes: [error.message], unread: [] });
    }
    return cursor(manifest.pieces, { state: "loaded", notes: [], unread: [] });
  }

  /** The stored entry for `key`, if any. Keys must be asked in ascending UTF-8 byte order. */
  async find(key: string): Promise<IndexEntry | undefined> {
    const loading = this.loading(key);
    if (loading !== undefined) await loading;
    return this.lookup(key);
  }

  /**
   * Reads the piece that may hold `key`, where that is not the one in hand; undefined when
   * {@link lookup} can answer for `key` now (most keys: a piece holds thousands). Keys must
   * be asked in ascending UTF-8 byte order, each after the piece it needed was read. While a
   * piece is read, every ask is answered with that read: the piece is in hand, its entries not yet.
   */
  loading(key: string): Promise<void> | undefined {
    if (this.#reading !== undefined) return this.#reading;
    // Pieces wholly before `key` are passed over unread.
    while (this.#current === undefined || compareUtf8(this.#current.last, key) < 0) {
      const piece = this.pieces[this.#next];
      if (piece === undefined) return undefined;
      if (compareUtf8(piece.last, key) < 0) {
        this.#next++;
        continue;
      }
      if (compareUtf8(piece.first, key) > 0) return undefined;
      this.#next++;
      this.#current = piece;
      this.#entries = [];
      this.#position = 0;
      const reading = this.#load(piece).then((entries) => {
        this.#entries = entries;
        this.#reading = undefined;
      });
      this.#reading = reading;
      return reading;
    }
    return undefined;
  }

  /** The stored entry for `key` in the piece in hand, once {@link loading} has nothing to read for it. */
  lookup(key: string): IndexEntry | undefined {
    if (this.#current === undefined || compareUtf8(this.#current.last, key) < 0) return undefined;
    while (this.#position < this.#entries.length) {
      const entry = this.#entries[this.#position]!;
      const order = compareUtf8(entry.key, key);
      if (order > 0) return undefined;
      this.#position++;
      if (order === 0) return entry;
    }
    return undefined;
  }

  /** Whether piece `name` was read whole and found to be what the manifest says (see IndexWriter). */
  checked(name: string): boolean {
    return this.#checked.has(name);
  }

  /**
   * Every stored entry in key order after `key` (all of them for none), one piece in memory at
   * a time, reading only the pieces that hold such entries; a bad piece is dropped with a note.
   */
  async *entries(key?: string): AsyncGenerator<IndexEntry> {
    for (const piece of this.pieces) {
      if (key !== undefined && compareUtf8(piece.last, key) <= 0) continue;
      for (const entry of await this.#load(piece))
        if (key === undefined || compareUtf8(entry.key, key) > 0) yield entry;
    }
  }

  async #load(piece: PieceRef): Promise<IndexEntry[]> {
    try {
      const data = await this.location.read(piece.name, piece.bytes);
      if (data === undefined) throw new IndexRejectedError("damaged", `piece ${piece.name} is missing`);
      const entries = decodePiece(data, piece, this.scope);
      this.#checked.add(piece.name);
      return entries;
    } catch (error) {
      // A rejection names the piece; an error of the file system (EISDIR, EACCES) does not.
      const reason =
        error instanceof IndexRejectedError
          ? error.message
          : `piece ${piece.name} could not be read (${(error as Error).message})`;
      this.opening.notes.push(`${reason}: its objects (${piece.count}) ${this.dropped}`);
      const failure =
        error instanceof IndexRejectedError
          ? { code: error.code, message: error.message }
          : describeError(error);
      this.opening.unread.push({ piece: piece.name, objects: piece.count, ...failure });
      return [];
    }
  }
}

/** A manifest whose pieces overlap or are out of order cannot be searched in one pass. */
function checkPieceOrder(pieces: readonly PieceRef[]): void {
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    const previous = pieces[i - 1];
    const inOrder =
      compareUtf8(piece.first, piece.last) <= 0 &&
      (previous === undefined || compareUtf8(previous.last, piece.first) < 0);
    if (!inOrder) throw new IndexRejectedError("damaged", "its manifest lists pieces out of key order");
  }
}
