import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_BIN, cleanEnv, profileEnv, runCli, SIDES } from "../support/cli.js";
import { seededBytes } from "../support/data.js";
import { FaultProxy } from "../support/faultProxy.js";
import { type CliProcess, startCli } from "../support/faultWorld.js";
import { localS3, putObject, readAll, withBucketPair } from "../support/s3.js";

const MiB = 1024 * 1024;

for (const engine of ["direct", "workflow"]) {
  it(`Ctrl-C in the middle of a compose leaves the old object and no upload behind; a rerun completes (--engine ${engine})`, async () => {
    await withBucketPair(`interrupt-${engine}`, async ({ src, dst, s, d }) => {
      const fresh = seededBytes("new", 60 * MiB);
      const old = seededBytes("old", 60 * MiB);
      await putObject(src, s, "obj", fresh);
      await putObject(dst, d, "obj", old);
      const env = profileEnv();
      const args = [
        "sync",
        `s3://${s}`,
        `s3://${d}`,
        ...SIDES,
        "--chunk-size",
        "5MiB",
        "--concurrency",
        "1",
        "--engine",
        engine,
      ];
      const child = spawn(process.execPath, [CLI_BIN, ...args], { env: { ...cleanEnv(), ...env } });
      let stderr = "";
      child.stderr.on("data", (b: Buffer) => {
        stderr += b.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));

      // Wait until the compose's multipart upload exists and has parts in flight, then interrupt.
      let uploads = 0;
      for (let i = 0; i < 400 && uploads === 0; i++) {
        const out = await dst.send(new ListMultipartUploadsCommand({ Bucket: d }));
        uploads = out.Uploads?.length ?? 0;
        if (uploads === 0) await sleep(25);
      }
      expect(uploads, "the compose started").toBe(1);
      await sleep(300);
      child.kill("SIGINT");
      expect(await exited, stderr).toBe(130);
      expect(stderr).toMatch(/interrupted/);

      expect((await readAll(dst, d, "obj")).equals(old), "destination still holds the old object").toBe(true);
      const left = await dst.send(new ListMultipartUploadsCommand({ Bucket: d }));
      expect(left.Uploads ?? []).toHaveLength(0);

      const rerun = await runCli(args, env);
      expect(rerun.code, rerun.stderr).toBe(0);
      expect((await readAll(dst, d, "obj")).equals(fresh)).toBe(true);
    });
  });
}

describe("Ctrl-C twice: the second one while the uploads begun are being aborted", () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await FaultProxy.start({ upstream: localS3().endpoint });
  });
  afterAll(() => proxy.stop());

  for (const engine of ["direct", "workflow"]) {
    it(`stops at once with exit 130 and says uploads may be left; cleanup aborts them (--engine ${engine})`, async () => {
      await withBucketPair(`twice-${engine}`, async ({ src, dst, s, d }) => {
        const old = seededBytes("twice-old", 15 * MiB);
        const fresh = Buffer.from(old);
        for (const at of [1, 6, 11]) fresh[at * MiB] = (fresh[at * MiB] ?? 0) ^ 0xff;
        await putObject(src, s, "obj", fresh);
        await putObject(dst, d, "obj", old);
        let cli: CliProcess | undefined;
        let first = false;
        let second = false;
        proxy.setRules([
          {
            name: `first-${engine}`,
            action: "hook",
            when: (r) => !first && r.method === "PUT" && r.query.includes("partNumber="),
            hook: () => {
              first = true;
              cli?.kill("SIGINT");
            },
          },
          {
            // The abort of the upload is held until the second Ctrl-C has stopped the run.
            name: `second-${engine}`,
            action: "hook",
            when: (r) => !second && r.method === "DELETE" && r.query.includes("uploadId="),
            hook: async () => {
              second = true;
              cli?.kill("SIGINT");
              await cli?.done;
            },
          },
        ]);
        const env = profileEnv();
        cli = startCli(
          [
            "sync",
            `s3://${s}`,
            `s3://${d}`,
            ...SIDES,
            "--dst-endpoint",
            proxy.url,
            "--chunk-size",
            "5MiB",
          ].concat(["--concurrency", "1", "--engine", engine]),
          env,
        );
        const out = await cli.done;
        proxy.setRules([]);
        expect([first, second]).toEqual([true, true]);
        expect(out.code, out.stderr).toBe(130);
        expect(out.stderr).toMatch(
          /interrupted again; uploads begun may be left unaborted .*chunksync cleanup/,
        );
        expect((await readAll(dst, d, "obj")).equals(old), "destination still holds the old object").toBe(
          true,
        );
        // Whatever upload the stop left is cleanup's to abort.
        const cleanup = await runCli(
          ["cleanup", `s3://${d}`, "--dst-profile", "dst", "--older-than", "0s"],
          env,
        );
        expect(cleanup.code, cleanup.stderr).toBe(0);
        expect((await dst.send(new ListMultipartUploadsCommand({ Bucket: d }))).Uploads ?? []).toHaveLength(
          0,
        );
      });
    });
  }
});
