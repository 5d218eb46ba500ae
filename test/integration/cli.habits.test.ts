import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_BIN, envWithBadProfiles, profileEnv, runCli, SIDES } from "../support/cli.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  localS3,
  putObject,
  readAll,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";

/** What an aws s3 sync or rclone user types first, through the real CLI against the local S3. */

interface JsonSummary {
  command: string;
  exitCode: number;
  dryRun: boolean;
  objects: Record<"scanned" | "identical" | "changed" | "missing" | "extra" | "deleted" | "failed", number>;
  bytes: Record<string, number>;
  planned: { transfer: number; serverSide: number };
  index?: Record<"source" | "destination", { found: string; written?: number }>;
}

function parseJson(stdout: string): JsonSummary {
  const lines = stdout.trim().split("\n");
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] ?? "") as JsonSummary;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

describe("chunksync CLI: habits of aws s3 sync and rclone users", () => {
  let env: Record<string, string>;
  let src: S3Client;
  let dst: S3Client;
  const buckets: [S3Client, string][] = [];

  async function pair(name: string): Promise<{ s: string; d: string }> {
    const s = uniqueBucketName(`src-${name}`);
    const d = uniqueBucketName(`dst-${name}`);
    await createBucket(src, s);
    await createBucket(dst, d);
    buckets.push([src, s], [dst, d]);
    return { s, d };
  }

  async function keys(client: S3Client, bucket: string): Promise<string[]> {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    return (listed.Contents ?? []).map((o) => o.Key ?? "").sort();
  }

  beforeAll(() => {
    env = profileEnv();
    src = s3Client("source");
    dst = s3Client("destination");
  });

  afterAll(async () => {
    for (const [client, bucket] of buckets) await emptyAndDeleteBucket(client, bucket);
  });

  describe("credential messages say which failure, which side and which flag", () => {
    it("a mistyped --src-profile: profile not found, naming the shared files searched, before any request", async () => {
      const { s, d } = await pair("typo");
      const r = await runCli(
        ["sync", `s3://${s}`, `s3://${d}`, "--src-profile", "scr", "--dst-profile", "dst"],
        env,
      );
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(
        `chunksync: error: source (--src-profile): profile "scr" not found: searched ` +
          `${env.AWS_CONFIG_FILE} (AWS_CONFIG_FILE) and ${env.AWS_SHARED_CREDENTIALS_FILE} ` +
          "(AWS_SHARED_CREDENTIALS_FILE); profiles there: dst, src\n",
      );
      expect(r.stderr).not.toMatch(/rejected|\n\s+at /);

      // The source bucket does not exist: had the source been listed, that would be the error.
      const dstTypo = await runCli(
        [
          "sync",
          `s3://no-such-bucket-${Date.now()}`,
          `s3://${d}`,
          "--src-profile",
          "src",
          "--dst-profile",
          "dts",
        ],
        env,
      );
      expect(dstTypo.code, dstTypo.stderr).toBe(2);
      expect(dstTypo.stderr).toMatch(
        /^chunksync: error: destination \(--dst-profile\): profile "dts" not found: /m,
      );
      expect(dstTypo.stderr).not.toMatch(/bucket does not exist/);
    });

    it("without AWS_CONFIG_FILE, the files searched are the default ones under the home directory", async () => {
      const home = mkdtempSync(join(tmpdir(), "chunksync-home-"));
      mkdirSync(join(home, ".aws"));
      writeFileSync(join(home, ".aws", "config"), "[profile other]\nregion = eu-west-1\n");
      const { s, d } = await pair("home");
      const r = await runCli(
        ["plan", `s3://${s}`, `s3://${d}`, "--src-profile", "prod", "--dst-profile", "other"],
        {
          HOME: home,
        },
      );
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(
        `source (--src-profile): profile "prod" not found: searched ${join(home, ".aws", "config")} ` +
          `(default path, AWS_CONFIG_FILE unset) and ${join(home, ".aws", "credentials")} ` +
          "(default path, AWS_SHARED_CREDENTIALS_FILE unset); profiles there: other\n",
      );
    });

    it("no profile and nothing in the AWS default chain: no credentials found, pointing at --src-profile", async () => {
      const { s, d } = await pair("nocreds");
      // The shared files hold no [default]; the instance metadata service is not asked.
      const r = await runCli(
        ["check", `s3://${s}`, `s3://${d}`, "--src-endpoint", localS3().endpoint, "--dst-profile", "dst"],
        { ...env, AWS_EC2_METADATA_DISABLED: "true" },
      );
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(
        new RegExp(
          `^chunksync: error: source: list s3://${s}: no credentials found \\(.+\\); the AWS default chain ` +
            "looked at AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the shared files, SSO and the instance role: " +
            "name a profile with --src-profile$",
          "m",
        ),
      );
      expect(r.stderr).not.toMatch(/rejected/);
    });

    it("credentials the server refuses: rejected, with the S3 error code, the profile and the flag", async () => {
      const { s, d } = await pair("rejected");
      const bad = envWithBadProfiles();
      const unknownKey = await runCli(
        ["sync", `s3://${s}`, `s3://${d}`, "--src-profile", "nobody", "--dst-profile", "dst"],
        bad,
      );
      expect(unknownKey.code, unknownKey.stderr).toBe(2);
      expect(unknownKey.stderr).toContain(
        `chunksync: error: source: list s3://${s}: the server rejected the credentials ` +
          `(InvalidAccessKeyId: the server knows no such access key); they are those of profile "nobody" (--src-profile)\n`,
      );
      const wrongSecret = await runCli(
        ["sync", `s3://${s}`, `s3://${d}`, "--src-profile", "src", "--dst-profile", "wrongsecret"],
        bad,
      );
      expect(wrongSecret.code, wrongSecret.stderr).toBe(2);
      expect(wrongSecret.stderr).toMatch(
        new RegExp(
          `chunksync: error: destination: list s3://${d}: the server rejected the credentials ` +
            `\\((SignatureDoesNotMatch: the secret key does not belong to this access key|InvalidAccessKeyId: [^)]*)\\); ` +
            `they are those of profile "wrongsecret" \\(--dst-profile\\)`,
        ),
      );
      // cleanup's first request is its listing of uploads: told alike.
      const cleanup = await runCli(["cleanup", `s3://${d}`, "--dst-profile", "nobody"], bad);
      expect(cleanup.code, cleanup.stderr).toBe(2);
      expect(cleanup.stderr).toContain(
        `chunksync: error: destination: list multipart uploads s3://${d}: the server rejected the credentials ` +
          `(InvalidAccessKeyId: the server knows no such access key); they are those of profile "nobody" (--dst-profile)\n`,
      );
    });

    it("--json of a run that fails before its work still prints one JSON object: the exit code and the error", async () => {
      const { d } = await pair("json-error");
      const missing = `no-such-bucket-${Date.now()}`;
      for (const command of ["sync", "check", "plan", "audit"]) {
        const r = await runCli([command, `s3://${missing}`, `s3://${d}`, ...SIDES, "--json"], env);
        expect(r.code, r.stderr).toBe(2);
        expect(JSON.parse(r.stdout), command).toEqual({
          command,
          exitCode: 2,
          error: { code: "BUCKET_NOT_FOUND", message: expect.stringContaining(`s3://${missing}`) },
        });
      }
      const dry = await runCli(
        ["sync", `s3://${missing}`, `s3://${d}`, ...SIDES, "--json", "--dry-run"],
        env,
      );
      expect(JSON.parse(dry.stdout)).toMatchObject({ command: "plan", exitCode: 2 });
      // A command line refused as typed: said on stderr, and in JSON.
      for (const [args, message] of [
        [["sync", `s3://${missing}`, `s3://${d}`, "extra"], /too many arguments/],
        [["check", `s3://${missing}`, `s3://${d}`, "--bogus"], /unknown option '--bogus'/],
        [["cleanup", `s3://${d}`, "--older"], /unknown option '--older'/],
        [
          ["sync", `s3://${missing}`, `s3://${d}`, "--verify", "bad"],
          /--verify <mode>' argument 'bad' is invalid/,
        ],
      ] as const) {
        const r = await runCli([...args, "--json"], env);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(JSON.parse(r.stdout), args.join(" ")).toEqual({
          command: args[0],
          exitCode: 2,
          error: { code: "VALIDATION_FAILED", message: expect.stringMatching(message) },
        });
      }
    });

    it("a profile whose endpoint_url is no URL: named with its profile and flag, before any request, no stack", async () => {
      const { s, d } = await pair("bad-endpoint");
      const bad = envWithBadProfiles();
      for (const [command, sides] of [
        ["sync", ["--src-profile", "badendpoint", "--dst-profile", "dst"]],
        ["check", ["--src-profile", "src", "--dst-profile", "badendpoint"]],
      ] as const) {
        const r = await runCli([command, `s3://${s}`, `s3://${d}`, ...sides], bad);
        expect(r.code, r.stderr).toBe(2);
        const flag = sides[1] === "badendpoint" ? "--src-profile" : "--dst-profile";
        expect(r.stderr).toBe(
          `chunksync: error: ${flag}: expected a profile whose endpoint_url is a URL such as http://127.0.0.1:9000 (scheme, host and port; no path, no user), ` +
            `but profile "badendpoint" has endpoint_url "not a url"\n`,
        );
      }
    });
  });

  const page = "<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>";
  it.each([
    [404, page],
    [200, page],
    [404, ""],
  ])(
    "an endpoint that is a web server, not S3 (status %i for everything, body %j): said so, not that an object does not exist",
    async (status, body) => {
      const server = createServer((_, res) => {
        res.writeHead(status, { "content-type": "text/html" });
        res.end(body);
      });
      const r = await againstServer(server, "sync");
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain("source: list s3://some-bucket: ");
      expect(r.stderr).toMatch(/is (it|the endpoint) an S3 endpoint\?/);
      expect(r.stderr).not.toContain("does not exist");
    },
  );

  /** `command` of two buckets whose source side's endpoint is `server`, listening on loopback for the run. */
  async function againstServer(server: net.Server, command: string) {
    // A connection left open (one that waits for its client) would hold the server's close.
    const sockets = new Set<net.Socket>();
    server.on("connection", (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const args = [command, "s3://some-bucket", "s3://other-bucket", ...SIDES];
      return await runCli([...args, "--src-endpoint", `http://127.0.0.1:${port}`], env);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  it("an endpoint whose port speaks no HTTP (an SSH banner): said at once, quoting its first line, not waited out", async () => {
    const banners: net.Socket[] = [];
    const server = net.createServer((socket) => {
      banners.push(socket);
      socket.write("SSH-2.0-OpenSSH_9.2p1 Debian\r\n");
    });
    const r = await againstServer(server, "check");
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      'source: list s3://some-bucket: the endpoint answered in something other than HTTP ("SSH-2.0-OpenSSH_9.2p1 Debian"): is the endpoint an S3 endpoint?',
    );
    // A refusal, not a broken connection tried again: one connection for each of the run's first
    // requests at most (retried, each would open six).
    expect(banners.length).toBeLessThanOrEqual(2);
  });

  it("AWS_PROFILE and keys in the environment both set: one line of its own says the profile is taken, not the SDK's block", async () => {
    const { s, d } = await pair("two-sources");
    await putObject(src, s, "a.txt", "a");
    const r = await runCli(["check", `s3://${s}`, `s3://${d}`, "--dst-profile", "dst"], {
      ...env,
      AWS_PROFILE: "src",
      AWS_ACCESS_KEY_ID: "not-used",
      AWS_SECRET_ACCESS_KEY: "not-used-secret",
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.split("\n")[0]).toBe(
      'chunksync: warning: both AWS_PROFILE and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are set: a side whose profile no flag names takes profile "src", as the AWS SDK does, not the keys',
    );
    expect(r.stderr).not.toContain("Multiple credential sources");
    expect(r.stderr.match(/both AWS_PROFILE/g)).toHaveLength(1);
  });

  it("an endpoint by host name from AWS_ENDPOINT_URL, with keys from the environment: addressed path-style, as the flag's", async () => {
    const { s, d } = await pair("env-endpoint");
    await putObject(src, s, "a.txt", "a");
    const s3 = localS3();
    const r = await runCli(["sync", `s3://${s}`, `s3://${d}`, "--dst-profile", "dst", "--json"], {
      ...env,
      AWS_ENDPOINT_URL: s3.endpoint.replace("127.0.0.1", "localhost"),
      AWS_ACCESS_KEY_ID: s3.users.source.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.users.source.secretAccessKey,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).objects.missing).toBe(1);
  });

  it("sync --dry-run prints what plan prints and writes nothing", async () => {
    const { s, d } = await pair("dry-run");
    await putObject(src, s, "new.txt", "new");
    await putObject(src, s, "changed.txt", "source bytes");
    await putObject(dst, d, "changed.txt", "old bytes");
    // Without indexes: a run that read the objects would otherwise let the next one read nothing.
    const urls = [`s3://${s}`, `s3://${d}`, ...SIDES, "--no-index"];

    const plan = parseJson((await runCli(["plan", ...urls, "--json"], env)).stdout);
    const dry = await runCli(["sync", ...urls, "--dry-run", "--json"], env);
    expect(dry.code, dry.stderr).toBe(0);
    const { durationMs: _p, ...planFields } = plan as JsonSummary & { durationMs: number };
    const { durationMs: _d, ...dryFields } = parseJson(dry.stdout) as JsonSummary & { durationMs: number };
    expect(dryFields).toEqual(planFields);
    expect(dryFields).toMatchObject({ command: "plan", dryRun: true, objects: { missing: 1, changed: 1 } });

    const timeless = (text: string) => text.replace(/finished in .*/, "finished");
    const planText = await runCli(["plan", ...urls], env);
    const dryText = await runCli(["sync", ...urls, "--dry-run"], env);
    expect(dryText.code, dryText.stderr).toBe(0);
    expect(dryText.stdout).toMatch(/would transfer/);
    expect(timeless(dryText.stdout)).toBe(timeless(planText.stdout));
    // aws s3 sync spells it --dryrun.
    const awsSpelling = await runCli(["sync", ...urls, "--dryrun"], env);
    expect(awsSpelling.code, awsSpelling.stderr).toBe(0);
    expect(timeless(awsSpelling.stdout)).toBe(timeless(planText.stdout));

    const workflow = await runCli(["sync", ...urls, "--dry-run", "--engine", "workflow"], env);
    expect(workflow.code).toBe(2);
    expect(workflow.stderr).toMatch(
      /--engine: expected direct for sync --dry-run \(the workflow engine runs sync only/,
    );

    expect(await keys(dst, d)).toEqual(["changed.txt"]);
    expect((await readAll(dst, d, "changed.txt")).toString()).toBe("old bytes");
  });

  it("sync --dry-run with indexes kept in both buckets writes no index there, new or updated", async () => {
    const { s, d } = await pair("dry-index");
    await putObject(src, s, "new.txt", "new");
    await putObject(src, s, "changed.txt", "source bytes");
    await putObject(dst, d, "changed.txt", "old bytes");
    const urls = [
      `s3://${s}`,
      `s3://${d}`,
      ...SIDES,
      "--src-index",
      `s3://${s}/idx`,
      "--dst-index",
      `s3://${d}/idx`,
    ];
    const listing = async (client: S3Client, bucket: string) =>
      (await client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map(
        (o) => `${o.Key} ${o.ETag}`,
      );

    // No index yet: the dry run leaves none behind.
    const first = await runCli(["sync", ...urls, "--dry-run"], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^source index: none yet at s3:\/\/\S+\n/m);
    expect(first.stdout).not.toMatch(/built by this run/);
    expect(await keys(src, s)).toEqual(["changed.txt", "new.txt"]);
    expect(await keys(dst, d)).toEqual(["changed.txt"]);

    // A stored index is consulted and left as it was.
    const synced = await runCli(["sync", ...urls], env);
    expect(synced.code, synced.stderr).toBe(0);
    await putObject(src, s, "changed.txt", "newer source bytes");
    const before = [await listing(src, s), await listing(dst, d)];
    const again = await runCli(["sync", ...urls, "--dry-run", "--json"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(parseJson(again.stdout)).toMatchObject({
      objects: { changed: 1, identical: 1 },
      index: { source: { found: "loaded" }, destination: { found: "loaded" } },
    });
    expect(parseJson(again.stdout)).not.toHaveProperty("index.source.written");
    expect([await listing(src, s), await listing(dst, d)]).toEqual(before);
  });

  it("--version prints the version of packages/cli/package.json", async () => {
    const { version } = JSON.parse(
      readFileSync(new URL("../../packages/cli/package.json", import.meta.url), "utf8"),
    ) as { version: string };
    const r = await runCli(["--version"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${version}\n`);
  });

  it.each([
    [["--profile", "prod"], "--profile", "--src-profile and/or --dst-profile"],
    [["--profile"], "--profile", "--src-profile and/or --dst-profile"],
    [["--endpoint-url", "http://127.0.0.1:9000"], "--endpoint-url", "--src-endpoint and/or --dst-endpoint"],
    [["--region=eu-west-1"], "--region", "--src-region and/or --dst-region"],
  ])("%j is answered with exit 2 and the per-side flags to use", async (flag, name, instead) => {
    const r = await runCli(["sync", "s3://bucket-a", "s3://bucket-b", ...flag]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(`^chunksync: error: ${name}: expected ${escapeRegExp(instead)} `, "m"),
    );
    expect(r.stderr).not.toMatch(/unknown option/);
  });

  it("cleanup points --region at --dst-region", async () => {
    const r = await runCli(["cleanup", "s3://bucket-a", "--region", "eu-west-1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^chunksync: error: --region: expected --dst-region /m);
  });

  it.each(["direct", "workflow"])(
    "--engine %s: --exclude '*' --include '*.jpg' selects only the .jpg keys; the other order selects none",
    async (engine) => {
      const { s, d } = await pair(`filter-${engine}`);
      for (const k of ["a.jpg", "b.txt", "c.jpg"]) await putObject(src, s, k, k);
      await putObject(dst, d, "old.jpg", "destination only, selected");
      await putObject(dst, d, "old.txt", "destination only, left out");
      const urls = [`s3://${s}`, `s3://${d}`, ...SIDES, "--json", "--engine", engine];

      const none = await runCli(["sync", ...urls, "--include", "*.jpg", "--exclude", "*", "--delete"], env);
      expect(none.code, none.stderr).toBe(0);
      expect(parseJson(none.stdout).objects).toMatchObject({ scanned: 0, extra: 0, deleted: 0 });
      expect(await keys(dst, d)).toEqual(["old.jpg", "old.txt"]);

      const jpg = await runCli(["sync", ...urls, "--exclude", "*", "--include", "*.jpg", "--delete"], env);
      expect(jpg.code, jpg.stderr).toBe(0);
      expect(parseJson(jpg.stdout).objects).toMatchObject({
        scanned: 2,
        missing: 2,
        extra: 1,
        deleted: 1,
        failed: 0,
      });
      expect(await keys(dst, d)).toEqual(["a.jpg", "c.jpg", "old.txt"]);
      // Nested keys would stay selected: * stops at / here, where the aws CLI's does not.
      expect(jpg.stderr).toContain(
        "chunksync: warning: --exclude '*' leaves out top-level keys only (* stops at /, unlike in aws s3 sync); " +
          "write --exclude '**' to leave out every key\n",
      );

      await putObject(src, s, "d/e.jpg", "nested");
      const deep = await runCli(["sync", ...urls, "--exclude", "**", "--include", "**/*.jpg"], env);
      expect(deep.code, deep.stderr).toBe(0);
      expect(deep.stderr).not.toMatch(/chunksync: warning/);
      expect(await keys(dst, d)).toEqual(["a.jpg", "c.jpg", "d/e.jpg", "old.txt"]);
    },
  );

  it.each(["direct", "workflow"])(
    "--engine %s: * stops at / at a key's end too: --include 'photos/*' leaves the folder marker photos/2019/ out of check and --delete",
    async (engine) => {
      const { s, d } = await pair(`marker-${engine}`);
      await putObject(src, s, "photos/a.jpg", "a");
      for (const k of ["photos/2019/", "photos/2019/c.jpg", "photos/b.jpg"]) await putObject(dst, d, k, "");
      const args = [`s3://${s}`, `s3://${d}`, ...SIDES, "--json", "--delete", "--exclude", "**"];
      const filters = ["--include", "photos/*"];
      const check = await runCli(["check", ...args, ...filters], env);
      expect(parseJson(check.stdout).objects).toMatchObject({ missing: 1, extra: 1 });
      const sync = await runCli(["sync", ...args, ...filters, "--engine", engine], env);
      expect(sync.code, sync.stderr).toBe(0);
      expect(parseJson(sync.stdout).objects).toMatchObject({ missing: 1, extra: 1, deleted: 1 });
      expect(await keys(dst, d)).toEqual(["photos/2019/", "photos/2019/c.jpg", "photos/a.jpg"]);
    },
  );

  it.each(["direct", "workflow"])(
    "--engine %s: warns on stderr when no object under either prefix is selected, keeping --json stdout one document",
    async (engine) => {
      const { s, d } = await pair(`empty-${engine}`);
      await putObject(src, s, "photos/a.jpg", "a");
      const common = [...SIDES, "--json", "--engine", engine];

      const typo = await runCli(["sync", `s3://${s}/photo`, `s3://${d}/photos`, ...common], env);
      expect(typo.code, typo.stderr).toBe(0);
      expect(parseJson(typo.stdout).objects.scanned).toBe(0);
      expect(typo.stderr).toContain(
        `chunksync: warning: no object under s3://${s}/photo/ (source) or s3://${d}/photos/ (destination); ` +
          "a prefix names a directory (s3://b/photos reads photos/...)\n",
      );

      // An audit of nothing exits 0 having proved nothing: it warns as well.
      const audit = await runCli(["audit", `s3://${s}/photo`, `s3://${d}/photos`, ...common], env);
      expect(audit.code, audit.stderr).toBe(0);
      expect(parseJson(audit.stdout)).toMatchObject({ objects: { listed: 0, extra: 0 } });
      expect(audit.stderr).toContain(`chunksync: warning: no object under s3://${s}/photo/ (source)`);

      const filtered = await runCli(
        ["sync", `s3://${s}`, `s3://${d}`, ...common, "--exclude", "**", "--include", "*.png"],
        env,
      );
      expect(filtered.code, filtered.stderr).toBe(0);
      expect(filtered.stderr).toContain(
        `chunksync: warning: no object under s3://${s}/ (source) or s3://${d}/ (destination) matches the filters\n`,
      );

      const found = await runCli(["sync", `s3://${s}/photos`, `s3://${d}/photos`, ...common], env);
      expect(found.code, found.stderr).toBe(0);
      expect(parseJson(found.stdout).objects.missing).toBe(1);
      expect(found.stderr).not.toMatch(/chunksync: warning/);
      const audited = await runCli(["audit", `s3://${s}/photos`, `s3://${d}/photos`, ...common], env);
      expect(audited.code, audited.stderr).toBe(0);
      expect(audited.stderr).not.toMatch(/chunksync: warning/);

      // A mistyped source prefix against a destination that holds objects: said too.
      const against = await runCli(["audit", `s3://${s}/photo`, `s3://${d}/photos`, ...common], env);
      expect(against.code, against.stderr).toBe(0);
      expect(against.stderr).toContain(
        `chunksync: warning: no object under s3://${s}/photo/ (source), while 1 under s3://${d}/photos/ (destination) is there alone; ` +
          "a prefix names a directory (s3://b/photos reads photos/...)\n",
      );
    },
  );

  it("warns that an --include before any --exclude changes nothing", async () => {
    const { s, d } = await pair("idle-include");
    await putObject(src, s, "a.jpg", "a");
    await putObject(src, s, "b.txt", "b");
    const r = await runCli(["plan", `s3://${s}`, `s3://${d}`, ...SIDES, "--json", "--include", "*.jpg"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJson(r.stdout).objects.missing).toBe(2);
    expect(r.stderr).toContain(
      "chunksync: warning: --include '*.jpg' comes before any --exclude, so it changes nothing " +
        "(every key is selected by default); to select only these keys, put --exclude '**' before it\n",
    );
  });

  it("--help of check, plan and sync states the filter rules and shows examples", async () => {
    for (const command of ["check", "plan", "sync"]) {
      const r = await runCli([command, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/later filter\s+takes precedence/);
      expect(r.stdout).toMatch(/\* and \? do not cross "\/", \*\* does/);
      expect(r.stdout).toContain(`chunksync ${command} s3://photos s3://photos-copy`);
      expect(r.stdout).toContain("--dst-endpoint http://minio.local:9000");
      expect(r.stdout).toContain("--exclude '**' --include '**/*.jpg'");
      expect(r.stdout.includes("--dry-run")).toBe(command === "sync");
      // What only a writing run uses is shown by sync alone (check and plan still take it).
      for (const flag of ["--verify", "--storage-class", "--sse ", "--engine"])
        expect(r.stdout.includes(flag), `${command} ${flag}`).toBe(command === "sync");
      expect(r.stdout).not.toMatch(/--profile |--endpoint-url|--region /);
    }
  });

  it("--help into a reader that stops early (| head -1): no crash, exit 0, nothing on stderr", async () => {
    for (const args of [["sync", "--help"], ["help", "sync"], ["--help"]]) {
      const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      // The reading end is closed before the CLI has started: each write it makes meets EPIPE.
      child.stdout.destroy();
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      const code = await new Promise<number | null>((done) => child.on("close", done));
      expect({ args, code, stderr }).toEqual({ args, code: 0, stderr: "" });
    }
  });
});
