import { HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { seededBytes } from "../support/data.js";
import { readAll, withBucketPair } from "../support/s3.js";

const MiB = 1024 * 1024;

interface Summary {
  objects: Record<string, number>;
  bytes: { transferred: number; copiedServerSide: number };
}

describe.each(["direct", "workflow"])(
  "a source object that states no Content-Type (--engine %s)",
  (engine) => {
    it("is synced once, then found identical: the destination's default type matches it", () =>
      withBucketPair("untyped", async ({ src, dst, s, d }) => {
        const env = profileEnv();
        const pair = [`s3://${s}`, `s3://${d}`];
        // The SDK sends a blob's default type; the header is emptied as the request leaves.
        for (const [key, size] of [
          ["small", 100],
          ["parts", 6 * MiB],
        ] as const) {
          const put = new PutObjectCommand({ Bucket: s, Key: key, Body: seededBytes(key, size) });
          put.middlewareStack.add(
            (next) => async (args) => {
              (args.request as { headers: Record<string, string> }).headers["content-type"] = "";
              return next(args);
            },
            { step: "build" },
          );
          await src.send(put);
          expect((await src.send(new HeadObjectCommand({ Bucket: s, Key: key }))).ContentType ?? "").toBe("");
        }
        const run = async (command: string) => {
          const out = await runCli(
            [command, ...pair, ...SIDES, "--chunk-size", "5MiB", "--json", "--quiet", "--engine", engine],
            env,
          );
          expect(out.code, out.stderr).toBeLessThan(2);
          return { code: out.code, summary: JSON.parse(out.stdout) as Summary };
        };
        const first = await run("sync");
        expect(first.summary.objects).toMatchObject({ missing: 2, failed: 0 });
        // Before, every later run restated the type (the server's default against the source's
        // empty one), and check reported the objects changed.
        for (let round = 0; round < 2; round++) {
          const again = await run("sync");
          expect(again.code).toBe(0);
          expect(again.summary.objects).toMatchObject({ identical: 2, changed: 0 });
          expect(again.summary.bytes.copiedServerSide + again.summary.bytes.transferred).toBe(0);
        }
        for (const key of ["small", "parts"])
          expect((await readAll(dst, d, key)).equals(await readAll(src, s, key)), key).toBe(true);
      }));
  },
);
