import { execFile } from "node:child_process";
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_BIN, cleanEnv, profileEnv, SIDES } from "../support/cli.js";
import { seededBytes } from "../support/data.js";
import { createBucket, emptyAndDeleteBucket, putObject, s3Client, uniqueBucketName } from "../support/s3.js";

/**
 * The CLI as a user runs it: on a terminal (a pseudo-terminal from util-linux `script`), so
 * stderr is a TTY and the live progress line is drawn. `script -e` returns the child's exit
 * code; its output is the terminal's, stdout and stderr together.
 */
function runOnTerminal(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const command = [process.execPath, CLI_BIN, ...args].map(quote).join(" ");
  return new Promise((resolve) => {
    execFile(
      "/usr/bin/script",
      ["-qec", command, "/dev/null"],
      // cleanEnv drops every AWS_* variable, the SDK's warning switch among them.
      { env: { ...cleanEnv(), ...env, TERM: "xterm", COLUMNS: "160" }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout) => {
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ code, output: stdout.replaceAll("\r\n", "\n") });
      },
    );
  });
}

const EXTRAS = ["extra-1.bin", "extra-2.bin", "extra-3.bin"];

/** Lines of the summary table: "would delete   3" -> ["would delete", "3"]. */
function row(output: string, name: string): string | undefined {
  const line = output.split("\n").find((l) => l.replace(/^.*\r/, "").startsWith(`${name}  `));
  return line
    ?.trim()
    .split(/\s{2,}/)
    .at(-1);
}

describe("chunksync on a terminal, with destination-only objects", () => {
  let env: Record<string, string>;
  let src: S3Client;
  let dst: S3Client;
  const buckets: [S3Client, string][] = [];

  beforeAll(() => {
    env = profileEnv();
    src = s3Client("source");
    dst = s3Client("destination");
  });

  afterAll(async () => {
    for (const [client, bucket] of buckets) await emptyAndDeleteBucket(client, bucket);
    src.destroy();
    dst.destroy();
  });

  /** A source with one object the destination has and one it lacks; a destination with three of its own. */
  async function world(name: string): Promise<string[]> {
    const s = uniqueBucketName(`src-${name}`);
    const d = uniqueBucketName(`dst-${name}`);
    await createBucket(src, s);
    await createBucket(dst, d);
    buckets.push([src, s], [dst, d]);
    const same = seededBytes("same", 256 * 1024);
    await putObject(src, s, "same.bin", same);
    await putObject(dst, d, "same.bin", same);
    await putObject(src, s, "new.bin", seededBytes("new", 64 * 1024));
    for (const key of EXTRAS) await putObject(dst, d, key, `only on the destination: ${key}`);
    return [`s3://${s}`, `s3://${d}`];
  }

  async function destinationKeys(url: string): Promise<string[]> {
    const page = await dst.send(new ListObjectsV2Command({ Bucket: url.slice("s3://".length) }));
    return (page.Contents ?? []).map((o) => o.Key!).sort();
  }

  /**
   * The status line is redrawn as each object settles. The direct engine lists ahead, so
   * its last line counts the two source objects and the three destination-only ones, all
   * done. The workflow engine lists a page at a time between the page's objects, so its
   * line says what it has found so far.
   */
  function expectStatusLine(output: string, engine = "direct"): void {
    if (engine === "direct") expect(output).toContain("] 100% | 5/5 objects");
    else expect(output).toContain("listing: 2 objects, 320.0 KiB so far");
    expect(output).toMatch(/missing {3}new\.bin: (would )?copy/);
  }

  /** What a terminal must never show: a crash, the SDK's Node-version notice, the SDK's own log lines. */
  function expectCleanOutput(output: string): void {
    expect(output).not.toContain("unexpected error");
    expect(output).not.toContain("NodeVersionSupportWarning");
    expect(output).not.toMatch(/@smithy|@aws-sdk/);
  }

  it("check exits 1 (differences) and deletes nothing", async () => {
    const urls = await world("tty-check");
    const { code, output } = await runOnTerminal(["check", ...urls, ...SIDES], env);
    expectCleanOutput(output);
    expectStatusLine(output);
    expect(code, output).toBe(1);
    expect(row(output, "destination only"), output).toBe("3");
    expect(await destinationKeys(urls[1]!)).toEqual([...EXTRAS, "same.bin"]);
  });

  it("plan --delete exits 0, deletes nothing, and its table says what sync --delete would delete", async () => {
    const urls = await world("tty-plan");
    const { code, output } = await runOnTerminal(["plan", ...urls, ...SIDES, "--delete"], env);
    expectCleanOutput(output);
    expectStatusLine(output);
    expect(code, output).toBe(0);
    for (const key of EXTRAS) expect(output).toContain(`extra     ${key}: would delete`);
    expect(row(output, "would delete"), output).toBe("3");
    expect(row(output, "deleted")).toBeUndefined();
    expect(await destinationKeys(urls[1]!)).toEqual([...EXTRAS, "same.bin"]);
  });

  it("plan without --delete would delete nothing", async () => {
    const urls = await world("tty-plan-keep");
    const { code, output } = await runOnTerminal(["plan", ...urls, ...SIDES], env);
    expectCleanOutput(output);
    expectStatusLine(output);
    expect(code, output).toBe(0);
    expect(row(output, "would delete"), output).toBe("0");
    expect(await destinationKeys(urls[1]!)).toEqual([...EXTRAS, "same.bin"]);
  });

  for (const engine of ["direct", "workflow"]) {
    it(`sync --engine ${engine} exits 0, copies the missing object and keeps every destination-only one`, async () => {
      const urls = await world(`tty-sync-${engine}`);
      const { code, output } = await runOnTerminal(["sync", ...urls, ...SIDES, "--engine", engine], env);
      expectCleanOutput(output);
      expectStatusLine(output, engine);
      expect(code, output).toBe(0);
      expect(row(output, "deleted"), output).toBe("0");
      expect(await destinationKeys(urls[1]!)).toEqual([...EXTRAS, "new.bin", "same.bin"]);
    });

    it(`sync --delete --engine ${engine} exits 0 and deletes every destination-only object`, async () => {
      const urls = await world(`tty-delete-${engine}`);
      const { code, output } = await runOnTerminal(
        ["sync", ...urls, ...SIDES, "--delete", "--engine", engine],
        env,
      );
      expectCleanOutput(output);
      expectStatusLine(output, engine);
      expect(code, output).toBe(0);
      expect(row(output, "deleted"), output).toBe("3");
      expect(await destinationKeys(urls[1]!)).toEqual(["new.bin", "same.bin"]);
    });
  }

  it("sync --delete --quiet prints nothing at all when it succeeds", async () => {
    const urls = await world("tty-quiet");
    const { code, output } = await runOnTerminal(["sync", ...urls, ...SIDES, "--delete", "--quiet"], env);
    expect(code, output).toBe(0);
    expect(output).toBe("");
    expect(await destinationKeys(urls[1]!)).toEqual(["new.bin", "same.bin"]);
  });
});
