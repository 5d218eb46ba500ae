import { RangeList, type Segment, SegmentList, sourceBytes } from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

const OLD_SIZE = 2 ** 40;

/** Runs of a new object: old ones anywhere in a 1 TiB old object (offsets past 4 GiB), source ones in place. */
const MAX_RUNS = 100;
const MAX_RUN = 2 ** 33;
const runs = fc.array(
  fc.record({
    old: fc.boolean(),
    // Some empty, some that continue the old run before them.
    length: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: MAX_RUN })),
    // Room after each start for every run to continue it: still within the old object.
    at: fc.oneof(fc.constant(-1), fc.nat({ max: OLD_SIZE - MAX_RUNS * MAX_RUN })),
  }),
  { maxLength: MAX_RUNS },
);

/** Segments from `list` covering a new object; an old run at -1 continues the old bytes before it. */
function segmentsOf(list: { old: boolean; length: number; at: number }[]): Segment[] {
  let position = 0;
  let oldEnd = 0;
  return list.map(({ old, length, at }) => {
    const offset = old ? (at < 0 ? oldEnd : at) : position;
    position += length;
    if (old) oldEnd = offset + length;
    return { from: old ? "old" : "source", offset, length };
  });
}

/** The rule the list keeps, over objects: empty segments dropped, continuing neighbours joined. */
function joined(segments: Segment[]): Segment[] {
  const out: Segment[] = [];
  for (const s of segments) {
    const last = out.at(-1);
    if (s.length === 0) continue;
    if (last?.from === s.from && last.offset + last.length === s.offset)
      out[out.length - 1] = { ...last, length: last.length + s.length };
    else out.push(s);
  }
  return out;
}

const sizeOf = (segments: Segment[]) => segments.reduce((n, s) => n + s.length, 0);

describe("SegmentList", () => {
  test("holds segments joined as pushed, checked as an array of them is, and as JSON keeps it", () => {
    fc.assert(
      fc.property(runs, (list) => {
        const segments = segmentsOf(list);
        const size = sizeOf(segments);
        const built = new SegmentList(1);
        for (const s of segments) built.push(s.from, s.offset, s.length);
        expect(built.check(size, OLD_SIZE).toArray()).toEqual(joined(segments));
        expect(SegmentList.of(segments, size, OLD_SIZE).toArray()).toEqual(joined(segments));
        expect(built.sourceBytes()).toBe(sourceBytes(segments));
        const stored = JSON.parse(JSON.stringify(built.store()));
        expect(SegmentList.load(stored).toArray()).toEqual(built.toArray());
      }),
    );
  });

  test("refuses segments out of place, naming the first, whether given as objects or pushed", () => {
    const outOfPlace: [Segment[], RegExp][] = [
      [[{ from: "source", offset: 1, length: 5 }], /segments\[0\]\.offset/],
      [[{ from: "old", offset: OLD_SIZE - 1, length: 2 }], /segments\[0\]: expected a range within/],
      [[{ from: "old", offset: 0, length: 2.5 }], /segments\[0\]\.length/],
    ];
    for (const [segments, error] of outOfPlace) {
      expect(() => SegmentList.of(segments, sizeOf(segments), OLD_SIZE)).toThrow(error);
      const built = new SegmentList();
      for (const s of segments) built.push(s.from, s.offset, s.length);
      expect(() => built.check(sizeOf(segments), OLD_SIZE)).toThrow(error);
    }
    const unknown = [{ from: "new", offset: 0, length: 2 }] as unknown as Segment[];
    expect(() => SegmentList.of(unknown, 2, OLD_SIZE)).toThrow(/segments\[0\]\.from/);
    const list = SegmentList.of([{ from: "old", offset: 0, length: 4 }], 4, OLD_SIZE);
    expect(() => list.check(5, OLD_SIZE)).toThrow(/cover 4/);
    expect(() => SegmentList.load({ from: "AAI", offsets: "", lengths: "" })).toThrow(/segments/);
  });
});

describe("RangeList", () => {
  test("holds ranges as pushed, in that order, through growth", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ offset: fc.nat({ max: 2 ** 45 }), length: fc.nat({ max: 2 ** 33 }) })),
        (ranges) => {
          const list = RangeList.from(ranges);
          expect(list.toArray()).toEqual(ranges);
          expect(RangeList.from(list)).toBe(list);
          expect(list.bytes()).toBe(ranges.reduce((n, r) => n + r.length, 0));
          const grown = new RangeList(1);
          for (const r of ranges) grown.push(r.offset, r.length);
          expect(grown.toArray()).toEqual(ranges);
          // As JSON keeps it: a message's array of ranges.
          expect(JSON.parse(JSON.stringify(grown))).toEqual(ranges);
        },
      ),
    );
  });
});
