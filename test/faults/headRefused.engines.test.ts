import { describe, expect, it } from "vitest";
import { flipByte, seededBytes } from "../support/data.js";
import { proxiedWorld, storeVia } from "../support/faultWorld.js";
import { putObject } from "../support/s3.js";
import { syncWith, workflowWith } from "../support/stores.js";

const MiB = 1024 * 1024;

/**
 * A destination that refuses every HEAD (a gateway answering 500, or 403, to HeadObject only):
 * both engines head an object by the same rule (the listing, the first chunk read ahead, a
 * HEAD), so the same objects fail, with the same code. Those are the ones only a HEAD can
 * head: an empty object, one whose first chunk has another length than the source's, and the
 * replacements Ceph RGW 16 needs a HEAD to guard.
 */
describe("every HEAD of the destination refused", () => {
  const world = proxiedWorld();

  for (const [action, code] of [
    ["internalError", "STORAGE_UNAVAILABLE"],
    ["forbidden", "ACCESS_DENIED"],
  ] as const) {
    it(`${action}: both engines fail the same objects with ${code}, and sync the rest`, async () => {
      const { src, dst, proxy } = world;
      const base = seededBytes(`head-${action}`, 6 * MiB);
      const small = Buffer.from(`small of ${action}`);
      const outcomes: Record<string, unknown> = {};
      for (const [name, engine] of [
        ["direct", syncWith],
        ["workflow", workflowWith],
      ] as const) {
        const { srcBucket, dstBucket, source } = await world.pair(`head-${action}-${name}`);
        for (const [key, bytes] of [
          ["same.bin", base],
          ["same.txt", small],
          ["changed.bin", base],
          ["changed.txt", small],
          ["resized.bin", base.subarray(0, 3 * MiB)],
          ["empty", Buffer.alloc(0)],
        ] as const)
          await putObject(dst, dstBucket, key, bytes);
        for (const [key, bytes] of [
          ["same.bin", base],
          ["same.txt", small],
          ["changed.bin", flipByte(base, 5 * MiB + 7)],
          ["changed.txt", flipByte(small, 2)],
          ["resized.bin", base],
          ["empty", Buffer.alloc(0)],
          ["new.bin", base],
          ["new.txt", small],
        ] as const)
          await putObject(src, srcBucket, key, bytes);
        // Two attempts a request: a 500 is retried, and the run need not wait out six.
        const destination = await storeVia("destination", dstBucket, proxy.url, { maxAttempts: 2 });
        proxy.setRules([{ name: `${action}-${name}`, action, method: "HEAD", path: `/${dstBucket}/` }]);
        const report = await engine(source, destination);
        proxy.setRules([]);
        outcomes[name] = report.results
          .map((r) => [r.destinationKey, r.state, r.error?.code ?? null])
          .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
      }
      const expected = [
        ["changed.bin", "failed", code],
        ["changed.txt", "failed", code],
        ["empty", "failed", code],
        ["new.bin", "missing", null],
        ["new.txt", "missing", null],
        ["resized.bin", "failed", code],
        ["same.bin", "identical", null],
        ["same.txt", "identical", null],
      ];
      expect(outcomes).toEqual({ direct: expected, workflow: expected });
    });
  }
});
