import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pairingTag } from "@chunksync/core";
import { DirectoryIndexLocation, type SideIndexOptions } from "@chunksync/sync";

const MiB = 1024 * 1024;

/**
 * A clock a test moves by hand, for memory stores' `now`: stores state LastModified in whole
 * seconds, so an index entry stands only once time has passed.
 */
export function movableClock(start = Date.UTC(2026, 0, 1)) {
  let now = start;
  return {
    now: () => new Date(now),
    pass: (ms: number) => {
      now += ms;
    },
  };
}

/**
 * Digest indexes for memory stores `src` and `dst` (whole buckets, sha256 at 5 MiB chunks,
 * scoped by `secret`), in `dir/src` and `dir/dst` of a fresh temporary directory.
 */
export function memoryIndexes(secret: Buffer): {
  dir: string;
  source: SideIndexOptions;
  destination: SideIndexOptions;
} {
  const dir = mkdtempSync(join(tmpdir(), "index-"));
  const side = (bucket: string): SideIndexOptions => ({
    location: new DirectoryIndexLocation(join(dir, bucket)),
    scope: {
      storage: "memory",
      bucket,
      prefix: "",
      chunkSize: 5 * MiB,
      algorithm: "sha256",
      pairing: pairingTag(secret),
    },
    consult: true,
  });
  return { dir, source: side("src"), destination: side("dst") };
}

/** `index` as `check --full` takes it: each side's entries rebuilt from what the run reads, not consulted. */
export function unconsulted(index: { source: SideIndexOptions; destination: SideIndexOptions }) {
  return {
    source: { ...index.source, consult: false },
    destination: { ...index.destination, consult: false },
  };
}
