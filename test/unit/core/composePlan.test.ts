import { chunkRange, MAX_CHUNK_SIZE, MiB, planChunks, planCompose } from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

describe("planCompose", () => {
  it("tiles the object exactly, uploads exactly the changed chunks, and keeps every part within S3's limits", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 * 1024 * MiB }),
        fc.integer({ min: 5, max: 64 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (size, chunkMiB, picks) => {
          const plan = planChunks(size, chunkMiB * MiB);
          const changed = new Set(picks.map((p) => p % plan.count));
          const { parts, uploadBytes, copyBytes } = planCompose(plan, changed);
          let offset = 0;
          for (const [i, part] of parts.entries()) {
            expect(part.offset).toBe(offset);
            expect(part.length).toBeLessThanOrEqual(MAX_CHUNK_SIZE);
            if (i < parts.length - 1) expect(part.length).toBeGreaterThanOrEqual(5 * MiB);
            offset += part.length;
          }
          expect(offset).toBe(size);
          expect(parts.length).toBeLessThanOrEqual(10_000);
          const uploaded = parts.filter((p) => p.kind === "upload");
          expect(uploaded.map((p) => p.offset)).toEqual(
            [...changed].sort((a, b) => a - b).map((i) => chunkRange(plan, i).offset),
          );
          expect(uploadBytes + copyBytes).toBe(size);
          // Adjacent copies merge unless the merged part would pass 5 GiB.
          for (let i = 1; i < parts.length; i++) {
            const [a, b] = [parts[i - 1]!, parts[i]!];
            if (a.kind === "copy" && b.kind === "copy")
              expect(a.length + b.length).toBeGreaterThan(MAX_CHUNK_SIZE);
          }
        },
      ),
    );
  });

  it("re-composes a 10 GiB object with one changed chunk in the middle as 5 GiB copy + chunk + copy", () => {
    const plan = planChunks(10 * 1024 * MiB, 8 * MiB);
    const { parts, uploadBytes } = planCompose(plan, new Set([640]));
    expect(parts.map((p) => p.kind)).toEqual(["copy", "upload", "copy"]);
    expect(uploadBytes).toBe(8 * MiB);
  });
});
