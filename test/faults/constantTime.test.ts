import * as crypto from "node:crypto";
import { randomBytes } from "node:crypto";
import {
  answerChallenge,
  type ChallengeResponse,
  createChallenge,
  digestOf,
  MIN_CHUNK_SIZE,
  planChunks,
  VARIANTS,
  verifyResponse,
} from "@chunksync/core";
import { describe, expect, it, vi } from "vitest";
import { scenario } from "../support/faultLedger.js";

// Every import of node:crypto in this file's module graph (the core package included) gets a
// timingSafeEqual that counts its calls and still compares.
vi.mock("node:crypto", async (importOriginal) => {
  const original = await importOriginal<typeof import("node:crypto")>();
  return { ...original, timingSafeEqual: vi.fn(original.timingSafeEqual) };
});

describe("the answer comparison is constant-time", () => {
  it.each(VARIANTS)(
    "%s: every answer, equal or not, goes through crypto.timingSafeEqual",
    async (variant) => {
      await scenario(
        "5 attacks on the challenge",
        `timingSafeEqual on every answer (${variant})`,
        async () => {
          const spy = vi.mocked(crypto.timingSafeEqual);
          const secret = randomBytes(32);
          const chunks = [randomBytes(100), randomBytes(100), randomBytes(100), randomBytes(100)];
          const plan = planChunks(3 * MIN_CHUNK_SIZE + 100, MIN_CHUNK_SIZE);
          const digests = new Map(chunks.map((c, i) => [i, digestOf("sha256", c)]));
          const ids = {
            source: { bucket: "s", key: "k", etag: '"1"' },
            destination: { bucket: "d", key: "k", etag: '"2"' },
          };
          const { request, expectation } = createChallenge({
            secret,
            variant,
            algorithm: "sha256",
            plan,
            ...ids,
            digests,
          });
          // Chunks 1 and 3 differ on the destination.
          const theirs = new Map(digests);
          theirs.set(1, digestOf("sha256", randomBytes(100)));
          theirs.set(3, digestOf("sha256", randomBytes(100)));
          const response: ChallengeResponse = answerChallenge({
            secret,
            request,
            destination: { etag: '"2"', size: plan.size },
            digests: theirs,
          });
          spy.mockClear();
          const result = verifyResponse({ request, expectation, response });
          expect(result.chunks.map((c) => c.status)).toEqual(["equal", "differs", "equal", "differs"]);
          // One constant-time comparison per answer: no early exit on the first differing chunk,
          // and no other comparison decides a verdict.
          expect(spy).toHaveBeenCalledTimes(4);
          for (const [a, b] of spy.mock.calls) expect((a as Buffer).length).toBe((b as Buffer).length);
        },
      );
    },
  );
});
