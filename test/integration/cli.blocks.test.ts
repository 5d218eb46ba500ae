import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { seededBytes } from "../support/data.js";
import { type BucketPair, putObject, readAll, withBucketPair } from "../support/s3.js";

const KiB = 1024;
const MiB = 1024 * KiB;

interface Summary {
  objects: Record<string, number>;
  bytes: {
    sourceRead: number;
    destinationRead: number;
    transferred: number;
    uploaded: number;
    copiedServerSide: number;
  };
}

/** Real edits through the real CLI on the local server: what crosses, and that the result is byte-equal. */
describe("chunksync CLI: blocks inside changed chunks", () => {
  const work = mkdtempSync(join(tmpdir(), "blocks-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const env = profileEnv();
  let runs = 0;

  async function sync(p: BucketPair, ...extra: string[]): Promise<Summary> {
    const dir = join(work, String(++runs));
    const index = extra.includes("--no-index")
      ? []
      : ["--src-index", join(dir, "s"), "--dst-index", join(dir, "d")];
    const r = await runCli(
      ["sync", `s3://${p.s}`, `s3://${p.d}`, ...SIDES, "--chunk-size", "5MiB", "--json", ...index, ...extra],
      env,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as Summary;
  }

  /** Syncs `old`, replaces the source with `next`, syncs again and checks the destination holds `next`. */
  async function edit(name: string, old: Buffer, next: Buffer, ...extra: string[]): Promise<Summary> {
    return withBucketPair(name, async (p) => {
      await putObject(p.src, p.s, "obj", old);
      await sync(p, ...extra);
      await putObject(p.src, p.s, "obj", next);
      const summary = await sync(p, ...extra);
      expect(summary.objects.changed).toBe(1);
      expect((await readAll(p.dst, p.d, "obj")).equals(next)).toBe(true);
      return summary;
    });
  }

  const old = seededBytes("blocks-old", 24 * MiB);

  it("a same-size 1 MiB edit crosses about 1 MiB, not its chunks; the destination builds the rest from its own bytes", async () => {
    const next = Buffer.from(old);
    seededBytes("edit", MiB).copy(next, 7 * MiB + 12345);
    const { bytes } = await edit("edit", old, next);
    expect(bytes.transferred).toBeGreaterThanOrEqual(MiB);
    expect(bytes.transferred).toBeLessThanOrEqual(1.1 * MiB + 512 * KiB);
    // The assembled parts upload old bytes too, read on the destination's side.
    expect(bytes.uploaded).toBeGreaterThan(bytes.transferred);
    expect(bytes.destinationRead).toBeGreaterThan(0);
  });

  it("after a same-size 1 MiB edit the destination reads only what it challenges and the changed chunk once: nothing again, nothing back", async () => {
    const next = Buffer.from(old);
    seededBytes("edit", MiB).copy(next, 7 * MiB + 12345);
    // Without an index every run challenges the whole old object, so the runs read alike but for the verification.
    const read: Record<string, Summary["bytes"]> = {};
    for (const verify of ["none", "changed", "full"])
      read[verify] = (await edit(`verify-${verify}`, old, next, "--no-index", "--verify", verify)).bytes;
    const { changed } = read;
    // The edit lies in chunk 1, built whole on the destination's side: its old bytes are read once.
    const assembledFrom = changed!.uploaded - changed!.transferred;
    expect(changed!.uploaded).toBe(5 * MiB);
    expect(assembledFrom).toBeGreaterThan(3.5 * MiB);
    // The challenge reads the old object; the first block round reads the changed chunk once,
    // and the guesses, the fine blocks and the assembled part take its bytes from that read.
    expect(changed!.destinationRead).toBe(old.length + 5 * MiB);
    // The chunk was digested as it was uploaded with its Content-MD5: verifying it reads nothing.
    expect(changed!.destinationRead).toBe(read.none!.destinationRead);
    // --verify full still reads every chunk of the written object back.
    expect(read.full!.destinationRead - changed!.destinationRead).toBe(next.length);
  });

  it("an insertion near the start crosses about one block, not every chunk after it", async () => {
    const next = Buffer.concat([old.subarray(0, 3000), seededBytes("insert", 1400), old.subarray(3000)]);
    const { bytes } = await edit("insert", old, next);
    expect(bytes.transferred).toBeLessThanOrEqual(512 * KiB);
  });

  it("1 MiB appended crosses about 1 MiB, not the old partial tail", async () => {
    const next = Buffer.concat([old, seededBytes("append", MiB)]);
    const { bytes } = await edit("append", old, next);
    expect(bytes.transferred).toBeLessThanOrEqual(1.1 * MiB + 256 * KiB);
  });

  it("--no-blocks and the decode variant send each changed chunk whole", async () => {
    const next = Buffer.from(old);
    seededBytes("edit2", 1000).copy(next, 7 * MiB);
    for (const flags of [["--no-blocks"], ["--variant", "decode"]]) {
      const { bytes } = await edit("whole", old, next, ...flags);
      expect(bytes.transferred).toBe(5 * MiB);
      expect(bytes.uploaded).toBe(5 * MiB);
    }
  });
});
