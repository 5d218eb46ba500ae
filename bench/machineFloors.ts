/**
 * What this machine allows: the costs no implementation avoids here, measured in one invocation,
 * and the floors they put under the time targets that are still missed. On this machine the
 * client and the local server share two cores, and a copy keeps both busy, so a run's wall time
 * follows the client's and the server's CPU together; each figure below is CPU, not wall.
 *
 * - The server's CPU per MiB of a GET, of a PutObject and of an UploadPartCopy (the server-side
 *   copy a re-composition writes its unchanged ranges with): a GET of 8 x 64 MiB objects, rclone's
 *   copy of them (a GET and a PutObject each: the PutObject's share is its cost less the GETs'),
 *   and copies of 56 MiB of each into a multipart upload that is then aborted.
 * - The client's SHA-256 (the digest both indexes keep, issue 13 item 3) from memory.
 * - A process's start: `node -e 0`, `chunksync --version`, `rclone version`; and rclone's whole
 *   no-change `sync --checksum` of the same objects.
 *
 *   npx tsx bench/machineFloors.ts [--rounds 3]
 *
 * S3_ENDPOINT and its keys (see scripts/local-s3.ts) name a running server; else one is started.
 */
import { createHash } from "node:crypto";
import { loadavg } from "node:os";
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { CLI } from "./lib/BenchContext.js";
import { pool, putObject, seededBytes } from "./lib/data.js";
import { median, option, pairedBench, timed } from "./lib/paired.js";
import { serverCpuSeconds } from "./lib/serverCpu.js";
import { MiB, markdownTable, secs } from "./lib/table.js";
import { DELTA } from "./sections/deltaScenario.js";
import { rcloneSync } from "./sections/digestIndex.js";
import { rcloneCopyArgs } from "./sections/fullCopies.js";

const keys = Array.from({ length: DELTA.objects }, (_, i) => `large/${i}.bin`);
const total = DELTA.objects * DELTA.size;
/** Bytes of each object a re-composition copies where one of its chunks changed. */
const copied = DELTA.size - DELTA.chunkSize;

pairedBench(3, async ({ argv, ctx }) => {
  const rounds = Number(option(argv, "--rounds") ?? 3);
  const conf = ctx.s3.cephConf;
  if (!conf)
    throw new Error("this bench reads the local Ceph server's CPU: run it against scripts/local-s3's RGW");
  const server = () => serverCpuSeconds(conf);
  const src = await ctx.createBucket("source", ctx.bucketName("floors-src"));
  ctx.log(`filling ${DELTA.objects} x ${DELTA.size / MiB} MiB`);
  for (const [i, key] of keys.entries())
    await putObject(ctx.clients.source, src, key, seededBytes(`delta-${i}`, DELTA.size));

  const samples = { get: [] as number[], part: [] as number[], hash: [] as number[] };
  const rclone = {
    wall: [] as number[],
    cpu: [] as number[],
    server: [] as number[],
    noChange: [] as number[],
  };
  const starts = new Map<string, { wall: number[]; cpu: number[] }>();
  const start = async (label: string, command: string, args: string[]) => {
    const t = await timed(command, args, ctx.chunksyncEnv());
    const s = starts.get(label) ?? { wall: [], cpu: [] };
    s.wall.push(t.wall);
    s.cpu.push(t.cpu);
    starts.set(label, s);
  };
  let copy = "";
  for (let r = 0; r < rounds; r++) {
    // rclone's copy: a GET of each object streamed into a PutObject.
    const dst = await ctx.createBucket("destination", ctx.bucketName(`floors-${r}`));
    let before = server();
    const t = await timed("rclone", rcloneCopyArgs(src, dst), ctx.rcloneEnv());
    rclone.server.push(server() - before);
    rclone.wall.push(t.wall);
    rclone.cpu.push(t.cpu);
    // Its whole no-change run over the same objects.
    rclone.noChange.push((await timed("rclone", rcloneSync(src, dst), ctx.rcloneEnv())).wall);
    if (copy) await ctx.dropBuckets([copy]);
    copy = dst;

    before = server();
    await pool(keys, 8, async (key) => {
      const got = await ctx.clients.source.send(new GetObjectCommand({ Bucket: src, Key: key }));
      for await (const _ of got.Body as AsyncIterable<Uint8Array>);
    });
    samples.get.push(server() - before);

    // A re-composition's server-side copies: every chunk but one, in parts of at most 32 MiB.
    before = server();
    await pool(keys, 8, async (key) => {
      const destination = ctx.clients.destination;
      const { UploadId } = await destination.send(
        new CreateMultipartUploadCommand({ Bucket: copy, Key: key }),
      );
      const parts: Promise<unknown>[] = [];
      for (let at = 0, n = 1; at < copied; at += 32 * MiB, n++) {
        const end = Math.min(copied, at + 32 * MiB) - 1;
        parts.push(
          destination.send(
            new UploadPartCopyCommand({
              Bucket: copy,
              Key: key,
              UploadId,
              PartNumber: n,
              CopySource: `${copy}/${key}`,
              CopySourceRange: `bytes=${at}-${end}`,
            }),
          ),
        );
      }
      await Promise.all(parts);
      await destination.send(new AbortMultipartUploadCommand({ Bucket: copy, Key: key, UploadId }));
    });
    samples.part.push(server() - before);

    const data = seededBytes("floors-hash", 64 * MiB);
    const t0 = performance.now();
    for (let i = 0; i < total / data.length; i++) createHash("sha256").update(data).digest();
    samples.hash.push((performance.now() - t0) / 1000);

    for (const [label, command, args] of [
      ["`node -e 0`", process.execPath, ["-e", "0"]],
      ["`chunksync --version`", process.execPath, [CLI, "--version"]],
      ["`rclone version`", "rclone", ["version"]],
    ] as const)
      await start(label, command, [...args]);
    ctx.log(`round ${r + 1}/${rounds}, load ${loadavg()[0]!.toFixed(1)}`);
  }

  const ms = (seconds: number) => `${(seconds * 1000).toFixed(0)} ms`;
  const perMiB = (seconds: number, bytes: number) => `${((seconds * 1000 * MiB) / bytes).toFixed(2)} ms`;
  const get = median(samples.get);
  const put = median(rclone.server) - get;
  const part = median(samples.part);
  const hash = median(samples.hash);
  const rcloneCpu = median(rclone.cpu);
  const rcloneServer = median(rclone.server);
  const both = rcloneCpu + rcloneServer;
  const [getPerMiB, putPerMiB, copyPerMiB, hashPerMiB] = [
    get / (total / MiB),
    put / (total / MiB),
    part / ((DELTA.objects * copied) / MiB),
    hash / (total / MiB),
  ];
  const changed = DELTA.edited.length * DELTA.size;
  const chunks = DELTA.edited.length * DELTA.chunkSize;
  const mibOf = (bytes: number) => bytes / MiB;
  const recomposed =
    getPerMiB * mibOf(changed) + copyPerMiB * mibOf(changed - chunks) + putPerMiB * mibOf(chunks);
  const incremental = {
    rclone: (getPerMiB + putPerMiB) * mibOf(changed),
    versioned: recomposed + getPerMiB * mibOf(chunks),
    unversioned: recomposed + getPerMiB * mibOf(changed),
    hashVersioned: hashPerMiB * mibOf(changed + chunks),
    hashUnversioned: hashPerMiB * mibOf(2 * changed),
  };
  const cpuOf = (label: string) => median(starts.get(label)?.cpu ?? [0]);
  const cliStart = cpuOf("`chunksync --version`") - cpuOf("`rclone version`");
  console.log(
    [
      `## What this machine allows, medians of ${rounds} rounds (load average now ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" / ")})`,
      "",
      markdownTable(
        ["cost", "measured", "per MiB"],
        [
          [
            `server: GET of ${DELTA.objects} x ${DELTA.size / MiB} MiB, 8 in flight`,
            ms(get),
            perMiB(get, total),
          ],
          ["server: PutObject of the same (rclone's copy less its GETs)", ms(put), perMiB(put, total)],
          [
            `server: UploadPartCopy of ${copied / MiB} MiB of each (parts of <= 32 MiB)`,
            ms(part),
            perMiB(part, DELTA.objects * copied),
          ],
          [`client: SHA-256 of ${total / MiB} MiB from memory, one thread`, ms(hash), perMiB(hash, total)],
          [
            `rclone's copy of ${DELTA.objects} x ${DELTA.size / MiB} MiB: wall, client CPU, server CPU`,
            `${median(rclone.wall).toFixed(2)} s, ${rcloneCpu.toFixed(2)} s, ${rcloneServer.toFixed(2)} s`,
            "",
          ],
          ...[...starts].map(([label, s]) => [
            `${label}: wall, CPU`,
            `${ms(median(s.wall))}, ${ms(median(s.cpu))}`,
            "",
          ]),
          [
            "rclone's whole no-change `sync --checksum` of those objects: wall",
            ms(median(rclone.noChange)),
            "",
          ],
        ],
      ),
      "",
      // Issue 13's initial copy: rclone's client and server CPU, and the same plus the SHA-256 of
      // every byte that item 3 asks the destination's side to take of what it uploads. Two cores
      // give at most 2 s of CPU a second: the second figure is for a run with no idle moment.
      `Initial copy (issue 13): both cores are ${((100 * both) / (2 * median(rclone.wall))).toFixed(0)}% busy during rclone's copy. A copier that did all rclone does at rclone's cost and also hashed what it uploads would reach at most ${(both / (both + hash)).toFixed(2)}x rclone's speed here at that utilization, and ${(median(rclone.wall) / ((both + hash) / 2)).toFixed(2)}x with both cores busy every moment.`,
      "",
      `Incremental run (issue 11 b): an UploadPartCopy costs the server ${(copyPerMiB / putPerMiB).toFixed(2)}x a PutObject of the same bytes. For the delta bench (${DELTA.edited.length} of the objects, one chunk each changed) the server's work is ${secs(incremental.rclone)} for rclone (a GET and a PutObject of each changed object) and at least ${secs(incremental.versioned)} for a re-composition (the source's GETs, the copies, the changed chunks' upload and the destination's read of them), ${secs(incremental.unversioned)} where the destination reads each re-composed object whole (no versions, on a server that ignores x-amz-copy-source-if-match: see the README's digest index). Hashing what it reads adds at least ${secs(incremental.hashVersioned)} and ${secs(incremental.hashUnversioned)} of client CPU, and the CLI's start ${secs(cliStart)} more than rclone's (CPU); rclone's client took ${secs(rcloneCpu * (changed / total))} for its copy of those bytes (its copy's CPU, scaled).`,
      "",
      `No-change run (issue 11 a): Node's own start (\`node -e 0\`) takes ${secs(median(starts.get("`node -e 0`")?.wall ?? [0]))} of wall, rclone's whole no-change run ${secs(median(rclone.noChange))}.`,
      "",
    ].join("\n"),
  );
});
