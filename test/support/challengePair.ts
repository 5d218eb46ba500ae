import {
  type ChunkPlan,
  DIGEST_ALGORITHMS,
  type DigestAlgorithm,
  digestOf,
  MIN_CHUNK_SIZE,
  type ObjectIdentity,
  planChunks,
} from "@chunksync/core";
import fc from "fast-check";

/**
 * A sync pair in miniature for the challenge's property tests. The plan is a real one (chunks
 * cannot be smaller than 5 MiB), but each chunk's data is a short stand-in buffer: the protocol
 * only ever sees digests, so this exercises it fully and stays fast.
 */
export interface ChallengePair {
  secret: Buffer;
  algorithm: DigestAlgorithm;
  source: ObjectIdentity;
  destination: ObjectIdentity;
  plan: ChunkPlan;
  data: Buffer[];
}

const name = fc.string({ unit: "binary", minLength: 1, maxLength: 16 });

/** Any object identity, a version id or not. */
export const identityArb: fc.Arbitrary<ObjectIdentity> = fc.record(
  { bucket: name, key: name, etag: name, versionId: name },
  { requiredKeys: ["bucket", "key", "etag"] },
);

/** The fields of a pair of `count` chunks (see {@link ChallengePair}), for `fc.record`. */
export function pairFields(count: number) {
  return {
    secret: fc.uint8Array({ minLength: 32, maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
    algorithm: fc.constantFrom(...DIGEST_ALGORITHMS),
    source: identityArb,
    destination: identityArb,
    plan: fc
      .integer({ min: 1, max: MIN_CHUNK_SIZE })
      .map((last) => planChunks((count - 1) * MIN_CHUNK_SIZE + last, MIN_CHUNK_SIZE)),
    data: fc.array(
      fc.uint8Array({ minLength: 1, maxLength: 48 }).map((bytes) => Buffer.from(bytes)),
      { minLength: count, maxLength: count },
    ),
  };
}

/** Each chunk's digest by index. */
export const digestsOf = (algorithm: DigestAlgorithm, data: readonly Buffer[]) =>
  new Map(data.map((chunk, index) => [index, digestOf(algorithm, chunk)]));

/** `data` with one bit of chunk `chunk` flipped (`bit` taken modulo the chunk's bits). */
export function flipBit(data: readonly Buffer[], chunk: number, bit: number): Buffer[] {
  return data.map((piece, index) => {
    if (index !== chunk) return piece;
    const copy = Buffer.from(piece);
    const at = bit % (copy.length * 8);
    copy[at >> 3]! ^= 1 << (at & 7);
    return copy;
  });
}
