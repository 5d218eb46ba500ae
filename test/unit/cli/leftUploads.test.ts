import type { PendingUpload } from "@chunksync/storage";
import { notWrittenNote, type RunReport } from "@chunksync/sync";
import { describe, expect, it } from "vitest";
import {
  type DestinationFlags,
  leftUploadsAhead,
  warnIndexNotWritten,
  warnLeftUploads,
} from "../../../packages/cli/src/warnings.js";

/** A destination whose listing of uploads gives `listed`, of which this run began `ours`. */
function store(listed: PendingUpload[], ours: PendingUpload[] = []) {
  return {
    async *listUploads() {
      yield* listed;
    },
    begunUploads: () => ours,
  };
}

const started = Date.parse("2026-12-05T21:39:12.500Z");
const at = (iso: string, key: string, uploadId = key): PendingUpload => ({
  key,
  uploadId,
  initiated: new Date(iso),
});

async function said(
  listed: PendingUpload[],
  ours: PendingUpload[] = [],
  flags: DestinationFlags = { dstProfile: "dst" },
): Promise<string[]> {
  const out: string[] = [];
  const sink = { write: (s: string) => out.push(s) > 0 } as unknown as NodeJS.WritableStream;
  await warnLeftUploads(store(listed, ours), { bucket: "d", prefix: "" }, flags, started, sink);
  return out;
}

describe("warnLeftUploads: what a sync says of uploads it finds left", () => {
  it("names those begun before the run's second with the cleanup that aborts them, bounded by that second", async () => {
    const [line, ...more] = await said([
      at("2026-12-05T21:39:11.900Z", "a"),
      at("2026-12-05T21:39:13.100Z", "later"),
    ]);
    expect(more).toEqual([]);
    expect(line).toContain("1 multipart upload under s3://d/ began before this run");
    expect(line).toContain(
      "chunksync cleanup s3://d/ --dst-profile dst --older-than 0s --started-before 2026-12-05T21:39:12Z aborts them",
    );
  });

  it("the cleanup it names takes the destination's expected owner, as the run had it", async () => {
    const [line] = await said([at("2026-12-05T21:39:11Z", "a")], [], {
      dstProfile: "dst",
      dstAccountId: "123456789012",
    });
    expect(line).toContain(
      "chunksync cleanup s3://d/ --dst-profile dst --dst-account-id 123456789012 --older-than 0s",
    );
  });

  it("says apart those of its own first second it did not begin (a restart within the second of a kill), to be listed, not aborted", async () => {
    const mine = at("2026-12-05T21:39:12.700Z", "mine", "u-mine");
    const lines = await said(
      [at("2026-12-05T21:39:12.044Z", "killed"), mine, at("2026-12-05T21:39:14Z", "later")],
      [mine],
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(
      "1 multipart upload under s3://d/ that this run did not begin began in the second it started",
    );
    expect(lines[0]).toContain("--started-before 2026-12-05T21:39:13Z --dry-run lists them");
  });

  it("says nothing where none is left", async () => {
    expect(await said([])).toEqual([]);
  });
});

describe("leftUploadsAhead: the uploads listed as a sync begins", () => {
  /**
   * A destination whose listing of uploads gives `listed` and counts its listings; `creates`
   * is how many CreateMultipartUpload requests it has sent by the time a listing is answered.
   */
  function counting(listed: PendingUpload[], ours: PendingUpload[], creates: () => number) {
    const seen = { listings: 0, created: 0 };
    return {
      seen,
      store: {
        async *listUploads() {
          seen.listings++;
          yield* listed;
          seen.created = creates();
        },
        begunUploads: () => ours,
        uploadsCreated: () => seen.created,
        // The server's time as its answers state it: the run began as the listing was answered.
        serverTime: () => started,
      },
    };
  }
  const destination = { bucket: "d", prefix: "" };
  const run = async (
    store: Parameters<typeof leftUploadsAhead>[0] & Parameters<typeof warnLeftUploads>[0],
    signal?: AbortSignal,
  ) => {
    const out: string[] = [];
    const sink = { write: (s: string) => out.push(s) > 0 } as unknown as NodeJS.WritableStream;
    const ahead = leftUploadsAhead(store, destination);
    await warnLeftUploads(store, destination, { dstProfile: "dst" }, started, sink, signal, ahead);
    return out;
  };

  it("answered before the run created any upload, is what is said after it: no listing at its end", async () => {
    const { store, seen } = counting([at("2026-12-05T21:39:11.900Z", "a")], [], () => 0);
    const [line, ...more] = await run(store);
    expect(more).toEqual([]);
    expect(line).toContain("1 multipart upload under s3://d/ began before this run");
    // Bounded by the second the server answered it in: the run's start.
    expect(line).toContain("--started-before 2026-12-05T21:39:12Z aborts them");
    expect(seen.listings).toBe(1);
  });

  it("says nothing of what it found once the run was stopped, as after a listing the stop cut short", async () => {
    const { store } = counting([at("2026-12-05T21:39:11.900Z", "a")], [], () => 0);
    expect(await run(store, AbortSignal.abort())).toEqual([]);
  });

  it("answered once the run had created an upload, stands for nothing: listed again after the run, its own left out", async () => {
    // The run's own upload, begun in its first second and seen by the listing made ahead.
    const mine = at("2026-12-05T21:39:12.700Z", "mine", "u-mine");
    const { store, seen } = counting([mine], [mine], () => 1);
    expect(await run(store)).toEqual([]);
    expect(seen.listings).toBe(2);
  });
});

describe("warnIndexNotWritten (a --quiet run prints no summary, nor its index notes)", () => {
  it("says each side whose new index could not be written, and nothing of other notes", () => {
    const out: string[] = [];
    const stream = { write: (s: string) => out.push(s) > 0 } as unknown as NodeJS.WritableStream;
    const side = (location: string, notes: string[]) => ({
      location,
      found: "loaded",
      notes,
      fromIndex: 0,
      read: 1,
    });
    const report = {
      index: {
        source: side("/idx/src", ["piece p-1 was dropped: damaged"]),
        destination: side("s3://idx/dst/", [notWrittenNote(new Error("access denied"))]),
      },
    } as unknown as RunReport;
    warnIndexNotWritten(report, stream);
    expect(out).toEqual([
      "chunksync: warning: destination index at s3://idx/dst/: the new index could not be written (access denied); the index stored before this run, if any, stands\n",
    ]);
  });
});
