import { randomBytes } from "node:crypto";
import { readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { INDEX_KEY_MARKER } from "@chunksync/core";
import type { ObjectStore } from "@chunksync/storage";
import { readAtMost } from "../readAtMost.js";
import { MANIFEST } from "./IndexCursor.js";
import { makeDirectory } from "./makeDirectory.js";

/**
 * Where one side keeps its digest index: a directory on this machine, or a prefix in a bucket
 * that side's own credentials can write. Names are flat (`manifest.json`, `p-….jsonl`).
 */
export interface IndexLocation {
  /** Where it is, for messages: a directory path or an s3:// URL. */
  readonly description: string;
  /**
   * The file's bytes, or undefined when it does not exist; with `most`, no more than `most` + 1
   * of them: a file longer than its manifest says is rejected by its size without being read whole.
   */
  read(name: string, most?: number): Promise<Buffer | undefined>;
  /** Writes `name` whole: a reader sees the old bytes or the new ones, never a mix. */
  write(name: string, data: Buffer): Promise<void>;
  /** Removes `name`; nothing happens when it does not exist. */
  remove(name: string): Promise<void>;
  /** Every name there. */
  names(): AsyncIterable<string>;
}

/** A temporary file this old was left by a run that died mid-write: it is removed. */
const STRAY_AGE_MS = 60 * 60 * 1000;

/** An index in a local directory; each write goes to a temporary file renamed over the old one. */
export class DirectoryIndexLocation implements IndexLocation {
  constructor(readonly directory: string) {}

  get description(): string {
    return this.directory;
  }

  async read(name: string, most?: number): Promise<Buffer | undefined> {
    try {
      const path = join(this.directory, name);
      return await (most === undefined ? readFile(path) : readAtMost(path, most + 1));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  async write(name: string, data: Buffer): Promise<void> {
    await makeDirectory(this.directory);
    // rename() replaces the target in one step: a run killed mid-write leaves only a stray .tmp.
    const temporary = join(this.directory, `.${name}.${randomBytes(6).toString("hex")}.tmp`);
    try {
      await writeFile(temporary, data);
      await rename(temporary, join(this.directory, name));
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async remove(name: string): Promise<void> {
    await rm(join(this.directory, name), { force: true });
  }

  async *names(): AsyncIterable<string> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    for (const name of names) {
      if (!(name.startsWith(".") && name.endsWith(".tmp"))) {
        yield name;
        continue;
      }
      const path = join(this.directory, name);
      const modified = await stat(path).then(
        (s) => s.mtimeMs,
        () => undefined,
      );
      if (modified !== undefined && modified < Date.now() - STRAY_AGE_MS) await rm(path, { force: true });
    }
  }
}

/**
 * An index under a key prefix of a bucket, reached with that side's own store (its endpoint,
 * credentials and encryption). A PutObject replaces an object whole, so readers never see a mix.
 * Each name is kept as the key `prefix` + {@link INDEX_KEY_MARKER} + name: a run that lists the
 * bucket without this index's option still knows its keys for what they are (see isIndexKey).
 */
export class StoreIndexLocation implements IndexLocation {
  /** The manifest read by {@link check}, for the run's first read of it to take. */
  #manifest: Promise<Buffer | undefined> | undefined;

  constructor(
    readonly store: ObjectStore,
    /** The index's key prefix, ending in "/". */
    readonly prefix: string,
  ) {}

  get description(): string {
    return `s3://${this.store.bucket}/${this.prefix}`;
  }

  /**
   * Checks before any work that this side may read the index's prefix. Where the run will read
   * the index (`readsManifest`), by reading its manifest now, which the run's first read of it
   * takes: one round trip before the run, not a check and then a read. Else by one listing
   * request of at most one key.
   */
  async check(readsManifest: boolean): Promise<void> {
    if (!readsManifest) {
      for await (const _ of this.store.list(this.prefix, undefined, undefined, 1)) break;
      return;
    }
    const manifest = this.#read(MANIFEST);
    // Taken by the run's read, or by nothing where the run stops before it.
    manifest.catch(() => {});
    this.#manifest = manifest;
    await manifest;
  }

  read(name: string, most?: number): Promise<Buffer | undefined> {
    const manifest = this.#manifest;
    if (manifest !== undefined && name === MANIFEST && most === undefined) {
      this.#manifest = undefined;
      return manifest;
    }
    return this.#read(name, most);
  }

  async #read(name: string, most?: number): Promise<Buffer | undefined> {
    // One GET of the file (whatever its version), of its first `most` + 1 bytes where bounded.
    const got = await this.store.readFirst(this.#key(name), most === undefined ? 2 ** 40 : most + 1);
    if (got === undefined) return undefined;
    const pieces: Buffer[] = [];
    for await (const piece of got.body as Readable) pieces.push(piece as Buffer);
    return Buffer.concat(pieces);
  }

  async write(name: string, data: Buffer): Promise<void> {
    await this.store.put(this.#key(name), data, data.length, { metadata: {} }, undefined);
  }

  async remove(name: string): Promise<void> {
    await this.store.delete(this.#key(name));
  }

  async *names(): AsyncIterable<string> {
    const keys = this.#key("");
    for await (const object of this.store.list(keys)) {
      const name = object.key.slice(keys.length);
      if (!name.includes("/")) yield name;
    }
  }

  #key(name: string): string {
    return `${this.prefix}${INDEX_KEY_MARKER}${name}`;
  }
}
