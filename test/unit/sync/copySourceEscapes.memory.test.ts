import { MemoryObjectStore } from "@chunksync/storage";
import { describe, expect, it } from "vitest";
import { flipByte, seededBytes } from "../../support/data.js";
import { syncWith, workflowWith } from "../../support/stores.js";

const MiB = 1024 * 1024;
const C = 5 * MiB;

const ENGINES = { direct: syncWith, workflow: workflowWith };

async function readWhole(store: MemoryObjectStore, key: string): Promise<Buffer> {
  const head = (await store.head(key))!;
  const parts: Buffer[] = [];
  for await (const p of await store.read(key, { offset: 0, length: head.size }, head.etag))
    parts.push(Buffer.from(p as Uint8Array));
  return Buffer.concat(parts);
}

/**
 * A changed object whose key holds a `%`, on a destination whose server is not known to read a
 * copy source's escapes once (as Ceph RGW 16's UploadPartCopy does not): no copy names it, and
 * no block exchange runs for it, since its parts are written at chunk level.
 */
describe("a key with a % on a destination that may decode a copy source twice", () => {
  for (const [name, engine] of Object.entries(ENGINES)) {
    for (const readOnce of [false, true]) {
      it(`${name} engine, escapes read once: ${readOnce}`, async () => {
        const source = new MemoryObjectStore({ bucket: "src" });
        const destination = new MemoryObjectStore({ bucket: "dst", copySourceEscapesReadOnce: readOnce });
        const key = "dir%2Ffile.bin";
        const data = seededBytes(`escaped-${name}`, 4 * C);
        const old = flipByte(data, 2 * C + 7);
        await source.put(key, data, data.length, { metadata: {} }, { ifNoneMatch: "*" });
        await destination.put(key, old, old.length, { metadata: {} }, { ifNoneMatch: "*" });
        const report = await engine(source, destination);
        expect(report.objects.changed).toBe(1);
        expect((await readWhole(destination, key)).equals(data)).toBe(true);
        if (readOnce) {
          // The unchanged chunks copied in place; the changed one matched block by block.
          expect(destination.calls("copyPart")).toBeGreaterThan(0);
          expect(report.bytes.transferred).toBeLessThan(C);
        } else {
          expect(destination.calls("copyPart") + destination.calls("copyObject")).toBe(0);
          // The old object read whole once to digest it (no index yet), then its three unchanged
          // chunks to build their parts, nothing else: no block round read the changed chunk.
          expect(report.bytes.destinationRead).toBe(4 * C + 3 * C);
          expect(report.bytes.transferred).toBe(C);
        }
      });
    }
  }
});
