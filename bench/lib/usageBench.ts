import { startLocalS3 } from "../../scripts/local-s3/index.js";
import { BenchContext } from "./BenchContext.js";
import { ensureTools } from "./tools.js";
import type { RgwUsage } from "./usage.js";

/**
 * The context of a bench whose byte figures come from the server: the local RGW (started, or
 * the one S3_ENDPOINT names) with its usage log, and the peers' tools installed.
 */
export async function usageLogContext(
  log: (line: string) => void,
): Promise<{ ctx: BenchContext; usage: RgwUsage }> {
  await ensureTools(log);
  const ctx = new BenchContext(await startLocalS3({ log }), false, log);
  if (ctx.usage === undefined)
    throw new Error("this bench reads the RGW usage log: run it against the local RGW");
  return { ctx, usage: ctx.usage };
}
