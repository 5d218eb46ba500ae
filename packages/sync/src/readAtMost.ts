import { open } from "node:fs/promises";

/**
 * The first `max` bytes of the file at `path`, read until it ends or `max` is reached, a pipe or
 * a device as well as a file: what a file larger than its reader takes costs no more than that.
 */
export async function readAtMost(path: string, max: number): Promise<Buffer> {
  const file = await open(path, "r");
  try {
    const buffer = Buffer.alloc(max);
    let length = 0;
    while (length < max) {
      const { bytesRead } = await file.read(buffer, length, max - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } finally {
    await file.close();
  }
}
