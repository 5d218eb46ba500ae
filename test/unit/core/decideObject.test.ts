import {
  attributesDiffer,
  attributesOf,
  type ChunkPlan,
  chunkRange,
  type DecideObjectParams,
  decideObject,
  MAX_CHUNK_SIZE,
  MAX_PARTS,
  MIN_CHUNK_SIZE,
  MiB,
  type ObjectAttributes,
  type ObjectDecision,
  planChunks,
  STREAMED_COPY_MAX,
  ValidationError,
  type VerifyMode,
} from "@chunksync/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const GiB = 1024 * MiB;

/** Sizes from empty to 200 GiB, with the edges of one and two chunks well represented. */
const sizeArb = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 20 * MiB }),
  fc.integer({ min: 1, max: 200 * GiB }),
);

const attributesArb: fc.Arbitrary<ObjectAttributes> = fc.record(
  {
    contentType: fc.constantFrom("text/plain", "application/json"),
    cacheControl: fc.constantFrom("no-cache", "max-age=60"),
    expires: fc.constantFrom("Tue, 01 Jan 2030 00:00:00 GMT", "0", "never"),
    metadata: fc.dictionary(fc.constantFrom("a", "b", "c"), fc.constantFrom("1", "2")),
    tagging: fc.constantFrom("x=1", "x=1&y=2", "y=2&x=1", "x=2"),
  },
  { requiredKeys: ["metadata"] },
);

const optionsArb = fc.record({
  serverSideCopy: fc.boolean(),
  verify: fc.constantFrom("none" as const, "changed" as const, "full" as const),
  copyTags: fc.boolean(),
  destinationChecksContentMd5: fc.boolean(),
  copySources: fc.record({ old: fc.boolean(), source: fc.boolean() }),
});

/** Any situation a run can meet: a plan, a destination or none, a verdict, attributes and options. */
const paramsArb: fc.Arbitrary<DecideObjectParams> = fc
  .record({
    size: sizeArb,
    chunkMiB: fc.integer({ min: 5, max: 64 }),
    archived: fc.boolean(),
    etagIsMd5: fc.boolean(),
    present: fc.boolean(),
    sameSize: fc.boolean(),
    otherSize: sizeArb,
    picks: fc.array(fc.nat(), { maxLength: 40 }),
    sourceAttributes: attributesArb,
    destinationAttributes: attributesArb,
    options: optionsArb,
  })
  .map((r) => {
    const plan = planChunks(r.size, r.chunkMiB * MiB);
    const changed =
      plan.count === 0 ? [] : [...new Set(r.picks.map((p) => p % plan.count))].sort((a, b) => a - b);
    return {
      source: {
        size: r.size,
        etag: '"src"',
        archived: r.archived,
        etagIsMd5: r.etagIsMd5,
        attributes: r.sourceAttributes,
      },
      destination: r.present
        ? { size: r.sameSize ? r.size : r.otherSize, etag: '"dst"', attributes: r.destinationAttributes }
        : undefined,
      plan,
      changed: r.present ? changed : undefined,
      options: r.options,
    };
  });

function chunksOf(parts: ObjectDecision["parts"], kinds: readonly string[]): number[] {
  return parts
    .filter((p) => kinds.includes(p.kind))
    .flatMap((p) => Array.from({ length: p.chunkCount }, (_, i) => p.firstChunk + i));
}

function allOf(plan: ChunkPlan): number[] {
  return Array.from({ length: plan.count }, (_, i) => i);
}

describe("decideObject", () => {
  it("writes parts that tile the object once, in order, on the plan's chunk boundaries and within S3's part rules", () => {
    fc.assert(
      fc.property(paramsArb, (params) => {
        const { parts } = decideObject(params);
        if (parts.length === 0) return;
        const { plan } = params;
        expect(parts.length).toBeLessThanOrEqual(MAX_PARTS);
        let offset = 0;
        let nextChunk = 0;
        for (const [i, part] of parts.entries()) {
          expect(part.partNumber).toBe(i + 1);
          expect(part.offset).toBe(offset);
          expect(part.firstChunk).toBe(nextChunk);
          // Offset and length are exactly those of the chunks the part names.
          const ranges = Array.from({ length: part.chunkCount }, (_, k) =>
            chunkRange(plan, part.firstChunk + k),
          );
          expect(part.length).toBe(ranges.reduce((sum, r) => sum + r.length, 0));
          if (ranges[0]) expect(part.offset).toBe(ranges[0].offset);
          expect(part.length).toBeLessThanOrEqual(MAX_CHUNK_SIZE);
          if (i < parts.length - 1) expect(part.length).toBeGreaterThanOrEqual(MIN_CHUNK_SIZE);
          // Bytes from the source are read chunk by chunk: never more than one chunk in a part,
          // but for a new object streamed whole into one PutObject.
          if (part.streamed) expect(parts).toHaveLength(1);
          else if (part.kind !== "destinationCopy") expect(part.chunkCount).toBeLessThanOrEqual(1);
          offset += part.length;
          nextChunk += part.chunkCount;
        }
        expect(offset).toBe(plan.size);
        expect(nextChunk).toBe(plan.count);
      }),
    );
  });

  it("plans transfer + server-side bytes equal to the object's size whenever it writes, and nothing otherwise", () => {
    fc.assert(
      fc.property(paramsArb, (params) => {
        const { parts, planned, action } = decideObject(params);
        const sum = (kinds: string[]) =>
          parts.filter((p) => kinds.includes(p.kind)).reduce((n, p) => n + p.length, 0);
        expect(planned.transfer).toBe(sum(["sourceBytes"]));
        expect(planned.serverSide).toBe(sum(["destinationCopy", "sourceCopy"]));
        if (action === "none") {
          expect(parts).toEqual([]);
          expect(planned).toEqual({ transfer: 0, serverSide: 0 });
        } else {
          expect(parts.length).toBeGreaterThan(0);
          // Parts built from the old object's own bytes neither cross nor are copied by a server.
          expect(planned.transfer + planned.serverSide + sum(["assembled"])).toBe(params.source.size);
        }
        if (params.options.serverSideCopy && params.options.copySources.source)
          expect(planned.transfer).toBe(0);
      }),
    );
  });

  it("verifies exactly the chunks that crossed with `changed` (none sent as read where the destination checks Content-MD5), every chunk with `full`, none with `none`", () => {
    fc.assert(
      fc.property(paramsArb, (params) => {
        const { parts, verify, action } = decideObject(params);
        // A part built from old bytes is new to its upload: verified, as an assembled part is.
        const crossed = chunksOf(
          parts,
          params.options.destinationChecksContentMd5 ? ["assembled"] : ["sourceBytes", "assembled"],
        );
        const expected = {
          none: [],
          changed: crossed,
          full: action === "none" ? [] : allOf(params.plan),
        }[params.options.verify];
        expect(verify).toEqual(expected);
      }),
    );
  });

  it("names the old or the source object as a copy's source only where it may, else builds each chunk from the old bytes at its offsets", () => {
    fc.assert(
      fc.property(paramsArb, (params) => {
        const { parts } = decideObject(params);
        const { copySources } = params.options;
        if (!copySources.old) expect(parts.filter((p) => p.kind === "destinationCopy")).toEqual([]);
        if (!copySources.source) expect(parts.filter((p) => p.kind === "sourceCopy")).toEqual([]);
        for (const p of parts.filter((q) => q.kind === "assembled")) {
          expect(copySources.old).toBe(false);
          expect(p.chunkCount).toBe(1);
          expect(p.pieces).toEqual([{ from: "old", offset: p.offset, length: p.length }]);
        }
      }),
    );
  });

  it("sends the changed chunks (or all, for a missing destination) and keeps the rest of the old destination", () => {
    fc.assert(
      fc.property(paramsArb, (params) => {
        const decision = decideObject(params);
        const fromSource = chunksOf(decision.parts, ["sourceBytes", "sourceCopy"]);
        if (decision.state === "missing") expect(decision.changed).toEqual(allOf(params.plan));
        if (decision.action === "compose") expect(fromSource).toEqual(params.changed);
        if (decision.action === "metadata") expect(fromSource).toEqual([]);
        if (decision.action === "tags") expect(decision.parts).toEqual([]);
        if (decision.action === "copy") expect(fromSource).toEqual(allOf(params.plan));
        // An object of one chunk is one unit: it is copied whole, and re-composed only where
        // that chunk is unchanged (the old object is longer): one copy of the old bytes.
        if (decision.action === "compose" && params.plan.count === 1) {
          expect(params.changed).toEqual([]);
          expect(decision.parts.map((p) => p.kind)).toEqual(["destinationCopy"]);
        }
      }),
    );
  });

  it("writes a missing destination only where the key is still absent, and an existing one only at its challenged ETag", () => {
    fc.assert(
      fc.property(paramsArb, (params) => {
        const { condition, state } = decideObject(params);
        if (params.destination === undefined) expect(condition).toEqual({ ifNoneMatch: "*" });
        else expect(condition).toEqual({ ifMatch: params.destination.etag });
        if (state === "missing") expect(params.destination).toBeUndefined();
      }),
    );
  });

  it("writes nothing when both sides hold the same bytes and attributes, whatever the order of metadata and tags", () => {
    fc.assert(
      fc.property(sizeArb, attributesArb, optionsArb, fc.boolean(), (size, attributes, options, reorder) => {
        const plan = planChunks(size);
        const reversed: ObjectAttributes = {
          ...attributes,
          metadata: Object.fromEntries(Object.entries(attributes.metadata).reverse()),
          ...(attributes.tagging && { tagging: attributes.tagging.split("&").reverse().join("&") }),
        };
        const decision = decideObject({
          source: { size, etag: '"a"', archived: false, attributes },
          destination: { size, etag: '"b"', attributes: reorder ? reversed : { ...attributes } },
          plan,
          changed: [],
          options,
        });
        expect(decision).toMatchObject({ state: "identical", action: "none", parts: [], verify: [] });
        expect(decision.planned).toEqual({ transfer: 0, serverSide: 0 });
      }),
    );
  });

  it("rewrites the attributes alone when only they differ, copying every byte from the old destination", () => {
    const plan = planChunks(20 * MiB, 8 * MiB);
    const decision = decideObject({
      source: { size: plan.size, etag: '"a"', archived: false, attributes: { metadata: { a: "2" } } },
      destination: { size: plan.size, etag: '"b"', attributes: { metadata: { a: "1" } } },
      plan,
      changed: [],
      options: {
        serverSideCopy: false,
        verify: "changed",
        copyTags: false,
        destinationChecksContentMd5: false,
        copySources: { old: true, source: true },
      },
    });
    expect(decision).toMatchObject({ state: "changed", action: "metadata", verify: [] });
    expect(decision.parts).toEqual([
      { partNumber: 1, kind: "destinationCopy", firstChunk: 0, chunkCount: 3, offset: 0, length: 20 * MiB },
    ]);
  });

  it("puts the tag set alone on the version as it stands where only tags differ, with --tags; ignores them without", () => {
    const plan = planChunks(9 * MiB);
    const decide = (copyTags: boolean, metadata: Record<string, string> = {}) =>
      decideObject({
        source: {
          size: plan.size,
          etag: '"a"',
          archived: false,
          attributes: { metadata: {}, tagging: "team=red" },
        },
        destination: { size: plan.size, etag: '"b"', attributes: { metadata, tagging: "team=blue" } },
        plan,
        changed: [],
        options: {
          serverSideCopy: false,
          verify: "changed",
          copyTags,
          destinationChecksContentMd5: false,
          copySources: { old: true, source: true },
        },
      });
    expect(decide(true)).toEqual({
      state: "changed",
      action: "tags",
      changed: [],
      parts: [],
      condition: { ifMatch: '"b"' },
      planned: { transfer: 0, serverSide: 0 },
      verify: [],
    });
    expect(decide(false)).toMatchObject({ state: "identical", action: "none" });
    // Other attributes differ too: the copy in place restates them and the tags together.
    expect(decide(true, { a: "1" })).toMatchObject({
      action: "metadata",
      planned: { serverSide: plan.size },
    });
  });

  it("re-composes a 10 GiB object with one changed chunk in the middle as 5 GiB copy + chunk + copy", () => {
    const plan = planChunks(10 * GiB, 8 * MiB);
    const decision = decideObject({
      source: { size: plan.size, etag: '"a"', archived: false, attributes: { metadata: {} } },
      destination: { size: plan.size, etag: '"b"', attributes: { metadata: {} } },
      plan,
      changed: [640],
      options: {
        serverSideCopy: false,
        verify: "changed",
        copyTags: false,
        destinationChecksContentMd5: false,
        copySources: { old: true, source: true },
      },
    });
    expect(decision.action).toBe("compose");
    expect(decision.parts.map((p) => [p.kind, p.firstChunk, p.chunkCount])).toEqual([
      ["destinationCopy", 0, 640],
      ["sourceBytes", 640, 1],
      ["destinationCopy", 641, 639],
    ]);
    expect(decision.planned).toEqual({ transfer: 8 * MiB, serverSide: 10 * GiB - 8 * MiB });
    expect(decision.verify).toEqual([640]);
  });

  it("merges adjacent kept chunks unless the merged part would pass 5 GiB", () => {
    fc.assert(
      fc.property(paramsArb, (params) => {
        const { parts } = decideObject(params);
        for (let i = 1; i < parts.length; i++) {
          const [a, b] = [parts[i - 1]!, parts[i]!];
          if (a.kind === "destinationCopy" && b.kind === "destinationCopy")
            expect(a.length + b.length).toBeGreaterThan(MAX_CHUNK_SIZE);
        }
      }),
    );
  });

  describe("a destination that checks each body's Content-MD5", () => {
    const plan = planChunks(20 * MiB, 8 * MiB);
    const attributes = { metadata: {} };
    const source = { size: plan.size, etag: '"a"', archived: false, attributes };
    const cases = [
      { name: "a missing destination", destination: undefined, changed: undefined },
      { name: "a changed chunk", destination: { size: plan.size, etag: '"b"', attributes }, changed: [1] },
    ];
    for (const { name, destination, changed } of cases) {
      it(`${name}: under \`changed\` its chunks sent as read are not challenged again; \`full\` reads every chunk back, \`none\` none`, () => {
        const verified = (verify: VerifyMode, destinationChecksContentMd5: boolean) =>
          decideObject({
            source,
            destination,
            plan,
            changed,
            options: {
              serverSideCopy: false,
              verify,
              copyTags: false,
              destinationChecksContentMd5,
              copySources: { old: true, source: true },
            },
          }).verify;
        const crossed = changed ?? allOf(plan);
        expect(verified("changed", false)).toEqual(crossed);
        expect(verified("changed", true)).toEqual([]);
        expect(verified("full", false)).toEqual(allOf(plan));
        expect(verified("full", true)).toEqual(allOf(plan));
        expect(verified("none", false)).toEqual([]);
        expect(verified("none", true)).toEqual([]);
      });
    }

    it("changes nothing but the chunks to verify, for a source whose ETag is no MD5 (one that is lets a new object stream, below)", () => {
      fc.assert(
        fc.property(paramsArb, (drawn) => {
          const params = { ...drawn, source: { ...drawn.source, etagIsMd5: false } };
          const unchecked = { ...params, options: { ...params.options, destinationChecksContentMd5: false } };
          const checked = { ...params, options: { ...params.options, destinationChecksContentMd5: true } };
          const { verify: _a, ...rest } = decideObject(unchecked);
          const { verify: _b, ...same } = decideObject(checked);
          expect(same).toEqual(rest);
        }),
      );
    });
  });

  it("streams a new object into one part only where its ETag is its MD5, the destination checks Content-MD5, no server-side copy, and it is at most 200 MiB; its chunks are then not challenged again", () => {
    const decide = (size: number, change: Partial<DecideObjectParams["options"]> = {}, etagIsMd5 = true) =>
      decideObject({
        source: { size, etag: '"src"', archived: false, etagIsMd5, attributes: { metadata: {} } },
        destination: undefined,
        plan: planChunks(size, 8 * MiB),
        changed: undefined,
        options: {
          serverSideCopy: false,
          verify: "changed",
          copyTags: false,
          copySources: { old: true, source: true },
          destinationChecksContentMd5: true,
          ...change,
        },
      });
    expect(decide(64 * MiB)).toMatchObject({
      parts: [
        {
          partNumber: 1,
          kind: "sourceBytes",
          firstChunk: 0,
          chunkCount: 8,
          length: 64 * MiB,
          streamed: true,
        },
      ],
      planned: { transfer: 64 * MiB, serverSide: 0 },
      verify: [],
      condition: { ifNoneMatch: "*" },
    });
    expect(decide(STREAMED_COPY_MAX).parts).toHaveLength(1);
    expect(decide(STREAMED_COPY_MAX, { verify: "full" }).verify).toEqual(
      allOf(planChunks(STREAMED_COPY_MAX, 8 * MiB)),
    );
    const inParts = (d: ObjectDecision) =>
      d.parts.every((p) => p.streamed === undefined && p.chunkCount <= 1);
    expect(inParts(decide(STREAMED_COPY_MAX + 1))).toBe(true);
    expect(inParts(decide(64 * MiB, {}, false))).toBe(true);
    expect(
      inParts(
        decide(64 * MiB, { destinationChecksContentMd5: false, copySources: { old: true, source: true } }),
      ),
    ).toBe(true);
    expect(inParts(decide(64 * MiB, { serverSideCopy: true }))).toBe(true);
    expect(inParts(decide(0))).toBe(true);
  });

  it("writes nothing for an archived source, and refuses an existing destination without a verdict", () => {
    const plan = planChunks(30 * MiB);
    const source = { size: plan.size, etag: '"a"', attributes: { metadata: {} } };
    const options = {
      serverSideCopy: false,
      verify: "full",
      copyTags: false,
      destinationChecksContentMd5: true,
      copySources: { old: true, source: true },
    } as const;
    expect(
      decideObject({
        source: { ...source, archived: true },
        destination: undefined,
        plan,
        changed: undefined,
        options,
      }),
    ).toMatchObject({ state: "unreadable", action: "none", parts: [], verify: [], changed: [] });
    expect(() =>
      decideObject({
        source: { ...source, archived: false },
        destination: source,
        plan,
        changed: undefined,
        options,
      }),
    ).toThrow(ValidationError);
  });
});

describe("object attributes", () => {
  it("takes the attributes of a head, dropping empty fields and using the tag set read on its own", () => {
    const head = {
      key: "k",
      size: 1,
      etag: '"e"',
      archived: false,
      contentType: "text/plain",
      contentEncoding: "",
      expires: "0",
      metadata: { a: "1" },
    };
    expect(attributesOf(head, "x=1")).toEqual({
      contentType: "text/plain",
      expires: "0",
      metadata: { a: "1" },
      tagging: "x=1",
    });
    expect(attributesOf(head)).toEqual({ contentType: "text/plain", expires: "0", metadata: { a: "1" } });
    expect(attributesOf({ ...head, expires: "" })).toEqual({
      contentType: "text/plain",
      metadata: { a: "1" },
    });
  });

  it("a source that states no Content-Type is matched by the default a server gives a write that states none, and by no other type", () => {
    const tags = { tags: false };
    for (const want of [undefined, ""])
      for (const [have, differ] of [
        [undefined, false],
        ["", false],
        ["binary/octet-stream", false],
        ["application/octet-stream", false],
        ["text/plain", true],
        ["application/octet-stream; charset=x", true],
      ] as const)
        expect(
          attributesDiffer(
            { metadata: {}, ...(want !== undefined && { contentType: want }) },
            { metadata: {}, ...(have !== undefined && { contentType: have }) },
            tags,
          ),
          `${want} / ${have}`,
        ).toBe(differ);
    // A stated type is matched by itself only.
    expect(
      attributesDiffer({ metadata: {}, contentType: "binary/octet-stream" }, { metadata: {} }, tags),
    ).toBe(true);
    expect(
      attributesDiffer(
        { metadata: {}, contentType: "application/octet-stream" },
        { metadata: {}, contentType: "binary/octet-stream" },
        tags,
      ),
    ).toBe(true);
  });

  it("treats absent and empty alike, compares Expires as text and tag sets as sets", () => {
    const tags = { tags: true };
    expect(attributesDiffer({ metadata: {}, contentType: "" }, { metadata: {} }, tags)).toBe(false);
    expect(attributesDiffer({ metadata: {}, expires: "" }, { metadata: {} }, tags)).toBe(false);
    expect(attributesDiffer({ metadata: {}, expires: "0" }, { metadata: {}, expires: "0" }, tags)).toBe(
      false,
    );
    // S3 returns the text it stored: one instant spelled two ways, or two texts that are no date
    // at all, are different headers for every reader.
    for (const [want, have] of [
      ["Thu, 01 Dec 1994 16:00:00 GMT", "Thursday, 01-Dec-94 16:00:00 GMT"],
      ["0", "00"],
      ["never", "later"],
      ["-1", undefined],
    ])
      expect(
        attributesDiffer(
          { metadata: {}, expires: want },
          { metadata: {}, ...(have && { expires: have }) },
          tags,
        ),
      ).toBe(true);
    expect(attributesDiffer({ metadata: { a: "1" } }, { metadata: { a: "2" } }, tags)).toBe(true);
    expect(attributesDiffer({ metadata: { a: "1" } }, { metadata: { b: "1" } }, tags)).toBe(true);
    expect(attributesDiffer({ metadata: { a: "1" } }, { metadata: { a: "1", b: "" } }, tags)).toBe(true);
    expect(attributesDiffer({ metadata: { a: "1", b: "2" } }, { metadata: { b: "2", a: "1" } }, tags)).toBe(
      false,
    );
    expect(
      attributesDiffer({ metadata: {}, tagging: "a=1&b=2" }, { metadata: {}, tagging: "b=2&a=1" }, tags),
    ).toBe(false);
    expect(attributesDiffer({ metadata: {}, tagging: "a=1" }, { metadata: {} }, tags)).toBe(true);
    expect(attributesDiffer({ metadata: {}, tagging: "a=1" }, { metadata: {} }, { tags: false })).toBe(false);
  });
});
