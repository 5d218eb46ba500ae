import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { decodeManifest, decodePiece, type IndexScope, type PieceRef } from "@chunksync/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import { startCli } from "../support/faultWorld.js";
import { createBucket, emptyAndDeleteBucket, readAll, s3Client, uniqueBucketName } from "../support/s3.js";

const OBJECTS = 3000;
// Metadata makes each entry about 1.6 KB, so each side's index is cut into two pieces (4 MiB each at most).
const PAD = "x".repeat(1500);
const key = (i: number) => `k/${String(i).padStart(5, "0")}`;

interface SideReport {
  found: string;
  notes: string[];
  fromIndex: number;
  read: number;
}

/** The one scope directory under an index root, once a run made it. */
function scopeDir(root: string): string | undefined {
  if (!existsSync(root)) return undefined;
  const names = readdirSync(root);
  return names.length === 1 ? join(root, names[0]!) : undefined;
}

function namesIn(root: string): string[] {
  const dir = scopeDir(root);
  return dir && existsSync(dir) ? readdirSync(dir) : [];
}

/**
 * What a reader finds at `root`: no manifest, or a manifest that decodes whole and names pieces
 * that all exist and decode. Throws on anything else.
 */
function indexState(root: string): { manifest: boolean; pieces: number } {
  const dir = scopeDir(root);
  const path = dir && join(dir, "manifest.json");
  if (path === undefined || !existsSync(path)) return { manifest: false, pieces: 0 };
  const data = readFileSync(path);
  const scope = (JSON.parse(data.toString()) as { scope: IndexScope }).scope;
  const manifest = decodeManifest(data, scope);
  for (const piece of manifest.pieces as PieceRef[])
    decodePiece(readFileSync(join(dir!, piece.name)), piece, scope);
  return { manifest: true, pieces: manifest.pieces.length };
}

describe("kill -9 of the CLI while it writes its digest indexes", () => {
  let src: S3Client;
  let dst: S3Client;
  let s: string;
  let d: string;
  let env: Record<string, string>;
  const work = mkdtempSync(join(tmpdir(), "idx-kill-"));
  const roots = { source: join(work, "s"), destination: join(work, "d") };
  const args = () => [
    "sync",
    `s3://${s}`,
    `s3://${d}`,
    ...SIDES,
    "--chunk-size",
    "5MiB",
    "--json",
    "--src-index",
    roots.source,
    "--dst-index",
    roots.destination,
  ];

  beforeAll(async () => {
    src = s3Client("source");
    dst = s3Client("destination");
    s = uniqueBucketName("src-idxkill");
    d = uniqueBucketName("dst-idxkill");
    await createBucket(src, s);
    await createBucket(dst, d);
    env = profileEnv();
    let next = 0;
    const putter = async () => {
      for (let i = next++; i < OBJECTS; i = next++) {
        await src.send(
          new PutObjectCommand({
            Bucket: s,
            Key: key(i),
            Body: seededBytes(key(i), 1024),
            Metadata: { pad: PAD },
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: 32 }, putter));
    // LastModified is whole seconds: let the writes' second pass before any run reads them.
    await new Promise((r) => setTimeout(r, 1100));
  }, 300_000);

  afterAll(async () => {
    await emptyAndDeleteBucket(src, s);
    await emptyAndDeleteBucket(dst, d);
    rmSync(work, { recursive: true, force: true });
  });

  /**
   * Starts a sync and SIGKILLs it once `when` says so of the index directories (polled as the
   * run goes), or it ends first. Returns whether it was killed.
   */
  async function killWhen(when: (names: { source: string[]; destination: string[] }) => boolean) {
    const cli = startCli(args(), env);
    let ended = false;
    const done = cli.done.then((out) => {
      ended = true;
      return out;
    });
    while (!ended) {
      if (when({ source: namesIn(roots.source), destination: namesIn(roots.destination) })) {
        cli.kill("SIGKILL");
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    const out = await done;
    return { killed: out.signal === "SIGKILL", ...out };
  }

  /** Runs of the moments below that were killed (the rest ended before their moment came). */
  let kills = 0;
  const pieces = (names: string[]) => names.filter((n) => n.startsWith("p-"));

  it("killed as the first index's first piece is written: no manifest is left, the next run rebuilds", async () => {
    const run = await killWhen(({ source }) => pieces(source).length > 0);
    expect(run.killed, run.stderr).toBe(true);
    expect(indexState(roots.source)).toEqual({ manifest: false, pieces: 0 });
    expect(indexState(roots.destination).manifest).toBe(false);

    const whole = await runCli(args(), env);
    expect(whole.code, whole.stderr).toBe(0);
    const summary = JSON.parse(whole.stdout) as {
      objects: Record<string, number>;
      index: { source: SideReport; destination: SideReport };
    };
    expect(summary.index.source.found).toBe("absent");
    expect((summary.objects.missing ?? 0) + (summary.objects.identical ?? 0)).toBe(OBJECTS);
    expect(indexState(roots.source).pieces).toBeGreaterThanOrEqual(2);
    expect(indexState(roots.destination).pieces).toBeGreaterThanOrEqual(2);
    // Copies the killed run made in the second the whole run read them are not trusted (a
    // rewrite could follow unseen): one more run, a second later, reads them again.
    await new Promise((r) => setTimeout(r, 1100));
    const settled = await runCli(args(), env);
    expect(settled.code, settled.stderr).toBe(0);
    expect(JSON.parse(settled.stdout)).toMatchObject({
      objects: { identical: OBJECTS },
      index: { source: { found: "loaded", notes: [] }, destination: { found: "loaded", notes: [] } },
    });
    // Three runs over 3,000 objects: on a loaded 2-core machine that can pass a minute.
  }, 180_000);

  // Each moment in a run that rewrites both indexes whole (every entry comes from the old one).
  const moments: [
    string,
    (names: { source: string[]; destination: string[] }, before: Set<string>) => boolean,
  ][] = [
    ["as the first new source piece appears", (n, before) => pieces(n.source).some((p) => !before.has(p))],
    [
      "as the second new destination piece appears",
      (n, before) => pieces(n.destination).filter((p) => !before.has(p)).length >= 2,
    ],
    [
      "as a manifest is being replaced",
      (n) => [...n.source, ...n.destination].some((p) => p.startsWith(".manifest.json.")),
    ],
    ["as the old source pieces are removed", (n, before) => [...before].some((p) => !n.source.includes(p))],
  ];

  it.each(moments)(
    "killed %s: each side's manifest is the old or the new one, whole",
    async (_name, moment) => {
      await new Promise((r) => setTimeout(r, 1100));
      const before = new Set([...namesIn(roots.source), ...namesIn(roots.destination)]);
      const run = await killWhen((names) => moment(names, before));
      if (run.killed) kills++;
      else expect(run.code, run.stderr).toBe(0);
      for (const root of [roots.source, roots.destination]) {
        const state = indexState(root);
        expect(state.manifest).toBe(true);
        expect(state.pieces).toBeGreaterThanOrEqual(2);
      }
    },
  );

  it("after the kills, the next run loads both indexes and reads nothing", async () => {
    // A piece is written well before the run's end: that moment is always caught.
    expect(kills).toBeGreaterThanOrEqual(1);
    const r = await runCli(args(), env);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as {
      objects: Record<string, number>;
      bytes: { sourceRead: number; destinationRead: number };
      index: { source: SideReport; destination: SideReport };
    };
    expect(summary.objects.identical).toBe(OBJECTS);
    expect(summary.index.source).toMatchObject({ found: "loaded", notes: [], fromIndex: OBJECTS, read: 0 });
    expect(summary.index.destination).toMatchObject({
      found: "loaded",
      notes: [],
      fromIndex: OBJECTS,
      read: 0,
    });
    expect(summary.bytes.sourceRead + summary.bytes.destinationRead).toBe(0);
    for (const i of [0, 1234, OBJECTS - 1]) {
      expect((await readAll(dst, d, key(i))).equals(seededBytes(key(i), 1024))).toBe(true);
    }
  });

  it("a damaged piece of several costs only its own objects' reads", async () => {
    const dir = scopeDir(roots.source)!;
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { pieces: PieceRef[] };
    const [first, ...rest] = manifest.pieces;
    const path = join(dir, first!.name);
    writeFileSync(path, flipByte(readFileSync(path), 1000));
    const r = await runCli(args(), env);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as {
      objects: Record<string, number>;
      bytes: { sourceRead: number; destinationRead: number };
      index: { source: SideReport; destination: SideReport };
    };
    expect(summary.objects.identical).toBe(OBJECTS);
    expect(summary.index.source).toMatchObject({ found: "loaded", read: first!.count });
    expect(summary.index.source.fromIndex).toBe(rest.reduce((n, p) => n + p.count, 0));
    expect(summary.index.source.notes).toEqual([
      `piece ${first!.name} does not match its checksum: its objects (${first!.count}) are read again`,
    ]);
    expect(summary.bytes.sourceRead).toBe(first!.count * 1024);
    expect(summary.index.destination).toMatchObject({ read: 0, fromIndex: OBJECTS });
  });
});
