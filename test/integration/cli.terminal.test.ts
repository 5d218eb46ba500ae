import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HUNG_UP, STOPPING } from "../../packages/cli/src/interruptible.js";
import { CLI_BIN, cleanEnv, profileEnv, runCli, SIDES } from "../support/cli.js";
import { flipByte, seededBytes } from "../support/data.js";
import { FaultProxy, type FaultRule, type SeenRequest } from "../support/faultProxy.js";
import { collected, listKeys, pendingUploads } from "../support/faultWorld.js";
import {
  createBucket,
  emptyAndDeleteBucket,
  localS3,
  putObject,
  readAll,
  s3Client,
  uniqueBucketName,
} from "../support/s3.js";

/**
 * The CLI as a user runs it: on a terminal (a pseudo-terminal from util-linux `script`), so
 * stderr is a TTY and the live progress line is drawn. `script -e` returns the child's exit
 * code; its output is the terminal's, stdout and stderr together.
 */
function runOnTerminal(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  return startOnTerminal(args, env).done;
}

/** `word` quoted for sh. */
const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;

/**
 * {@link runOnTerminal}, returned at once: `type` sends keys to the terminal as a user types
 * them (Ctrl-C is "\x03", which the terminal turns into SIGINT for the CLI), `shown` settles
 * once the terminal has shown `text`, or the run ended.
 */
function startOnTerminal(args: string[], env: Record<string, string>, columns = 160) {
  // `script` runs the command through the user's shell; `exec` makes the CLI that shell's
  // process, so the exit code is the CLI's. Otherwise a shell that waits on it as a child (dash,
  // /bin/sh on Debian) takes the Ctrl-C too and dies by it: 130 where the CLI exited 0.
  const command = `exec ${[process.execPath, CLI_BIN, ...args].map(quote).join(" ")}`;
  const child = spawn("/usr/bin/script", ["-qec", command, "/dev/null"], {
    // cleanEnv drops every AWS_* variable, the SDK's warning switch among them.
    env: { ...cleanEnv(), ...env, TERM: "xterm", COLUMNS: String(columns) },
    stdio: ["pipe", "pipe", "ignore"],
  });
  const output = collected(child, child.stdout);
  const done = new Promise<{ code: number; output: string }>((resolve) =>
    child.on("close", (code) => {
      child.stdin.end();
      resolve({ code: code ?? -1, output: output.text().replaceAll("\r\n", "\n") });
    }),
  );
  return { done, type: (keys: string) => child.stdin.write(keys), shown: output.shows };
}

const EXTRAS = ["extra-1.bin", "extra-2.bin", "extra-3.bin"];
const MiB = 1024 * 1024;

/** `probe()`'s first value other than undefined, asked again every 50 ms (a missing file counts as undefined). */
async function until<T>(probe: () => T | undefined): Promise<T> {
  for (;;) {
    try {
      const value = probe();
      if (value !== undefined) return value;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

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
  /** A new, empty source and destination bucket, dropped after the block. */
  async function emptyPair(name: string): Promise<[string, string]> {
    const s = uniqueBucketName(`src-${name}`);
    const d = uniqueBucketName(`dst-${name}`);
    await createBucket(src, s);
    await createBucket(dst, d);
    buckets.push([src, s], [dst, d]);
    return [s, d];
  }

  async function world(name: string): Promise<string[]> {
    const [s, d] = await emptyPair(name);
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

  /** A run on the terminal (see `startOnTerminal`), once started. */
  type Terminal = ReturnType<typeof startOnTerminal>;

  /**
   * Runs `args` (given the proxy's endpoint) on a terminal, the destination reached through a
   * fault proxy that holds `rule`. The rule is made with the run, so that its hook can type into
   * the terminal or wait for what it shows; the proxy is stopped once the run ended.
   */
  async function onTerminalThrough(
    args: (endpoint: string) => string[],
    rule: (run: () => Terminal | undefined) => FaultRule,
  ): Promise<{ code: number; output: string }> {
    const proxy = await FaultProxy.start({ upstream: localS3().endpoint });
    try {
      let run: Terminal | undefined;
      proxy.setRules([rule(() => run)]);
      run = startOnTerminal(args(proxy.url), env);
      return await run.done;
    } finally {
      await proxy.stop();
    }
  }

  /**
   * A rule that holds the first request `when` selects until Ctrl-C, typed on the terminal
   * then, shows as taken; `typed()` tells whether it was.
   */
  function ctrlCAt(name: string, when: (r: SeenRequest) => boolean) {
    let typed = false;
    return {
      typed: () => typed,
      rule: (run: () => Terminal | undefined): FaultRule => ({
        name,
        action: "hook",
        when: (r) => !typed && when(r),
        hook: async () => {
          typed = true;
          run()?.type("\x03");
          await run()?.shown(STOPPING);
        },
      }),
    };
  }

  it("Ctrl-C typed on the terminal: the run says at once, on a line of its own above the status, that it stops; it aborts what it began and exits 130", async () => {
    const [s, d] = await emptyPair("tty-ctrlc");
    for (const key of ["a.bin", "b.bin", "c.bin"]) await putObject(src, s, key, seededBytes(key, 64 * 1024));
    // The first write waits until the terminal shows that the Ctrl-C was taken.
    const ctrlC = ctrlCAt("ctrl-c-at-first-write", (r) => r.method === "PUT");
    const { code, output } = await onTerminalThrough(
      (endpoint) => [
        "sync",
        `s3://${s}`,
        `s3://${d}`,
        ...SIDES,
        "--dst-endpoint",
        endpoint,
        "--concurrency",
        "1",
      ],
      ctrlC.rule,
    );
    expectCleanOutput(output);
    expect(ctrlC.typed()).toBe(true);
    expect(code, output).toBe(130);
    // The status line was cleared first: the stopping line starts the row, and nothing of the
    // status stays on it.
    expect(output).toContain(`\r\x1b[2K${STOPPING}\n`);
    expect(shownLines(output)).toContain(STOPPING);
    expect(output).toContain("chunksync: interrupted; started uploads were aborted");
    expect(await pendingUploads(dst, d)).toEqual([]);
  });

  it("a new object streamed into one PutObject counts as sent as its body goes, before the server has stored it", async () => {
    const [s, d] = await emptyPair("tty-sent");
    // Over the 8 MiB chunk and written in one request: streamed into one PutObject.
    const data = seededBytes("tty-sent", 12 * MiB);
    await putObject(src, s, "big.bin", data);
    let drawn = false;
    const { code, output } = await onTerminalThrough(
      (endpoint) => ["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--dst-endpoint", endpoint],
      (run) => ({
        // The server has stored the body; its answer waits until the terminal showed it as sent.
        name: "hold-the-put's-answer",
        action: "hold",
        when: (r) => r.method === "PUT" && r.path.endsWith("/big.bin"),
        hook: async () => {
          await run()?.shown("0/1 objects | read src 12.0 MiB dst 0 B | sent 12.0 MiB");
          drawn = true;
        },
      }),
    );
    expectCleanOutput(output);
    expect(code, output).toBe(0);
    expect(drawn).toBe(true);
    expect(output).toContain("1/1 objects | read src 12.0 MiB dst 0 B | sent 12.0 MiB");
    expect((await readAll(dst, d, "big.bin")).equals(data)).toBe(true);
  });

  it("Ctrl-C once every object settled, as the run writes its index: it says the run finished, exits 0, and draws no status after the stop", async () => {
    const [s, d] = await emptyPair("tty-ctrlc-end");
    for (const key of ["a.bin", "b.bin"]) await putObject(src, s, key, seededBytes(key, 64 * 1024));
    // The destination's index is kept in its bucket: the put of its manifest, after the last
    // object settled, waits for the stop to be taken.
    const ctrlC = ctrlCAt(
      "ctrl-c-at-index-manifest",
      (r) => r.method === "PUT" && r.path.endsWith(".manifest.json"),
    );
    const { code, output } = await onTerminalThrough(
      (endpoint) => [
        ...["sync", `s3://${s}`, `s3://${d}`, ...SIDES, "--dst-endpoint", endpoint],
        ...["--dst-index", `s3://${d}/.idx`],
      ],
      ctrlC.rule,
    );
    expectCleanOutput(output);
    expect(ctrlC.typed()).toBe(true);
    expect(code, output).toBe(0);
    const after = output.slice(output.indexOf(STOPPING));
    const settled = "chunksync: every object had settled when stopped: the run finished\n";
    expect(after).toContain(settled);
    // The status is drawn while the index is written, never once the progress stopped.
    expect(after.slice(after.indexOf(settled)), output).not.toMatch(/\[[#.]+\] \d+%/);
    expect(after).toContain("sync finished in");
    // The index was written whole, the stop notwithstanding: its pieces and its manifest.
    const stored = await listKeys(dst, d, ".idx/");
    expect(
      stored.filter((k) => k.endsWith(".manifest.json")),
      stored.join(", "),
    ).toHaveLength(1);
    expect(
      stored.filter((k) => k.endsWith(".jsonl")),
      stored.join(", "),
    ).toHaveLength(1);
  });

  /**
   * A sync that re-composes a 24 MiB object (its old version differs in its second chunk) by
   * multipart upload through a proxy, started by `shell` (given the sync's command line, quoted
   * for sh) on a terminal that goes away (killed) as the upload's first part goes out: its upload
   * exists then. The buckets, the sync's arguments, a directory for files, the old version's
   * bytes, and `gone()`: whether the terminal went away.
   */
  async function terminalGoneMidCopy(name: string, shell: (line: string, dir: string) => string) {
    const [s, d] = await emptyPair(name);
    const bytes = seededBytes(`${name}-big`, 24 * MiB);
    const old = flipByte(bytes, 12 * MiB);
    await putObject(src, s, "big.bin", bytes);
    await putObject(dst, d, "big.bin", old);
    const dir = mkdtempSync(join(tmpdir(), `chunksync-${name}-`));
    const proxy = await FaultProxy.start({ upstream: localS3().endpoint });
    const args = [
      "sync",
      `s3://${s}`,
      `s3://${d}`,
      ...SIDES,
      "--dst-endpoint",
      proxy.url,
      "--concurrency",
      "1",
    ];
    const line = [process.execPath, CLI_BIN, ...args].map(quote).join(" ");
    const terminal = spawn("/usr/bin/script", ["-qc", shell(line, dir), "/dev/null"], {
      env: { ...cleanEnv(), ...env, TERM: "xterm" },
      stdio: ["pipe", "ignore", "ignore"],
    });
    let gone = false;
    proxy.setRules([
      {
        name: `terminal-gone-${name}`,
        action: "hook",
        when: (r) => !gone && r.method === "PUT" && r.query.includes("partNumber="),
        hook: () => {
          gone = true;
          terminal.kill("SIGKILL");
        },
      },
    ]);
    return { s, d, args, dir, proxy, old, gone: () => gone };
  }

  it("a run started with setsid outlives its terminal, which sends it no hangup: it finishes the copy and exits 0, without a crash", async () => {
    // Its stdout (and stdin) stay the terminal; the exit status goes to a file.
    const run = await terminalGoneMidCopy(
      "tty-setsid",
      (line, dir) =>
        `setsid sh -c ${quote(`${line} 2> ${join(dir, "stderr")}; echo $? > ${join(dir, "rc")}`)} & sleep 60`,
    );
    const { s, d, dir } = run;
    try {
      const rcFile = join(dir, "rc");
      const rc = await until(() => (existsSync(rcFile) && readFileSync(rcFile, "utf8").trim()) || undefined);
      const stderr = readFileSync(join(dir, "stderr"), "utf8");
      expect(run.gone()).toBe(true);
      // Node 20's exit aborted (134) where a terminal it started on was gone.
      expect(stderr).not.toMatch(/Assertion failed|Native stack trace/);
      expect(rc).toBe("0");
      expect(await destinationKeys(`s3://${d}`)).toEqual(["big.bin"]);
      expect((await readAll(dst, d, "big.bin")).equals(await readAll(src, s, "big.bin"))).toBe(true);
    } finally {
      await run.proxy.stop();
    }
  });

  it("the terminal hangs up mid-copy (a lost SSH session): the run stops as on SIGTERM, aborts the upload it began and ends without a crash", async () => {
    // stdout stays on the terminal (its writes fail once it is gone); stderr goes to a file
    // that outlives it, as a user's `2> log` would. `exec` keeps the shell's pid for the CLI.
    const run = await terminalGoneMidCopy(
      "tty-hangup",
      (line, dir) => `echo $$ > ${join(dir, "pid")}; exec ${line} 2> ${join(dir, "stderr")}`,
    );
    const { s, d, args, dir } = run;
    try {
      const pid = Number(await until(() => readFileSync(join(dir, "pid"), "utf8").trim() || undefined));
      await until(() => !existsSync(`/proc/${pid}`) || undefined);
      const stderr = readFileSync(join(dir, "stderr"), "utf8");
      expect(run.gone()).toBe(true);
      expect(stderr).toContain(HUNG_UP);
      expect(stderr).toContain("chunksync: interrupted; started uploads were aborted");
      // Node 20's exit aborts on a terminal that is gone (a failed assertion in its stdio reset).
      expect(stderr).not.toMatch(/Assertion failed|Native stack trace/);
      expect(await pendingUploads(dst, d)).toEqual([]);
      expect((await readAll(dst, d, "big.bin")).equals(run.old)).toBe(true);
      // Run again, off the terminal: the copy completes.
      const again = await runCli([...args.slice(0, 3), ...SIDES, "--quiet"], env);
      expect(again.code, again.stderr).toBe(0);
      expect((await readAll(dst, d, "big.bin")).equals(await readAll(src, s, "big.bin"))).toBe(true);
    } finally {
      await run.proxy.stop();
    }
  });

  it("Ctrl-C typed during an audit: the stopping line starts by clearing the row where the terminal echoed ^C", async () => {
    const [s, d] = await emptyPair("tty-audit-ctrlc");
    for (const key of ["a.bin", "b.bin"]) {
      await putObject(src, s, key, seededBytes(key, 64 * 1024));
      await putObject(dst, d, key, seededBytes(key, 64 * 1024));
    }
    // The first range read waits until the terminal shows that the Ctrl-C was taken.
    const ctrlC = ctrlCAt("ctrl-c-at-first-read", (r) => r.method === "GET" && r.headers.range !== undefined);
    const { code, output } = await onTerminalThrough(
      (endpoint) => ["audit", `s3://${s}`, `s3://${d}`, ...SIDES, "--full", "--dst-endpoint", endpoint],
      ctrlC.rule,
    );
    expect(ctrlC.typed()).toBe(true);
    expect(code, output).toBe(130);
    expect(output).toContain(`^C\r\x1b[2K${STOPPING}\n`);
    expect(shownLines(output)).toContain(STOPPING);
    // What it judged until then is reported.
    expect(output).toMatch(/chunksync: interrupted; \d+ objects? judged, \d+ ranges? not held alike\r?\n/);
  });

  it("on an 80-column terminal every status line fits in 79 columns and keeps the rate", async () => {
    const urls = await world("tty-narrow");
    const { code, output } = await startOnTerminal(["check", ...urls, ...SIDES], env, 80).done;
    expectCleanOutput(output);
    expect(code, output).toBe(1);
    const drawn = output
      .split("\r\x1b[2K")
      .map((l) => l.split("\n")[0]!)
      .filter((l) => l.startsWith("["));
    expect(drawn.length, output).toBeGreaterThan(0);
    for (const line of drawn) {
      expect(line.length, line).toBeLessThanOrEqual(79);
      expect(line, line).toMatch(/ \| [\d.]+ (B|KiB|MiB|GiB)\/s/);
    }
    expect(drawn.at(-1)).toMatch(/^\[#{20}\] 100% \| 5\/5 objects/);
  });

  it("sync --delete --quiet prints nothing at all when it succeeds", async () => {
    const urls = await world("tty-quiet");
    const { code, output } = await runOnTerminal(["sync", ...urls, ...SIDES, "--delete", "--quiet"], env);
    expect(code, output).toBe(0);
    expect(output).toBe("");
    expect(await destinationKeys(urls[1]!)).toEqual(["new.bin", "same.bin"]);
  });
});

/**
 * Keys that a terminal would act on if printed raw, and how chunksync shows them: ESC
 * sequences that clear the screen or retitle the window, a carriage return that overwrites
 * the line, a line feed that forges one, a right-to-left override; ordinary non-ASCII as is.
 */
const ODD_KEYS: [key: string, shown: string][] = [
  ["odd/new\nline", "odd/new\\nline"],
  ["odd/carriage\rreturn", "odd/carriage\\rreturn"],
  ["odd/\x1b[2J\x1b[31mred", "odd/\\x1b[2J\\x1b[31mred"],
  ["odd/invoice\u202efdp.exe", "odd/invoice\\u202efdp.exe"],
  ["odd/back\\slash\x7f", "odd/back\\\\slash\\x7f"],
  ["odd/ünï-日本-😀", "odd/ünï-日本-😀"],
];
/** On the destination only, deleted by sync --delete. */
const ODD_EXTRA: [string, string] = ["odd/extra\x1b]0;title\x07", "odd/extra\\x1b]0;title\\x07"];
/** On the source only, sealed with a customer key the run is not given. */
const ODD_SEALED: [string, string] = ["odd/sealed\n\x1b[1mkey\u009b2J", "odd/sealed\\n\\x1b[1mkey\\u009b2J"];

/** The terminal's output without the progress line's own "go to column 0, clear the line". */
const withoutRedraws = (output: string) => output.replaceAll("\r\x1b[2K", "");

/** Every line the terminal shows, each with what was drawn over it removed. */
const shownLines = (output: string) => output.split("\n").map((l) => l.split("\r\x1b[2K").at(-1)!);

/** A control character (the line feeds between lines aside), DEL, a line separator or a bidi control. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are the point
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

describe("chunksync on a terminal, with keys that hold control characters", () => {
  let env: Record<string, string>;
  let src: S3Client;
  let dst: S3Client;
  const buckets: [S3Client, string][] = [];
  let dir: string;

  beforeAll(() => {
    env = profileEnv();
    src = s3Client("source");
    dst = s3Client("destination");
    dir = mkdtempSync(join(tmpdir(), "chunksync-oddkeys-"));
  });

  afterAll(async () => {
    // One DeleteObject per key: DeleteObjects carries keys in an XML body, where ESC and BEL are
    // not allowed, and RGW refuses the whole request.
    const keys = [...ODD_KEYS.map(([key]) => key), ODD_EXTRA[0], ODD_SEALED[0]];
    for (const [client, bucket] of buckets) {
      for (const Key of keys) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
      await emptyAndDeleteBucket(client, bucket);
    }
    src.destroy();
    dst.destroy();
  });

  async function pair(name: string): Promise<[string, string]> {
    const s = uniqueBucketName(`src-${name}`);
    const d = uniqueBucketName(`dst-${name}`);
    await createBucket(src, s);
    await createBucket(dst, d);
    buckets.push([src, s], [dst, d]);
    return [s, d];
  }

  function expectNoRawControl(output: string): void {
    expect(withoutRedraws(output)).not.toMatch(RAW_CONTROL);
  }

  it("sync, check and audit show each key escaped on one line; --json and --report carry the exact keys", async () => {
    const [s, d] = await pair("tty-odd");
    for (const [i, [key]] of ODD_KEYS.entries()) await putObject(src, s, key, seededBytes(key, 1000 + i));
    // The first key is changed on the destination, the others missing there.
    await putObject(dst, d, ODD_KEYS[0]![0], seededBytes("old", 1000));
    await putObject(dst, d, ODD_EXTRA[0], "only on the destination");
    const urls = [`s3://${s}`, `s3://${d}`];
    const report = join(dir, "sync.jsonl");

    const synced = await runOnTerminal(["sync", ...urls, ...SIDES, "--delete", "--report", report], env);
    expect(synced.code, synced.output).toBe(0);
    expectNoRawControl(synced.output);
    const lines = shownLines(synced.output);
    const [changed, ...missing] = ODD_KEYS;
    expect(
      lines.some((l) => l.startsWith(`changed   ${changed![1]}: `)),
      synced.output,
    ).toBe(true);
    for (const [, shown] of missing)
      expect(
        lines.some((l) => l.startsWith(`missing   ${shown}: copy, `)),
        synced.output,
      ).toBe(true);
    expect(lines, synced.output).toContain(`extra     ${ODD_EXTRA[1]}: delete`);
    // The report, read with `cat`, shows its keys too: C1 and bidi controls, DEL escaped as \uHHHH.
    const reportText = readFileSync(report, "utf8");
    expect(reportText).not.toMatch(RAW_CONTROL);
    const reported = reportText
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; sourceKey?: string; destinationKey: string })
      .filter((l) => l.type === "object");
    expect(reported.map((l) => l.destinationKey).sort()).toEqual(
      [...ODD_KEYS.map(([key]) => key), ODD_EXTRA[0]].sort(),
    );
    const listed = await dst.send(new ListObjectsV2Command({ Bucket: d }));
    expect((listed.Contents ?? []).map((o) => o.Key!).sort()).toEqual(ODD_KEYS.map(([key]) => key).sort());

    const checked = await runOnTerminal(["check", ...urls, ...SIDES], env);
    expect(checked.code, checked.output).toBe(0);
    expectNoRawControl(checked.output);
    expect(row(checked.output, "identical"), checked.output).toBe(String(ODD_KEYS.length));

    // Same size, other bytes: only the audit, which reads both sides, sees it.
    const [rotKey, rotShown] = ODD_KEYS[2]!;
    await putObject(dst, d, rotKey, seededBytes("rotted", 1002));
    const audited = await runOnTerminal(["audit", ...urls, ...SIDES, "--full"], env);
    expect(audited.code, audited.output).toBe(1);
    expectNoRawControl(audited.output);
    expect(
      shownLines(audited.output).some((l) => l.startsWith(rotShown) && l.endsWith("differs")),
      audited.output,
    ).toBe(true);
    const auditJson = await runCli(["audit", ...urls, ...SIDES, "--full", "--json"], env);
    expect(auditJson.code, auditJson.stderr).toBe(1);
    const differences = (JSON.parse(auditJson.stdout) as { differences: { key: string }[] }).differences;
    expect(differences.map((x) => x.key)).toEqual([rotKey]);
  });

  it("a failed object's line and its message show the key escaped; --json carries it exactly", async () => {
    const [s, d] = await pair("tty-odd-fail");
    const [key, shown] = ODD_SEALED;
    // Encrypted with a customer key the run is not given: every read of it fails.
    const sealKey = Buffer.alloc(32, 7);
    await src.send(
      new PutObjectCommand({
        Bucket: s,
        Key: key,
        Body: "sealed",
        SSECustomerAlgorithm: "AES256",
        SSECustomerKey: sealKey.toString("base64"),
        SSECustomerKeyMD5: createHash("md5").update(sealKey).digest("base64"),
      }),
    );
    const urls = [`s3://${s}`, `s3://${d}`];
    const synced = await runOnTerminal(["sync", ...urls, ...SIDES], env);
    expect(synced.code, synced.output).toBe(2);
    expectNoRawControl(synced.output);
    // The line names the key, and so does the storage error's message after it.
    expect(
      shownLines(synced.output).some(
        (l) => l.startsWith(`failed    ${shown}: `) && l.includes(`/${shown}: `),
      ),
      synced.output,
    ).toBe(true);
    const json = await runCli(["sync", ...urls, ...SIDES, "--json"], env);
    expect(json.code, json.stderr).toBe(2);
    // On a terminal `--json` shows the key, never acts on it (U+009B would clear the screen).
    expect(json.stdout).not.toMatch(RAW_CONTROL);
    const { failures } = JSON.parse(json.stdout) as { failures: { key: string; message: string }[] };
    expect(failures.map((f) => f.key)).toEqual([key]);
    expect(failures[0]!.message).toContain(`/${key}: `);
    // Not on a terminal, failed objects still go to stderr: as plain lines, escaped alike.
    expectNoRawControl(json.stderr);
    expect(json.stderr).toContain(`failed    ${shown}: `);
  });

  it("cleanup shows each pending upload's key escaped; --json carries it exactly", async () => {
    const [, d] = await pair("tty-odd-cleanup");
    const key = "odd/pending\r\x1b[Kx";
    const { UploadId } = await dst.send(new CreateMultipartUploadCommand({ Bucket: d, Key: key }));
    const args = ["cleanup", `s3://${d}`, "--dst-profile", "dst", "--older-than", "0s", "--dry-run"];
    const listed = await runOnTerminal(args, env);
    expect(listed.code, listed.output).toBe(0);
    expectNoRawControl(listed.output);
    const line = `would abort odd/pending\\r\\x1b[Kx (upload ${UploadId}, started `;
    expect(
      shownLines(listed.output).some((l) => l.startsWith(line)),
      listed.output,
    ).toBe(true);
    const json = await runCli([...args, "--json"], env);
    expect(json.code, json.stderr).toBe(0);
    const { wouldAbort } = JSON.parse(json.stdout) as { wouldAbort: { key: string; uploadId: string }[] };
    expect(wouldAbort).toEqual([expect.objectContaining({ key, uploadId: UploadId })]);
  });
});
