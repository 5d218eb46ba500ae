import { describe, expect, it } from "vitest";
import type { FaultRule } from "../support/faultProxy.js";
import { listKeys, proxiedWorld } from "../support/faultWorld.js";
import { putObject, readAll } from "../support/s3.js";
import { syncWith, workflowWith } from "../support/stores.js";

/**
 * With `--delete`, an object only the destination lists is deleted only once a HEAD of its key on
 * the source finds none: both engines ask the source (the workflow through a source-side step, as
 * the destination's functions cannot read it). So one the source gains after its listing keeps the
 * destination's copy, and one whose HEAD the source refuses is reported failed and kept; without
 * `--delete` the source is not asked at all.
 */
describe("destination-only objects and the source's answer before a delete", () => {
  const world = proxiedWorld();

  for (const [name, engine] of [
    ["direct", syncWith],
    ["workflow", workflowWith],
  ] as const) {
    it(`${name}: a key the source gains after its listing keeps the destination's object`, async () => {
      const { src, dst, proxy } = world;
      const { srcBucket, dstBucket, source, destination } = await world.pair(`extras-${name}`);
      await putObject(src, srcBucket, "both.txt", Buffer.from("on both sides"));
      await putObject(dst, dstBucket, "both.txt", Buffer.from("on both sides"));
      for (const key of ["gone.txt", "late.txt", "refused.txt"])
        await putObject(dst, dstBucket, key, Buffer.from(`the destination's ${key}`));
      const outcome = (report: Awaited<ReturnType<typeof engine>>) =>
        report.results
          .map((r) => [r.destinationKey, r.state, r.action, r.applied, r.error?.code ?? null])
          .sort((a, b) => String(a[0]).localeCompare(String(b[0])));

      const asked: FaultRule = {
        name: `source asked (${name})`,
        action: "delay",
        delayMs: 0,
        method: "HEAD",
        path: new RegExp(`^/${srcBucket}/(gone|late|refused)\\.txt$`),
      };
      proxy.setRules([asked]);
      const kept = await engine(source, destination);
      proxy.setRules([]);
      expect(proxy.firedCount(asked.name)).toBe(0);
      expect(outcome(kept)).toEqual([
        ["both.txt", "identical", "none", true, null],
        ["gone.txt", "extra", "keep", false, null],
        ["late.txt", "extra", "keep", false, null],
        ["refused.txt", "extra", "keep", false, null],
      ]);

      const rules: FaultRule[] = [
        {
          name: `the source gains the key once listed (${name})`,
          action: "hook",
          method: "HEAD",
          path: `/${srcBucket}/late.txt`,
          hook: async () => {
            await putObject(src, srcBucket, "late.txt", Buffer.from("written since"));
          },
          times: 1,
        },
        // The HEAD and the listing from the key that tells a missing key from a refused one.
        {
          name: `HEAD refused (${name})`,
          action: "forbidden",
          method: "HEAD",
          path: `/${srcBucket}/refused.txt`,
          times: 1,
        },
        {
          name: `listing from the key refused (${name})`,
          action: "forbidden",
          method: "GET",
          path: `/${srcBucket}`,
          query: /prefix=refused\.txt/,
          times: 1,
        },
      ];
      proxy.setRules(rules);
      const deleted = await engine(source, destination, { delete: true });
      proxy.setRules([]);
      for (const rule of rules) expect(proxy.firedCount(rule.name), rule.name).toBe(1);
      expect(outcome(deleted)).toEqual([
        ["both.txt", "identical", "none", true, null],
        ["gone.txt", "extra", "delete", true, null],
        ["late.txt", "extra", "keep", false, null],
        ["refused.txt", "extra", "delete", false, "ACCESS_DENIED"],
      ]);
      expect(deleted.objects).toMatchObject({ extra: 3, deleted: 1, failed: 1 });
      expect(await listKeys(dst, dstBucket)).toEqual(["both.txt", "late.txt", "refused.txt"]);
      expect((await readAll(dst, dstBucket, "late.txt")).toString()).toBe("the destination's late.txt");
    });
  }
});
