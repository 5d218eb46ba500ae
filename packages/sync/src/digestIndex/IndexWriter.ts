import { randomBytes } from "node:crypto";
import {
  compareUtf8,
  encodeManifest,
  entryLine,
  type IndexEntry,
  type IndexScope,
  type PieceRef,
  pieceChecksum,
  pieceHeader,
} from "@chunksync/core";
import { MANIFEST } from "./IndexCursor.js";
import type { IndexLocation } from "./IndexLocation.js";

/** Entries per piece: a piece is read whole when a run needs any key in it. */
const PIECE_ENTRIES = 4096;
/** And at most about this many bytes (large objects carry many digests). */
const PIECE_BYTES = 4 * 1024 * 1024;
/** An unreferenced piece younger than this may belong to a run still writing; it is left. */
const ORPHAN_AGE_MS = 60 * 60 * 1000;

/**
 * Writes a side's new index as the run goes: entries in key order are cut into pieces, each
 * written under a new name, and the new manifest replaces the old one last. Until then the old
 * index stands whole; a run killed at any point leaves the old manifest or the new one, and
 * two runs at once each leave a whole index (the last to finish wins).
 */
export class IndexWriter {
  readonly #run = `${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
  readonly #pieces: PieceRef[] = [];
  #lines: string[] = [];
  #bytes = 0;
  #first: string | undefined;
  #last: string | undefined;
  #entries = 0;

  constructor(
    readonly location: IndexLocation,
    readonly scope: IndexScope,
  ) {}

  /** Entries added so far. */
  get entries(): number {
    return this.#entries;
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
   * Writes what is left, then the manifest over the old one (see {@link commitIndex}). A
   * concurrent reader of the old manifest that misses a piece drops it and reads its objects.
   */
  async commit(previous: readonly PieceRef[]): Promise<void> {
    await commitIndex(this.location, this.scope, await this.finish(), previous);
  }

  /**
   * Writes what is left as a last piece and returns every piece written, in key order, for a
   * manifest written elsewhere (the workflow writes a page's pieces, and the manifest at the end).
   */
  async finish(): Promise<readonly PieceRef[]> {
    await this.#flush();
    return this.#pieces;
  }

  /** Removes the pieces this writer wrote: the run failed, and the old index stays as it was. */
  async discard(): Promise<void> {
    for (const piece of this.#pieces) await this.location.remove(piece.name).catch(() => {});
  }

  async #flush(): Promise<void> {
    if (this.#lines.length === 0) return;
    const data = Buffer.from(pieceHeader() + this.#lines.join(""));
    const name = `p-${this.#run}-${this.#pieces.length}.jsonl`;
    await this.location.write(name, data);
    this.#pieces.push({
      name,
      first: this.#first!,
      last: this.#last!,
      count: this.#lines.length,
      bytes: data.length,
      sha256: pieceChecksum(data),
    });
    this.#lines = [];
    this.#bytes = 0;
    this.#first = undefined;
  }
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
    const written = pieceTime(name);
    if (written !== undefined && written < cutoff && !kept.has(name)) stale.add(name);
  }
  for (const name of stale) await location.remove(name).catch(() => {});
}

/** When the run that wrote piece `name` started (ms), from its name; undefined for other files. */
function pieceTime(name: string): number | undefined {
  const match = /^p-([0-9a-z]+)-[0-9a-f]+-\d+\.jsonl$/.exec(name);
  return match ? Number.parseInt(match[1]!, 36) : undefined;
}
