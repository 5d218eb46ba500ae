import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { expect, it } from "vitest";
import { CLI_BIN, cleanEnv, profileEnv, runCli, SIDES } from "../support/cli.js";
import { seededBytes } from "../support/data.js";
import { putObject, readAll, withBucketPair } from "../support/s3.js";

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
