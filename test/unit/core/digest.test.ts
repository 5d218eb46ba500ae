import {
  createDigester,
  DEFAULT_ALGORITHM,
  DIGEST_ALGORITHMS,
  DIGEST_LENGTHS,
  type DigestAlgorithm,
  digestOf,
  parseAlgorithm,
  ValidationError,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

const hex = (algorithm: DigestAlgorithm, text: string | Uint8Array) =>
  digestOf(algorithm, typeof text === "string" ? Buffer.from(text, "latin1") : text).toString("hex");

const FIPS_448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

describe("known answers", () => {
  test("SHA-1 and SHA-256 (FIPS 180 examples)", () => {
    expect(hex("sha1", "abc")).toBe("a9993e364706816aba3e25717850c26c9cd0d89d");
    expect(hex("sha1", FIPS_448)).toBe("84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    expect(hex("sha256", "abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(hex("sha256", FIPS_448)).toBe("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  });

  test.each([
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    ["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"],
    [
      "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
      "57edf4a22be3c955ac49da2e2107b67a",
    ],
  ])("MD5 (RFC 1321) of %j", (text, expected) => {
    expect(hex("md5", text)).toBe(expected);
  });

  test("CRC-32C (check value and RFC 3720 B.4 vectors), 4 bytes big-endian", () => {
    expect(hex("crc32c", "123456789")).toBe("e3069283");
    expect(hex("crc32c", "")).toBe("00000000");
    expect(hex("crc32c", Buffer.alloc(32))).toBe("8a9136aa");
    expect(hex("crc32c", Buffer.alloc(32, 0xff))).toBe("62a8ab43");
    expect(hex("crc32c", Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe("46dd794e");
    expect(hex("crc32c", Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)))).toBe("113fdb5c");
  });

  test("digest lengths", () => {
    for (const algorithm of DIGEST_ALGORITHMS) {
      expect(digestOf(algorithm, Buffer.from("x")).length).toBe(DIGEST_LENGTHS[algorithm]);
    }
    expect(DEFAULT_ALGORITHM).toBe("sha256");
  });
});

describe("incremental digests", () => {
  test("updates in random splits equal the one-shot digest", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...DIGEST_ALGORITHMS),
        fc.uint8Array({ maxLength: 4096 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (algorithm, data, cuts) => {
          const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
          const digester = createDigester(algorithm);
          let start = 0;
          for (const point of [...points, data.length]) {
            digester.update(data.subarray(start, point));
            start = point;
          }
          expect(digester.digest().equals(digestOf(algorithm, data))).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  test("a digester cannot be used after digest()", () => {
    for (const algorithm of DIGEST_ALGORITHMS) {
      const digester = createDigester(algorithm);
      digester.digest();
      expect(() => digester.update(Buffer.from("x"))).toThrow(/already/);
      expect(() => digester.digest()).toThrow(/already/);
    }
  });
});

describe("parseAlgorithm", () => {
  test("accepts every algorithm, forgiving case and a hyphen", () => {
    for (const algorithm of DIGEST_ALGORITHMS) expect(parseAlgorithm(algorithm, "x")).toBe(algorithm);
    expect(parseAlgorithm("SHA-256", "x")).toBe("sha256");
    expect(parseAlgorithm(" CRC32C ", "x")).toBe("crc32c");
  });

  test("refuses anything else, naming the field and the allowed values", () => {
    for (const bad of ["", "sha512", "blake3", "sha 256", "crc32"]) {
      let error: unknown;
      try {
        parseAlgorithm(bad, "--algorithm");
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe("--algorithm");
      expect((error as ValidationError).message).toBe(
        "--algorithm: expected one of sha256, sha1, md5, crc32c",
      );
    }
  });
});
