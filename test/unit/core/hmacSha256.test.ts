import { createHmac } from "node:crypto";
import { BlockBytes, HmacSha256 } from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

describe("HmacSha256", () => {
  test("gives createHmac's bytes for any key and message, call after call on one key", () => {
    fc.assert(
      fc.property(
        // Keys shorter than, as long as and longer than SHA-256's 64-byte block (hashed first).
        fc.uint8Array({ maxLength: 160 }),
        fc.array(fc.tuple(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 80 })), {
          minLength: 1,
          maxLength: 6,
        }),
        (key, messages) => {
          const hmac = new HmacSha256(key);
          for (const [first, second] of messages)
            expect(hmac.mac(first, second).toString("hex")).toBe(
              createHmac("sha256", key).update(first).update(second).digest("hex"),
            );
        },
      ),
    );
  });
});

describe("BlockBytes", () => {
  test("gives back each block's bytes whole, however they came, while others share its spare buffers", () => {
    fc.assert(
      fc.property(
        // Blocks fed in turns to a few holders at once, as concurrent reads feed their chunkers.
        fc.array(
          fc.tuple(fc.nat({ max: 2 }), fc.array(fc.uint8Array({ maxLength: 90_000 }), { maxLength: 4 })),
          {
            maxLength: 12,
          },
        ),
        (blocks) => {
          const holders = [0, 1, 2].map(() => new BlockBytes(400_000));
          for (const [h, pieces] of blocks) {
            const holder = holders[h] as BlockBytes;
            const tail = pieces.at(-1) ?? new Uint8Array(0);
            for (const piece of pieces.slice(0, -1)) holder.keep(piece);
            expect(Buffer.from(holder.take(tail)).equals(Buffer.concat(pieces))).toBe(true);
            expect(holder.length).toBe(0);
            if (h === 2) holder.release();
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});
