import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pairingTag } from "@chunksync/core";
import { MemoryObjectStore } from "@chunksync/storage";
import { DirectoryIndexLocation } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import { flipByte, seededBytes } from "../../support/data.js";
import { syncWith } from "../../support/stores.js";

const MiB = 1024 * 1024;
const secret = Buffer.alloc(32, 7);

/** A clock the test moves: stores state whole seconds, so entries need time to pass. */
function clock(start = Date.UTC(2026, 0, 1)) {
  let now = start;
  return {
    now: () => new Date(now),
    pass: (ms: number) => {
      now += ms;
    },
  };
}

function setup() {
  const time = clock();
  const source = new MemoryObjectStore({ bucket: "src", now: time.now });
  const destination = new MemoryObjectStore({ bucket: "dst", now: time.now });
  const dir = mkdtempSync(join(tmpdir(), "index-"));
  const scope = (bucket: string) => ({
    storage: "memory",
    bucket,
    prefix: "",
    chunkSize: 5 * MiB,
    algorithm: "sha256" as const,
    pairing: pairingTag(secret),
  });
  const index = {
    source: { location: new DirectoryIndexLocation(join(dir, "src")), scope: scope("src"), consult: true },
    destination: {
      location: new DirectoryIndexLocation(join(dir, "dst")),
      scope: scope("dst"),
      consult: true,
    },
  };
  const run = (overrides = {}) => syncWith(source, destination, { secret, index, ...overrides });
  return { time, source, destination, index, run };
}

async function put(store: MemoryObjectStore, key: string, data: Buffer) {
  await store.put(key, data, data.length, { metadata: {} }, undefined);
}

describe("digest index on in-memory stores", () => {
  const big = seededBytes("big", 12 * MiB);

  it("a second run over unchanged objects reads no byte on either side", async () => {
    const { time, source, run } = setup();
    await put(source, "a", big);
    await put(source, "b", seededBytes("b", 1000));
    time.pass(2000);
    const first = await run();
    expect(first.objects.missing).toBe(2);
    time.pass(2000);
    const second = await run();
    expect(second.objects.identical).toBe(2);
    expect(second.bytes.sourceRead).toBe(0);
    expect(second.bytes.destinationRead).toBe(0);
    expect(second.index?.source).toMatchObject({ fromIndex: 2, read: 0, found: "loaded", written: 2 });
    expect(second.index?.destination).toMatchObject({ fromIndex: 2, read: 0 });
  });

  it("a changed source object is read on the source only and re-composed", async () => {
    const { time, source, run } = setup();
    await put(source, "a", big);
    time.pass(2000);
    await run();
    time.pass(2000);
    await put(source, "a", flipByte(big, 7 * MiB));
    time.pass(2000);
    const second = await run();
    expect(second.objects.changed).toBe(1);
    expect(second.bytes.destinationRead).toBe(0);
    // The source digests its new version, then reads the changed chunk again to send it.
    expect(second.bytes.sourceRead).toBe(big.length + 5 * MiB);
    expect(second.bytes.transferred).toBe(5 * MiB);
    time.pass(2000);
    const third = await run();
    expect(third.objects.identical).toBe(1);
    expect(third.bytes.sourceRead + third.bytes.destinationRead).toBe(0);
  });
});
