import { createCipheriv, createHash, createHmac, randomBytes } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import {
  answerChallenge,
  type ChallengeRequest,
  type ChallengeResponse,
  chunkRange,
  createChallenge,
  DIGEST_ALGORITHMS,
  type Direction,
  deriveChunkKey,
  digestOf,
  encodeAnswer,
  encodeContext,
  hkdfSha256,
  MIN_CHUNK_SIZE,
  type ObjectIdentity,
  PROTOCOL_VERSION,
  planChunks,
  VARIANTS,
  type Variant,
  verifyResponse,
} from "@chunksync/core";
import { DestinationSide, Limiter, ObjectChangedError, SourceSide } from "@chunksync/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededBytes } from "../support/data.js";
import { scenario } from "../support/faultLedger.js";
import { createBucket, emptyAndDeleteBucket, putObject, s3Client, uniqueBucketName } from "../support/s3.js";
import { storeFor } from "../support/stores.js";

const CATEGORY = "5 attacks on the challenge";
const C = MIN_CHUNK_SIZE;

/**
 * The real data planes over the local S3. Every chunk of the objects holds the same bytes,
 * so every chunk has the same digest: an answer that is not bound to its chunk index,
 * object or direction would pass for another.
 */
describe("a dishonest destination, against the real source and destination sides", () => {
  let src: S3Client;
  let dst: S3Client;
  let srcBucket: string;
  let dstBucket: string;
  const block = seededBytes("attack-block", C);
  const same = Buffer.concat([block, block, block]);
  const secret = randomBytes(32);

  beforeAll(async () => {
    src = s3Client("source");
    dst = s3Client("destination");
    srcBucket = uniqueBucketName("src-attack");
    dstBucket = uniqueBucketName("dst-attack");
    await createBucket(src, srcBucket);
    await createBucket(dst, dstBucket);
    await putObject(src, srcBucket, "obj", same);
    await putObject(dst, dstBucket, "obj", same);
    await putObject(dst, dstBucket, "twin", same);
  });

  afterAll(async () => {
    await emptyAndDeleteBucket(src, srcBucket);
    await emptyAndDeleteBucket(dst, dstBucket);
  });

  async function sides(variant: Variant) {
    const limiter = new Limiter(4);
    const source = await storeFor("source", srcBucket);
    const destination = await storeFor("destination", dstBucket);
    return {
      source,
      destination,
      sourceSide: new SourceSide({ store: source, secret, algorithm: "sha256", variant, limiter }),
      destinationSide: new DestinationSide({ store: destination, secret, limiter }),
    };
  }

  async function identities(key: string) {
    const s = await (await storeFor("source", srcBucket)).head("obj");
    const d = await (await storeFor("destination", dstBucket)).head(key);
    const srcId: ObjectIdentity = { bucket: srcBucket, key: "obj", etag: s!.etag };
    const dstId: ObjectIdentity = { bucket: dstBucket, key, etag: d!.etag };
    return { srcId, dstId, plan: planChunks(s!.size, C) };
  }

  const statuses = (r: ReturnType<typeof verifyResponse>) => r.chunks.map((c) => c.status);

  it.each(VARIANTS)(
    "%s: replayed, stale, other-chunk, other-object and other-direction answers never pass",
    async (variant) => {
      await scenario(CATEGORY, `dishonest destination (${variant})`, async () => {
        const { sourceSide, destinationSide } = await sides(variant);
        const { srcId, dstId, plan } = await identities("obj");
        const all = [0, 1, 2];
        const ask = () => sourceSide.challenge(srcId, dstId, plan, all);

        // Control: the honest answer is equal, so "never equal" below is the attacks failing.
        const first = await ask();
        const honest = await destinationSide.answer(first.request);
        expect(statuses(verifyResponse({ ...first, response: honest }))).toEqual(["equal", "equal", "equal"]);

        const { request, expectation } = await ask();
        const attacks: Record<string, ChallengeResponse> = {};
        // 1. Replay of the earlier response, as sent and relabelled with the new request's id.
        attacks.replay = honest;
        attacks["replay, relabelled"] = { ...honest, requestId: request.id };
        // 2. Answers for another chunk: every chunk's bytes are equal, only the index differs.
        const fresh = await destinationSide.answer(request);
        attacks["answers rotated to other chunks"] = {
          ...fresh,
          answers: fresh.answers.map((a, i) => ({
            index: a.index,
            value: fresh.answers[(i + 1) % 3]!.value!,
          })),
        };
        // 3. Answers for another object holding the same bytes ("twin"), relabelled as "obj".
        const twin = await identities("twin");
        const forTwin = await sourceSide.challenge(srcId, twin.dstId, plan, all);
        const twinHonest = await destinationSide.answer(forTwin.request);
        attacks["answers for another object"] = {
          ...twinHonest,
          requestId: request.id,
          destination: fresh.destination,
        };
        // 4. Answers for the other direction, computed from this very request with the true digests.
        const flipped: Direction =
          request.direction === "source-to-destination" ? "destination-to-source" : "source-to-destination";
        const digests = new Map(all.map((i) => [i, digestOf("sha256", block)]));
        attacks["answers for the other direction"] = answerChallenge({
          secret,
          request: { ...request, direction: flipped },
          destination: fresh.destination,
          digests,
        });
        for (const [name, response] of Object.entries(attacks)) {
          expect(statuses(verifyResponse({ request, expectation, response })), name).toEqual([
            "differs",
            "differs",
            "differs",
          ]);
        }
        // Control for the attack builder: the same request answered honestly is equal.
        expect(statuses(verifyResponse({ request, expectation, response: fresh }))).toEqual([
          "equal",
          "equal",
          "equal",
        ]);
      });
    },
  );

  it.each(VARIANTS)(
    "%s: a stale answer (the old object's) never passes, and the real side refuses to answer for a replaced object",
    async (variant) => {
      await scenario(CATEGORY, `stale digest (${variant})`, async () => {
        const { sourceSide, destinationSide } = await sides(variant);
        await putObject(dst, dstBucket, "stale", same);
        const before = await identities("stale");
        const old = await sourceSide.challenge(before.srcId, before.dstId, before.plan, [0, 1, 2]);
        const oldAnswer = await destinationSide.answer(old.request);
        expect(statuses(verifyResponse({ ...old, response: oldAnswer }))).toEqual([
          "equal",
          "equal",
          "equal",
        ]);

        // The destination object is replaced; its chunks now differ from the source's.
        await putObject(dst, dstBucket, "stale", seededBytes("stale-new", 3 * C));
        const after = await identities("stale");
        const now = await sourceSide.challenge(after.srcId, after.dstId, after.plan, [0, 1, 2]);
        // A destination that kept the old object's digests answers the new request with them.
        const staleDigests = new Map([0, 1, 2].map((i) => [i, digestOf("sha256", block)]));
        const attacks: Record<string, ChallengeResponse> = {
          "the old response, relabelled": {
            ...oldAnswer,
            requestId: now.request.id,
            destination: { ...oldAnswer.destination, etag: after.dstId.etag },
          },
          "old digests under the old ETag": answerChallenge({
            secret,
            request: { ...now.request, destination: before.dstId },
            destination: { etag: before.dstId.etag, size: 3 * C },
            digests: staleDigests,
          }),
        };
        for (const [name, response] of Object.entries(attacks)) {
          expect(statuses(verifyResponse({ ...now, response })), name).not.toContain("equal");
        }
        // The honest side answering the old request now refuses: it never answers from a replaced object.
        await expect(destinationSide.answer(old.request)).rejects.toBeInstanceOf(ObjectChangedError);
        // And honestly, the new object differs.
        const honest = await destinationSide.answer(now.request);
        expect(statuses(verifyResponse({ ...now, response: honest }))).toEqual([
          "differs",
          "differs",
          "differs",
        ]);
      });
    },
  );
});

/**
 * An observer holds every nonce, request, response and expectation of a run (say, it reads
 * the workflow's state), but not the pairing secret K. Can it confirm a guess of a chunk's
 * content? It computes everything it can without K from each guess, and checks whether any
 * of it matches anything it observed. The right guess and a wrong one must look the same.
 */
describe("an observer without the pairing secret cannot confirm a guessed chunk", () => {
  const right = seededBytes("secret-chunk", 1000);
  const wrong = seededBytes("another-chunk", 1000);

  /** Every byte string a run exposes, decoded from the messages (base64url fields and all). */
  function observed(...messages: unknown[]): Set<string> {
    const out = new Set<string>();
    const walk = (v: unknown) => {
      if (typeof v === "string") {
        out.add(v);
        out.add(Buffer.from(v, "base64url").toString("hex"));
      } else if (Array.isArray(v)) v.forEach(walk);
      else if (v !== null && typeof v === "object") Object.values(v).forEach(walk);
    };
    messages.forEach(walk);
    return out;
  }

  /**
   * Everything computable from a guess and the observed messages without K: its digests under
   * every algorithm, and every construction of the protocol keyed with every value the observer
   * has (the nonce, the request id, the IVs, the digest itself, zero and empty keys) in place of K.
   */
  function computable(guess: Buffer, request: ChallengeRequest, response: ChallengeResponse): Set<string> {
    const out = new Set<string>();
    const add = (b: Buffer) => {
      out.add(b.toString("hex"));
      out.add(b.toString("base64url"));
    };
    const keys: Buffer[] = [Buffer.alloc(0), Buffer.alloc(32), Buffer.from(request.id, "base64url")];
    if (request.nonce) keys.push(Buffer.from(request.nonce, "base64url"));
    for (const s of request.sealed ?? [])
      keys.push(Buffer.from(s.iv, "base64url"), Buffer.from(s.ct, "base64url"));
    for (const a of response.answers) if (a.value) keys.push(Buffer.from(a.value, "base64url"));
    for (const algorithm of DIGEST_ALGORITHMS) {
      const digest = digestOf(algorithm, guess);
      add(digest);
      add(createHash("sha256").update(digest).digest());
      for (const index of request.indices) {
        const range = chunkRange(request.plan, index);
        const ctx = encodeContext({
          version: PROTOCOL_VERSION,
          direction: request.direction,
          algorithm,
          source: request.source,
          destination: request.destination,
          index,
          offset: range.offset,
          length: range.length,
        });
        for (const key of [...keys, digest]) {
          // encode's answer with a guessed key in place of K.
          const nonce = request.nonce ? Buffer.from(request.nonce, "base64url") : Buffer.alloc(0);
          add(createHmac("sha256", key).update(ctx).update(nonce).update(digest).digest());
          add(createHmac("sha256", key).update(digest).digest());
          // decode's chunk key with a guessed salt in place of K, and the sealed nonce it would open.
          const chunkKey = hkdfSha256(digest, key, ctx);
          add(chunkKey);
          const sealed = request.sealed?.find((s) => s.index === index);
          if (sealed) {
            const decipher = createCipheriv("aes-256-ctr", chunkKey, Buffer.from(sealed.iv, "base64url"));
            add(decipher.update(Buffer.from(sealed.ct, "base64url")));
          }
        }
      }
    }
    return out;
  }

  const matches = (a: Set<string>, b: Set<string>) => [...a].filter((x) => b.has(x)).length;

  it.each(VARIANTS)(
    "%s: the right guess and a wrong one both match nothing; with K the right one would",
    async (variant) => {
      await scenario(CATEGORY, `observer guessing a chunk (${variant})`, async () => {
        const secret = randomBytes(32);
        const algorithm = "crc32c" as const; // the weakest digest: 2^32 values, so guessing is the threat
        const plan = planChunks(right.length, C);
        const ids = {
          source: { bucket: "src", key: "payroll.csv", etag: '"1"' },
          destination: { bucket: "dst", key: "payroll.csv", etag: '"2"' },
        };
        const digest = digestOf(algorithm, right);
        const { request, expectation } = createChallenge({
          secret,
          variant,
          algorithm,
          plan,
          ...ids,
          digests: new Map([[0, digest]]),
        });
        const response = answerChallenge({
          secret,
          request,
          destination: { etag: '"2"', size: right.length },
          digests: new Map([[0, digest]]),
        });
        expect(verifyResponse({ request, expectation, response }).chunks[0]?.status).toBe("equal");

        const seen = observed(request, response, expectation);
        const fromRight = matches(computable(right, request, response), seen);
        const fromWrong = matches(computable(wrong, request, response), seen);
        expect(fromRight).toBe(0);
        expect(fromWrong).toBe(0);

        // Control: the same search with K among the keys finds the right guess, not the wrong one.
        const ctx = {
          version: PROTOCOL_VERSION,
          direction: request.direction,
          algorithm,
          ...ids,
          ...chunkRange(plan, 0),
        };
        const withK = (guess: Buffer) => {
          const d = digestOf(algorithm, guess);
          if (variant === "encode")
            return encodeAnswer(secret, ctx, Buffer.from(request.nonce!, "base64url"), d).toString("hex");
          const s = request.sealed![0]!;
          const decipher = createCipheriv(
            "aes-256-ctr",
            deriveChunkKey(secret, ctx, d),
            Buffer.from(s.iv, "base64url"),
          );
          return decipher.update(Buffer.from(s.ct, "base64url")).toString("hex");
        };
        expect(seen.has(withK(right))).toBe(true);
        expect(seen.has(withK(wrong))).toBe(false);
      });
    },
  );
});
