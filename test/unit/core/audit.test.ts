import {
  auditRequest,
  auditResponse,
  compareAudit,
  drawAuditNonce,
  encodeAuditContext,
  encodeContext,
  formatSampleSpec,
  parseSampleSpec,
  rangeHasher,
  Sampler,
  seededRandom,
  unseenProbability,
  ValidationError,
} from "@chunksync/core";
import { describe, expect, it } from "vitest";

const secret = Buffer.from(Array.from({ length: 32 }, (_, i) => 7 + i));
const id = (key: string) => ({ bucket: "b", key, etag: '"e"' });

describe("parseSampleSpec", () => {
  it("reads a count, a percentage and a fraction", () => {
    expect(parseSampleSpec("200", "--sample")).toEqual({ kind: "count", count: 200 });
    expect(parseSampleSpec("1%", "--sample")).toEqual({ kind: "fraction", fraction: 0.01 });
    expect(parseSampleSpec("0.5%", "--sample")).toEqual({ kind: "fraction", fraction: 0.005 });
    expect(parseSampleSpec("0.25", "--sample")).toEqual({ kind: "fraction", fraction: 0.25 });
  });

  it.each(["0", "100%", "1.0", "-1", "abc", "", "1e3"])("refuses %j, naming the flag", (text) => {
    expect(() => parseSampleSpec(text, "--sample")).toThrow(ValidationError);
    expect(() => parseSampleSpec(text, "--sample")).toThrow(/--sample/);
  });

  it("says a fraction must lie between 0 and 1 only of a number out of that range", () => {
    expect(() => parseSampleSpec("1.0", "--sample")).toThrow(/a fraction above 0 and below 1/);
    expect(() => parseSampleSpec("100%", "--sample")).toThrow(/a fraction above 0 and below 1/);
    expect(() => parseSampleSpec("abc", "--sample")).toThrow(/got "abc"$/);
  });

  it("names what a count counts: an audit's ranges, a scrub's chunks", () => {
    expect(() => parseSampleSpec("abc", "--sample")).toThrow(/a number of ranges \(200\)/);
    expect(() => parseSampleSpec("150%", "--sample", "chunks")).toThrow(/a number of chunks \(200\)/);
  });

  it("says a sample as it was asked for, a count of one in the singular", () => {
    expect(formatSampleSpec({ kind: "count", count: 1 }, "chunks")).toBe("1 chunk");
    expect(formatSampleSpec({ kind: "count", count: 200 })).toBe("200 ranges");
    expect(formatSampleSpec({ kind: "fraction", fraction: 0.005 })).toBe("0.5%");
    expect(formatSampleSpec({ kind: "full" })).toBe("full");
  });

  it("states (1 - f)^k", () => {
    expect(unseenProbability(0.01, 100)).toBeCloseTo(0.99 ** 100, 12);
    expect(unseenProbability(0.5, 0)).toBe(1);
  });
});

describe("Sampler", () => {
  it("full: every unit of every object, the last one shorter, none of an empty object", () => {
    const sampler = new Sampler<string>({ kind: "full" }, 10);
    expect(sampler.offer("a", 25)?.ranges).toEqual([
      { offset: 0, length: 10 },
      { offset: 10, length: 10 },
      { offset: 20, length: 5 },
    ]);
    expect(sampler.offer("empty", 0)).toBeUndefined();
    expect(sampler.rest()).toEqual([]);
  });

  it("count: exactly k distinct units, grouped by object in offer order, ascending", () => {
    const sampler = new Sampler<string>({ kind: "count", count: 7 }, 10, seededRandom("count"));
    for (const [key, size] of [
      ["a", 95],
      ["b", 300],
      ["c", 41],
    ] as const)
      expect(sampler.offer(key, size)).toBeUndefined();
    const rest = sampler.rest();
    const all = rest.flatMap((o) => o.ranges.map((r) => `${o.item}:${r.offset}`));
    expect(all).toHaveLength(7);
    expect(new Set(all).size).toBe(7);
    expect(rest.map((o) => o.item)).toEqual([...rest.map((o) => o.item)].sort());
    for (const o of rest)
      expect(o.ranges.map((r) => r.offset)).toEqual([...o.ranges.map((r) => r.offset)].sort((x, y) => x - y));
  });

  it("count above the units there are: every unit", () => {
    const sampler = new Sampler<string>({ kind: "count", count: 50 }, 10, seededRandom("many"));
    sampler.offer("a", 30);
    expect(sampler.rest()[0]?.ranges).toHaveLength(3);
  });

  it("count: every unit is equally likely to be drawn", () => {
    const hits = new Array<number>(20).fill(0);
    const random = seededRandom("uniform");
    for (let trial = 0; trial < 2000; trial++) {
      const sampler = new Sampler<number>({ kind: "count", count: 2 }, 1, random);
      sampler.offer(0, 20);
      for (const r of sampler.rest()[0]!.ranges) hits[r.offset]!++;
    }
    // 2000 trials x 2 of 20 units: 200 expected per unit; far outside 120..280 is not uniform.
    for (const h of hits) {
      expect(h).toBeGreaterThan(120);
      expect(h).toBeLessThan(280);
    }
  });

  it("fraction: that share of the units give or take one, one from each run of 1/f units, decided as offered", () => {
    const sampler = new Sampler<number>({ kind: "fraction", fraction: 0.01 }, 1, seededRandom("fraction"));
    const offsets = [0, 1, 2].flatMap((o) =>
      (sampler.offer(o, 3_350)?.ranges ?? []).map((r) => o * 3_350 + r.offset),
    );
    expect(offsets.length).toBeGreaterThanOrEqual(100);
    expect(offsets.length).toBeLessThanOrEqual(101);
    // One unit in each run [100 r, 100 r + 100) of the stream of units across objects.
    expect(offsets.map((o) => Math.floor(o / 100))).toEqual(
      Array.from({ length: offsets.length }, (_, r) => r),
    );
    expect(sampler.rest()).toEqual([]);
  });

  it("fraction: every unit of a run is equally likely to be drawn", () => {
    const hits = new Array<number>(10).fill(0);
    const random = seededRandom("strata");
    for (let trial = 0; trial < 2000; trial++) {
      const sampler = new Sampler<number>({ kind: "fraction", fraction: 0.1 }, 1, random);
      for (const r of sampler.offer(0, 10)?.ranges ?? []) hits[r.offset]!++;
    }
    for (const h of hits) {
      expect(h).toBeGreaterThan(120);
      expect(h).toBeLessThan(280);
    }
  });
});

describe("Sampler: a fraction of fewer units than one run", () => {
  /** Every unit drawn from `sizes` (one object each, units of 1 byte), as "object:offset". */
  function draw(sampler: Sampler<number>, sizes: readonly number[]): string[] {
    const drawn = sizes.flatMap((size, o) =>
      (sampler.offer(o, size)?.ranges ?? []).map((r) => `${o}:${r.offset}`),
    );
    for (const held of sampler.rest()) drawn.push(...held.ranges.map((r) => `${held.item}:${r.offset}`));
    return drawn;
  }

  it("still draws exactly one unit, each of them equally likely", () => {
    // 12 units in objects of 5, 0 and 7: 1% draws one unit per run of 100, most often none of these.
    const sizes = [5, 0, 7];
    const units = ["0:0", "0:1", "0:2", "0:3", "0:4", "2:0", "2:1", "2:2", "2:3", "2:4", "2:5", "2:6"];
    const hits = new Map(units.map((u) => [u, 0]));
    const random = seededRandom("fallback");
    for (let trial = 0; trial < 2400; trial++) {
      const drawn = draw(new Sampler<number>({ kind: "fraction", fraction: 0.01 }, 1, random), sizes);
      expect(drawn).toHaveLength(1);
      hits.set(drawn[0]!, hits.get(drawn[0]!)! + 1);
    }
    // 2400 trials over 12 units: 200 expected per unit; far outside 120..280 is not uniform.
    expect([...hits.keys()]).toEqual(units);
    for (const h of hits.values()) {
      expect(h).toBeGreaterThan(120);
      expect(h).toBeLessThan(280);
    }
  });

  it("draws nothing from nothing, and holds nothing back once a run has drawn", () => {
    const none = new Sampler<number>({ kind: "fraction", fraction: 0.01 }, 1, seededRandom("empty"));
    expect(draw(none, [0, 0])).toEqual([]);
    const random = seededRandom("drawn");
    for (let trial = 0; trial < 50; trial++) {
      const sampler = new Sampler<number>({ kind: "fraction", fraction: 0.25 }, 1, random);
      expect(sampler.offer(0, 4)?.ranges).toHaveLength(1);
      expect(sampler.rest()).toEqual([]);
    }
  });
});

describe("Sampler: a stream sampled in parts, each going on from where the last stood", () => {
  it("draws what one sampler over the whole stream draws, the unit held back included", () => {
    const sizes = [3, 0, 250, 7, 41, 1, 90, 12];
    for (const [spec, seed] of [
      [{ kind: "fraction", fraction: 0.01 }, "a"],
      [{ kind: "fraction", fraction: 0.05 }, "b"],
      [{ kind: "fraction", fraction: 0.001 }, "c"],
      [{ kind: "full" }, "d"],
      [{ kind: "count", count: 9 }, "e"],
    ] as const) {
      for (let trial = 0; trial < 20; trial++) {
        const drawn = (parts: number[][]) => {
          const random = seededRandom(`${seed}-${trial}`);
          const out: string[] = [];
          let sampler: Sampler<number> | undefined;
          let o = 0;
          for (const part of parts) {
            // Through JSON, as the workflow keeps it in its work area between steps.
            const from = sampler && JSON.parse(JSON.stringify(sampler.state()));
            sampler = new Sampler<number>(spec, 1, random, from);
            for (const size of part) {
              const item = o++;
              for (const r of sampler.offer(item, size)?.ranges ?? []) out.push(`${item}:${r.offset}`);
            }
          }
          for (const held of sampler!.rest()) out.push(...held.ranges.map((r) => `${held.item}:${r.offset}`));
          return out;
        };
        const whole = drawn([sizes]);
        expect(drawn([sizes.slice(0, 3), sizes.slice(3, 5), sizes.slice(5)])).toEqual(whole);
        expect(drawn(sizes.map((size) => [size]))).toEqual(whole);
      }
    }
  });
});

describe("possession values", () => {
  const bytes = Buffer.from("the bytes of the range");
  const range = { offset: 64, length: bytes.length };
  const request = auditRequest({
    nonce: drawAuditNonce(),
    source: id("s"),
    destination: id("d"),
    ranges: [range],
  });
  const value = (req = request, data: Buffer = bytes, r = range) => {
    const h = rangeHasher(secret, req, r);
    h.update(data.subarray(0, 5));
    h.update(data.subarray(5));
    return h.value();
  };

  it("are equal only for the same bytes, nonce, context and secret", () => {
    expect(value().equals(value())).toBe(true);
    const flipped = Buffer.from(bytes);
    flipped[3]! ^= 1;
    expect(value(request, flipped).equals(value())).toBe(false);
    const otherNonce = { ...request, nonce: drawAuditNonce() };
    expect(value(otherNonce).equals(value())).toBe(false);
    const otherKey = { ...request, destination: id("other") };
    expect(value(otherKey).equals(value())).toBe(false);
    const h = rangeHasher(
      Buffer.alloc(32, 9).map((b, i) => b ^ i),
      request,
      range,
    );
    h.update(bytes);
    expect(h.value().equals(value())).toBe(false);
  });

  it("refuse a short read rather than key what came", () => {
    const h = rangeHasher(secret, request, range);
    h.update(bytes.subarray(1));
    expect(() => h.value()).toThrow(ValidationError);
  });

  it("have a context of their own, never a challenge's", () => {
    const ctx = {
      version: 1,
      direction: "source-to-destination",
      source: id("s"),
      destination: id("d"),
      offset: 0,
      length: 8,
    } as const;
    const challenge = encodeContext({ ...ctx, algorithm: "sha256", index: 0 });
    expect(encodeAuditContext(ctx).subarray(0, 30).equals(challenge.subarray(0, 30))).toBe(false);
  });

  it("compare: equal, differs, missing past the destination's end; anything malformed differs", () => {
    const ranges = [
      { offset: 0, length: 4 },
      { offset: 4, length: 4 },
      { offset: 8, length: 4 },
    ];
    const req = auditRequest({ nonce: drawAuditNonce(), source: id("s"), destination: id("d"), ranges });
    const src = Buffer.from("aaaabbbbcccc");
    const expected = new Map(
      ranges.map((r) => [r.offset, value(req, src.subarray(r.offset, r.offset + r.length), r)]),
    );
    const dst = Buffer.from("aaaaXbbb");
    const answered = new Map(
      ranges
        .filter((r) => r.offset + r.length <= dst.length)
        .map((r) => [r.offset, value(req, dst.subarray(r.offset, r.offset + r.length), r)]),
    );
    const response = auditResponse(req, { etag: '"e"', size: dst.length }, answered);
    expect(compareAudit(req, expected, response).map((v) => v.status)).toEqual([
      "equal",
      "differs",
      "missing",
    ]);
    expect(compareAudit(req, expected, { ...response, requestId: "x" }).map((v) => v.status)).toEqual([
      "differs",
      "differs",
      "differs",
    ]);
    expect(compareAudit(req, expected, "garbage").every((v) => v.status === "differs")).toBe(true);
    // A destination that claims `missing` for a range inside its object is not believed.
    const lying = {
      ...response,
      answers: response.answers.map((a) => ({ offset: a.offset, missing: true as const })),
    };
    expect(compareAudit(req, expected, lying).map((v) => v.status)).toEqual([
      "differs",
      "differs",
      "missing",
    ]);
  });

  it("requests refuse overlapping or unordered ranges", () => {
    const bad = [
      { offset: 4, length: 4 },
      { offset: 0, length: 4 },
    ];
    expect(() =>
      auditRequest({ nonce: drawAuditNonce(), source: id("s"), destination: id("d"), ranges: bad }),
    ).toThrow(ValidationError);
  });
});
