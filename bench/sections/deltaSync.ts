import type { BenchContext } from "../lib/BenchContext.js";
import { MiB, markdownTable, mib, ratio, secs } from "../lib/table.js";
import {
  awsTool,
  chunksyncTool,
  DELTA,
  type DeltaResult,
  type Measured,
  rcloneTool,
  runDeltaScenario,
  touchedChunkBytes,
} from "./deltaScenario.js";

/** Bytes that crossed from the source side to the destination side in a run. */
export function crossed(m: Measured): number | undefined {
  if (m.destinationWritten === undefined) return undefined;
  return m.destinationWritten + m.serverSideCopied;
}

/** Section 1: delta sync against rclone and aws s3 sync. */
export async function deltaSyncSection(ctx: BenchContext): Promise<string> {
  const results = await runDeltaScenario(ctx, "delta", [
    chunksyncTool("chunksync sync"),
    // Chunk level, as every run was before blocks: the wall-time yardstick of the block rounds.
    chunksyncTool("chunksync sync --no-blocks", ["--no-blocks"]),
    rcloneTool,
    awsTool,
  ]);
  return deltaTables(results, {
    title: "1. Delta sync against peers",
    baseline: "chunksync sync",
    peers: true,
  });
}

export function deltaTables(
  results: DeltaResult[],
  o: { title: string; baseline: string; peers?: boolean },
): string {
  const target = touchedChunkBytes() * 1.01;
  const rows = results.map((r) => [
    r.tool,
    secs(r.initial.seconds),
    secs(r.incremental.seconds),
    r.detected
      ? `yes (${r.rewritten.length}/${DELTA.objects} rewritten)`
      : `NO (${r.rewritten.length}/${DELTA.objects} rewritten)`,
    r.equal ? "yes" : `NO: ${r.mismatched.join(", ")}`,
    mib(r.incremental.sourceRead),
    mib(r.incremental.destinationWritten),
    mib(r.incremental.serverSideCopied),
    mib(crossed(r.incremental)),
    r.incremental.summary
      ? `transferred ${mib(r.incremental.summary.bytes.transferred)}, read src ${mib(r.incremental.summary.bytes.sourceRead)} / dst ${mib(r.incremental.summary.bytes.destinationRead)}`
      : "",
  ]);
  const base = results.find((r) => r.tool === o.baseline);
  const ratios = results
    .filter((r) => r !== base && base)
    .map((r) => [
      `${o.baseline} / ${r.tool}`,
      ratio(base!.incremental.seconds, r.incremental.seconds),
      ratio(crossed(base!.incremental), crossed(r.incremental)),
      ratio(base!.initial.seconds, r.initial.seconds),
    ]);
  const baseCrossed = base ? crossed(base.incremental) : undefined;
  const chunkLevel = results.find((r) => r.tool === `${o.baseline} --no-blocks`);
  const blocksVerdict =
    base && chunkLevel
      ? [
          `Blocks against chunk level (issue: no slower than before blocks): incremental ` +
            `${secs(base.incremental.seconds)} with blocks, ${secs(chunkLevel.incremental.seconds)} with ` +
            `--no-blocks (${ratio(base.incremental.seconds, chunkLevel.incremental.seconds)}; ` +
            `${base.incremental.seconds <= chunkLevel.incremental.seconds ? "no slower" : "SLOWER"} in this run). ` +
            "With blocks, *dst written* holds whole chunks the destination's side assembled from its own old " +
            "bytes and the few source bytes; what came from the source is chunksync's *transferred*.",
          "",
        ]
      : [];
  return [
    `## ${o.title}`,
    "",
    `${DELTA.objects} objects x ${DELTA.size / MiB} MiB (seeded random); initial sync into an empty bucket, then ` +
      `${DELTA.editLength / MiB} MiB overwritten at offset ${DELTA.editOffset / MiB} MiB in ${DELTA.edited.length} objects ` +
      "(same size) and an incremental sync. Each tool has its own destination bucket. Bytes come from the RADOS " +
      "Gateway usage log (per bucket): *source GET* = GET response bytes out of the source bucket; *dst written* = " +
      "request body bytes into the destination bucket (PUT, UploadPart); *server-side copied* = size of the objects " +
      "the tool reports copying inside the server (CopyObject/UploadPartCopy move no bytes through the client, so the " +
      "usage log does not count them); *crossed* = dst written + server-side copied. *Equal* = sha256 of a full GET " +
      "of every destination object equals the source's.",
    "",
    markdownTable(
      [
        "tool",
        "initial sync",
        "incremental",
        "detected the same-size change",
        "equal after",
        "source GET",
        "dst written",
        "server-side copied",
        "crossed",
        "chunksync's own counters",
      ],
      rows,
    ),
    "",
    markdownTable(["ratio", "incremental time", "bytes crossed", "initial sync time"], ratios),
    "",
    `Target: chunksync's crossed bytes <= touched chunks + 1% = ${mib(target)}; measured ${mib(baseCrossed)} ` +
      `(${baseCrossed !== undefined && baseCrossed <= target ? "met" : "MISSED"}).` +
      (o.peers
        ? ` Peers: about ${mib(DELTA.edited.length * DELTA.size)} (the ${DELTA.edited.length} whole objects).`
        : ""),
    "",
    ...blocksVerdict,
  ].join("\n");
}
