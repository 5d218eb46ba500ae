import { mkdtempSync, readFileSync } from "node:fs";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import {
  HUNG_UP,
  STOP_GRACE_S,
  STOPPED_WAITING,
  STOPPING,
  TERMINATING,
} from "../../packages/cli/src/interruptible.js";
import { profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import type { FaultProxy } from "../support/faultProxy.js";
import { type CliProcess, pendingUploads, proxiedServer, startCli } from "../support/faultWorld.js";
import { gate } from "../support/gate.js";
import { putObject, readAll, withBucketPair } from "../support/s3.js";

const MiB = 1024 * 1024;

describe("Ctrl-C in the middle of a compose", () => {
  const served = proxiedServer();

  for (const engine of ["direct", "workflow"]) {
    it(`leaves the old object and no upload behind; a rerun completes (--engine ${engine})`, async () => {
      await withBucketPair(`interrupt-${engine}`, async ({ src, dst, s, d }) => {
        const { proxy } = served;
        const fresh = seededBytes("new", 60 * MiB);
        const old = seededBytes("old", 60 * MiB);
        await putObject(src, s, "obj", fresh);
        await putObject(dst, d, "obj", old);
        const env = profileEnv();
        let cli: CliProcess | undefined;
        let parts = 0;
        proxy.setRules([
          {
            // The compose's third part goes on only once the CLI said it took the Ctrl-C.
            name: `ctrl-c-${engine}`,
            action: "hook",
            when: (r) => r.method === "PUT" && r.query.includes("partNumber=") && ++parts === 3,
            hook: () => cli?.interrupt(),
          },
        ]);
        const args = proxiedSync(s, d, proxy.url, "--concurrency", "1", "--engine", engine);
        cli = startCli([...args, "--json"], env);
        const out = await cli.done;
        proxy.setRules([]);
        expect(parts, "the compose was under way").toBeGreaterThanOrEqual(3);
        expect(out.code, out.stderr).toBe(130);
        expect(out.stderr).toMatch(/interrupted/);
        // --json still gives one object: the run was interrupted, with what it counted until then.
        expect(JSON.parse(out.stdout)).toMatchObject({
          command: "sync",
          exitCode: 130,
          interrupted: true,
          objects: { scanned: 1, changed: 0, notSettled: 1 },
        });

        expect((await readAll(dst, d, "obj")).equals(old), "destination still holds the old object").toBe(
          true,
        );
        expect(await pendingUploads(dst, d)).toEqual([]);

        const rerun = await runCli(args, env);
        expect(rerun.code, rerun.stderr).toBe(0);
        expect((await readAll(dst, d, "obj")).equals(fresh)).toBe(true);
      });
    });
  }
});

/** The arguments of a sync of `s` into `d` at 5 MiB chunks, the destination reached through `proxy`. */
const proxiedSync = (s: string, d: string, proxy: string, ...extra: string[]) => [
  "sync",
  `s3://${s}`,
  `s3://${d}`,
  ...SIDES,
  "--dst-endpoint",
  proxy,
  "--chunk-size",
  "5MiB",
  ...extra,
];

describe("Ctrl-C twice: the second one while the uploads begun are being aborted", () => {
  const served = proxiedServer();

  for (const [engine, again] of [
    ["direct", "SIGINT"],
    ["workflow", "SIGINT"],
    // A hangup after the Ctrl-C: the process ends by SIGHUP, and --json says the same status.
    ["direct", "SIGHUP"],
  ] as const) {
    const status = again === "SIGHUP" ? 129 : 130;
    it(`stops at once with exit ${status} and says uploads may be left; cleanup aborts them (--engine ${engine}, then ${again})`, async () => {
      await withBucketPair(`twice-${engine}-${again}`, async ({ src, dst, s, d }) => {
        const { proxy } = served;
        const old = seededBytes("twice-old", 15 * MiB);
        const fresh = Buffer.from(old);
        for (const at of [1, 6, 11]) fresh[at * MiB] = (fresh[at * MiB] ?? 0) ^ 0xff;
        await putObject(src, s, "obj", fresh);
        await putObject(dst, d, "obj", old);
        // Settles (written) before obj's compose starts: its report line is due before the stop.
        await putObject(src, s, "a.txt", Buffer.from("settled first"));
        const report = join(mkdtempSync(join(tmpdir(), "chunksync-twice-")), "report.jsonl");
        let cli: CliProcess | undefined;
        let first = false;
        let second = false;
        proxy.setRules([
          {
            name: `first-${engine}`,
            action: "hook",
            when: (r) => !first && r.method === "PUT" && r.query.includes("partNumber="),
            // The part goes on only once the CLI said it took the Ctrl-C.
            hook: async () => {
              first = true;
              await cli?.interrupt();
            },
          },
          {
            // The abort of the upload is held until the second Ctrl-C has stopped the run.
            name: `second-${engine}`,
            action: "hook",
            when: (r) => !second && r.method === "DELETE" && r.query.includes("uploadId="),
            hook: async () => {
              second = true;
              cli?.kill(again);
              await cli?.done;
            },
          },
        ]);
        const env = profileEnv();
        cli = startCli(
          proxiedSync(
            s,
            d,
            proxy.url,
            "--concurrency",
            "1",
            "--engine",
            engine,
            "--report",
            report,
            "--json",
          ),
          env,
        );
        const out = await cli.done;
        proxy.setRules([]);
        expect([first, second]).toEqual([true, true]);
        // --json still gives its one object: what was counted until the stop.
        expect(JSON.parse(out.stdout)).toMatchObject({
          command: "sync",
          exitCode: status,
          interrupted: true,
        });
        // The object written before the stop is in the report, which says the run did not finish.
        expect((await readAll(dst, d, "a.txt")).toString()).toBe("settled first");
        const lines = readFileSync(report, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { type: string; sourceKey?: string; applied?: boolean });
        expect(lines.map((l) => [l.type, l.sourceKey, l.applied])).toEqual([["object", "a.txt", true]]);
        expect(out.code ?? 128 + constants.signals[out.signal ?? "SIGKILL"], out.stderr).toBe(status);
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

/**
 * A CreateMultipartUpload the server carried out while its answer was on its way: the Ctrl-C
 * cuts the request, so the run never learns the upload's id, and would leave it behind.
 */
describe("Ctrl-C while a CreateMultipartUpload is unanswered", () => {
  const served = proxiedServer();

  for (const engine of ["direct", "workflow"]) {
    it(`the upload the server made is aborted before the run stops with 130 (--engine ${engine})`, async () => {
      await withBucketPair(`create-${engine}`, async ({ src, dst, s, d }) => {
        const { proxy } = served;
        const old = seededBytes("create-old", 11 * MiB);
        await putObject(src, s, "obj", flipByte(old, 6 * MiB));
        await putObject(dst, d, "obj", old);
        let cli: CliProcess | undefined;
        let typed = false;
        const held = `held-${engine}`;
        proxy.setRules([
          {
            // The answer is held until the Ctrl-C has stopped the run. One Ctrl-C: a create sent
            // again (on a loaded machine) must not type a second one, which stops at once.
            name: held,
            action: "hold",
            method: "POST",
            query: /^uploads=?$/,
            hook: async () => {
              if (!typed) cli?.kill("SIGINT");
              typed = true;
              await cli?.done;
            },
          },
        ]);
        cli = startCli(proxiedSync(s, d, proxy.url, "--engine", engine), profileEnv());
        const out = await cli.done;
        proxy.setRules([]);
        // At least once: on a loaded machine a create may be sent again after a failed attempt,
        // and every upload the server made must then be aborted all the same.
        expect(proxy.firedCount(held)).toBeGreaterThanOrEqual(1);
        expect(out.code, out.stderr).toBe(130);
        expect(out.stderr).toMatch(/interrupted; started uploads were aborted/);
        expect(await pendingUploads(dst, d)).toEqual([]);
        expect((await readAll(dst, d, "obj")).equals(old), "destination still holds the old object").toBe(
          true,
        );
      });
    });
  }
});

describe("Ctrl-C where the server refuses the abort of an upload begun", () => {
  const served = proxiedServer();

  it("says the upload is left, not that it was aborted, with the cleanup that aborts it as printed", async () => {
    await withBucketPair("abort-refused", async ({ src, dst, s, d }) => {
      const { proxy } = served;
      const old = seededBytes("refused-old", 30 * MiB);
      await putObject(src, s, "obj", flipByte(old, 12 * MiB));
      await putObject(dst, d, "obj", old);
      let cli: CliProcess | undefined;
      let parts = 0;
      proxy.setRules([
        {
          name: "ctrl-c-at-a-part",
          action: "hook",
          when: (r) => r.method === "PUT" && r.query.includes("partNumber=") && ++parts === 2,
          hook: () => cli?.interrupt(),
        },
        { name: "abort-refused", action: "forbidden", method: "DELETE", query: "uploadId=" },
      ]);
      cli = startCli(proxiedSync(s, d, proxy.url, "--concurrency", "1"), profileEnv());
      const out = await cli.done;
      proxy.setRules([]);
      expect(proxy.firedCount("abort-refused")).toBeGreaterThanOrEqual(1);
      expect(out.code, out.stderr).toBe(130);
      expect(out.stderr).not.toMatch(/were aborted/);
      // One upload or more, as the run's timing goes (an upload begun beside the block exchange
      // may be set aside for one of the decision's own, its abort refused too): the count said
      // is the count left.
      const said =
        /(\d+) multipart uploads? begun since the run started (?:is|are) left .*: (chunksync cleanup .*) aborts them/.exec(
          out.stderr,
        );
      expect(said, out.stderr).not.toBeNull();
      expect(Number(said![1])).toBeGreaterThanOrEqual(1);
      expect(await pendingUploads(dst, d)).toHaveLength(Number(said![1]));
      const cleaned = await runCli(said![2]!.split(" ").slice(1), profileEnv());
      expect(cleaned.code, cleaned.stderr).toBe(0);
      expect(await pendingUploads(dst, d)).toEqual([]);
      expect((await readAll(dst, d, "obj")).equals(old), "destination still holds the old object").toBe(true);
    });
  });
});

describe("Ctrl-C once every object has settled, as the index is written", () => {
  const served = proxiedServer();

  // The index's manifest is swapped in once every object settled, in either engine (the
  // workflow writes each page's pieces before, with its destination-only objects still to settle).
  it.each(["direct", "workflow"])(
    "the %s engine's run finishes, exits 0, and says the stop came after every object settled",
    async (engine) => {
      await withBucketPair(`stop-at-index-${engine}`, async ({ src, s, d }) => {
        const { proxy } = served;
        await putObject(src, s, "obj", Buffer.from("the source's bytes"));
        let cli: CliProcess | undefined;
        proxy.setRules([
          {
            name: `ctrl-c-at-index-${engine}`,
            action: "hook",
            times: 1,
            when: (r) => r.method === "PUT" && r.path.endsWith("chunksync-digest-index.manifest.json"),
            hook: () => cli?.interrupt(),
          },
        ]);
        cli = startCli(
          [...proxiedSync(s, d, proxy.url, "--engine", engine), "--dst-index", `s3://${d}/index/`, "--json"],
          profileEnv(),
        );
        const out = await cli.done;
        proxy.setRules([]);
        expect(proxy.firedCount(`ctrl-c-at-index-${engine}`)).toBe(1);
        expect(out.code, out.stderr).toBe(0);
        expect(out.stderr).toContain("chunksync: every object had settled when stopped: the run finished\n");
        expect(JSON.parse(out.stdout)).toMatchObject({ exitCode: 0, objects: { missing: 1, failed: 0 } });
        // The new index stands: the next run takes the object from it on both sides.
        const again = await runCli(
          [...proxiedSync(s, d, proxy.url), "--dst-index", `s3://${d}/index/`, "--json"],
          profileEnv(),
        );
        expect(JSON.parse(again.stdout)).toMatchObject({ objects: { identical: 1 } });
        expect(JSON.parse(again.stdout).index.destination).toMatchObject({ found: "loaded" });
      });
    },
  );
});

describe("Ctrl-C in a run that writes nothing", () => {
  const served = proxiedServer();

  for (const [by, code, said] of [
    ["SIGINT", 130, STOPPING],
    ["SIGTERM", 143, TERMINATING],
    ["SIGHUP", 129, HUNG_UP],
  ] as const) {
    it(`check stops with ${code} at ${by} and says nothing of uploads it never began`, async () => {
      await withBucketPair(`interrupt-check-${code}`, async ({ src, dst, s, d }) => {
        const { proxy } = served;
        const old = seededBytes("check-old", 11 * MiB);
        await putObject(src, s, "obj", flipByte(old, 6 * MiB));
        await putObject(dst, d, "obj", old);
        let cli: CliProcess | undefined;
        let reads = 0;
        proxy.setRules([
          {
            // The destination's first read goes on only once the CLI said it took the Ctrl-C.
            name: "ctrl-c-check",
            action: "hook",
            when: (r) => r.method === "GET" && r.path.endsWith("/obj") && ++reads === 1,
            hook: () => cli?.interrupt(by),
          },
        ]);
        cli = startCli(["check", ...proxiedSync(s, d, proxy.url).slice(1)], profileEnv());
        const out = await cli.done;
        proxy.setRules([]);
        expect(reads).toBeGreaterThanOrEqual(1);
        // After a hangup the process ends by SIGHUP itself, which a shell reads as 129.
        const status = out.code ?? 128 + constants.signals[out.signal ?? "SIGKILL"];
        expect(status, out.stderr).toBe(code);
        expect(out.stderr).toContain(said);
        expect(out.stderr).toMatch(/chunksync: interrupted\n/);
        expect(out.stderr).not.toMatch(/upload/);
        // What it settled before the stop, as a whole run's summary says it.
        expect(out.stdout).toMatch(/^check interrupted after .*\n\n.*objects +count/s);
      });
    });
  }
});

describe("a destination that stops answering mid-run", () => {
  const served = proxiedServer();

  it("stops the run once two rounds of objects in a row failed for want of an answer, exit 2, naming why", async () => {
    await withBucketPair("unanswered", async ({ src, s, d }) => {
      const { proxy } = served;
      const keys = Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(2, "0")}`);
      for (const key of keys) await putObject(src, s, key, Buffer.from(`bytes of ${key}`));
      // Every write answered 503 SlowDown, whatever the retries: the server is overloaded for good.
      proxy.setRules([{ name: "slow-down-puts", action: "slowDown", method: "PUT" }]);
      const out = await runCli(
        [...proxiedSync(s, d, proxy.url, "--concurrency", "8"), "--json"],
        profileEnv(),
      );
      proxy.setRules([]);
      expect(out.code, out.stderr).toBe(2);
      expect(out.stderr).toMatch(
        /16 objects in a row failed for want of an answer \(the last: .*\); stopped/,
      );
      const ending = JSON.parse(out.stdout) as { exitCode: number; error: { code: string } };
      expect(ending).toMatchObject({ exitCode: 2, error: { code: "SLOW_DOWN" } });
      // Stopped before it tried every object in turn.
      expect(proxy.firedCount("slow-down-puts")).toBeLessThan(keys.length * 6);
    });
  });
});

describe("Ctrl-C while the destination answers nothing", () => {
  const served = proxiedServer();

  for (const engine of ["direct", "workflow"]) {
    it(`${engine}: the stop waits ${STOP_GRACE_S} s for the storage at most, then says what it could not confirm and how to clean it up`, async () => {
      await withBucketPair(`unanswering-stop-${engine}`, async ({ src, dst, s, d }) => {
        const { proxy } = served;
        // Re-composed by a multipart upload: its old version differs in its second chunk.
        const bytes = seededBytes("unanswering-obj", 20 * MiB);
        const old = flipByte(bytes, 12 * MiB);
        await putObject(src, s, "obj", bytes);
        await putObject(dst, d, "obj", old);
        let cli: CliProcess | undefined;
        const { held: released, release } = gate();
        let frozen = false;
        proxy.setRules([
          {
            // From the upload's first part on, the server answers nothing: the stop's aborts,
            // and its listing of what is left, wait with the rest.
            name: "freeze",
            action: "hook",
            when: (r) => frozen || (r.method === "PUT" && r.query.includes("partNumber=")),
            hook: () => {
              if (!frozen) void cli?.interrupt();
              frozen = true;
              return released;
            },
          },
        ]);
        cli = startCli(proxiedSync(s, d, proxy.url, "--concurrency", "1", "--engine", engine), profileEnv());
        const out = await cli.done;
        release();
        proxy.setRules([]);
        expect(frozen).toBe(true);
        expect(out.code, out.stderr).toBe(130);
        expect(out.stderr).toContain(STOPPING);
        expect(out.stderr).toContain(STOPPED_WAITING);
        const said =
          /uploads begun could not be listed to check they were aborted \(.*stopped waiting for an answer.*\); this run began 1 it never saw completed or aborted: obj \(upload \S+\): once the storage answers, (chunksync cleanup .*) lists what is left/.exec(
            out.stderr,
          );
        expect(said, out.stderr).not.toBeNull();
        // Its upload is either aborted or left, never completed: the destination holds its old version.
        expect((await readAll(dst, d, "obj")).equals(old)).toBe(true);
        const cleaned = await runCli(
          ["cleanup", `s3://${d}`, "--dst-profile", "dst", "--older-than", "0s"],
          profileEnv(),
        );
        expect(cleaned.code, cleaned.stderr).toBe(0);
        expect(await pendingUploads(dst, d)).toEqual([]);
      });
    });
  }
});

describe("Ctrl-C while the sides' first requests are unanswered", () => {
  const served = proxiedServer();

  /**
   * Holds every request the proxy gets until `release()`: a server that takes connections and
   * never answers them. `first` runs as the first request arrives.
   */
  function holdEverything(proxy: FaultProxy, first: () => void) {
    const { held: released, release } = gate();
    let held = 0;
    proxy.setRules([
      {
        name: "hold-all",
        action: "hook",
        hook: () => {
          if (++held === 1) first();
          return released;
        },
      },
    ]);
    return {
      held: () => held,
      release: () => {
        release();
        proxy.setRules([]);
      },
    };
  }

  for (const by of ["SIGINT", "SIGTERM"] as const) {
    it(`stops at ${by} at once: says so, prints --json's ending, and exits as stopped`, async () => {
      await withBucketPair(`unanswered-probe-${by}`, async ({ src, s, d }) => {
        const { proxy } = served;
        await putObject(src, s, "obj", Buffer.from("bytes"));
        let cli: CliProcess | undefined;
        const hold = holdEverything(proxy, () => void cli?.interrupt(by));
        cli = startCli([...proxiedSync(s, d, proxy.url), "--json"], profileEnv());
        const out = await cli.done;
        hold.release();
        expect(hold.held()).toBeGreaterThanOrEqual(1);
        expect(out.code, out.stderr).toBe(by === "SIGINT" ? 130 : 143);
        expect(out.stderr).toContain(by === "SIGINT" ? STOPPING : TERMINATING);
        expect(out.stderr).toContain(
          "chunksync: interrupted before any object was compared; nothing was written",
        );
        expect(JSON.parse(out.stdout)).toMatchObject({
          command: "sync",
          exitCode: out.code,
          interrupted: true,
          objects: { scanned: 0 },
          bytes: { sourceRead: 0 },
        });
        // Nothing waited for the grace of a run's stop: the probes were cut at once.
        expect(out.stderr).not.toContain(STOPPED_WAITING);
      });
    });
  }

  for (const command of ["audit", "scrub", "cleanup"] as const) {
    it(`${command} stops at Ctrl-C at once while its first listing is unanswered, and prints --json's object`, async () => {
      await withBucketPair(`unanswered-${command}`, async ({ src, s, d }) => {
        const { proxy } = served;
        await putObject(src, s, "obj", Buffer.from("bytes"));
        let cli: CliProcess | undefined;
        const hold = holdEverything(proxy, () => void cli?.interrupt());
        const args = {
          audit: ["audit", `s3://${s}`, `s3://${d}`, ...SIDES, "--src-endpoint", proxy.url],
          scrub: ["scrub", `s3://${s}`, "--profile", "src", "--endpoint", proxy.url],
          cleanup: ["cleanup", `s3://${d}`, "--dst-profile", "dst", "--dst-endpoint", proxy.url],
        }[command];
        cli = startCli([...args, "--json"], profileEnv());
        const out = await cli.done;
        hold.release();
        expect(hold.held()).toBeGreaterThanOrEqual(1);
        expect(out.code, out.stderr).toBe(130);
        expect(out.stderr).toContain(STOPPING);
        expect(out.stderr).not.toContain(STOPPED_WAITING);
        expect(JSON.parse(out.stdout)).toMatchObject({ command, exitCode: 130, interrupted: true });
      });
    });
  }
});

describe("uploads a killed run left behind", () => {
  const served = proxiedServer();

  for (const engine of ["direct", "workflow"]) {
    it(`are listed as the sync begins, beside its first requests: none follows its writes (--engine ${engine})`, async () => {
      await withBucketPair(`left-ahead-${engine}`, async ({ src, dst, s, d }) => {
        const { proxy } = served;
        // A small new object (one PutObject) and a large changed one (a multipart upload).
        await putObject(src, s, "small", Buffer.from("the source's bytes"));
        await putObject(src, s, "large", seededBytes("large-new", 12 * MiB));
        await putObject(dst, d, "large", seededBytes("large-old", 12 * MiB));
        await dst.send(new CreateMultipartUploadCommand({ Bucket: d, Key: "left" }));
        // Begun in an earlier second than the run, by the server's clock.
        await new Promise((resolve) => setTimeout(resolve, 1100));
        proxy.seen.length = 0;
        const out = await runCli(proxiedSync(s, d, proxy.url, "--engine", engine), profileEnv());
        expect(out.code, out.stderr).toBe(0);
        expect(out.stderr).toMatch(/1 multipart upload under s3:\/\/\S+\/ began before this run/);
        const seen = proxy.seen.filter((r) => r.path === `/${d}` || r.path.startsWith(`/${d}/`));
        const listings = seen.filter((r) => r.method === "GET" && /(^|&)uploads(=|&|$)/.test(r.query));
        expect(listings, "one listing of uploads").toHaveLength(1);
        const writes = seen.filter(
          (r) => r.method === "PUT" || (r.method === "POST" && r.query.includes("uploads")),
        );
        expect(writes.length, "the run wrote").toBeGreaterThan(0);
        for (const write of writes) expect(seen.indexOf(listings[0]!)).toBeLessThan(seen.indexOf(write));
        // The first page of objects the CLI's check of the destination asked for still serves
        // the direct engine's listing: the uploads listed beside it did not drop it.
        if (engine === "direct")
          expect(seen.filter((r) => r.method === "GET" && r.query.includes("list-type=2"))).toHaveLength(1);
      });
    });
  }

  it("the next sync names them and the cleanup that aborts them, and only those", async () => {
    await withBucketPair("left-uploads", async ({ src, dst, s, d }) => {
      await putObject(src, s, "obj", Buffer.from("the source's bytes"));
      await dst.send(new CreateMultipartUploadCommand({ Bucket: d, Key: "obj" }));
      // Begun in an earlier second than the run, by the server's clock.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const env = profileEnv();
      const out = await runCli(["sync", `s3://${s}`, `s3://${d}`, ...SIDES], env);
      expect(out.code, out.stderr).toBe(0);
      const said =
        /1 multipart upload under s3:\/\/\S+\/ began before this run and never ended .*: (chunksync cleanup .*) aborts them/.exec(
          out.stderr,
        );
      expect(said, out.stderr).not.toBeNull();
      const [, cleanup] = said!;
      // As it can be pasted: the destination as the run reached it, and the run's start as a bound.
      expect(cleanup).toMatch(
        /^chunksync cleanup s3:\/\/\S+ --dst-profile dst --older-than 0s --started-before \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
      );
      // Pasted later, it aborts no upload begun since the run.
      await dst.send(new CreateMultipartUploadCommand({ Bucket: d, Key: "later" }));
      const cleaned = await runCli(cleanup!.split(" ").slice(1), env);
      expect(cleaned.code, cleaned.stderr).toBe(0);
      expect((await pendingUploads(dst, d)).map((u) => u.key)).toEqual(["later"]);
      await runCli(["cleanup", `s3://${d}`, "--dst-profile", "dst", "--older-than", "0s"], env);
      // Nothing left: the next sync says nothing of uploads.
      const next = await runCli(["sync", `s3://${s}`, `s3://${d}`, ...SIDES], env);
      expect(next.stderr).not.toMatch(/multipart upload/);
    });
  });
});
