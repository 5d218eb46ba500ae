import { mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Creates directory `path` and its missing parents, as `mkdir -p` does. Not Node's own
 * `mkdir(path, { recursive: true })`: where a parent exists but refuses to hold a new directory
 * with ENOENT (anything under `/proc`), Node 20's loops for ever at full CPU. Here each level is
 * made once its parent exists, and a refusal then is the caller's error.
 */
export async function makeDirectory(path: string): Promise<void> {
  try {
    await mkdir(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return existing(path, error);
    const parent = dirname(path);
    if (code !== "ENOENT" || parent === path) throw error;
    await makeDirectory(parent);
    await mkdir(path).catch((again: unknown) =>
      (again as NodeJS.ErrnoException).code === "EEXIST" ? existing(path, again) : Promise.reject(again),
    );
  }
}

/** Nothing to do where `path` is a directory already (made by another run at once, too). */
async function existing(path: string, error: unknown): Promise<void> {
  if (!(await stat(path)).isDirectory()) throw error;
}
