import { execFile, spawn } from "node:child_process";
import { appendFileSync, closeSync, mkdtempSync, openSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localS3 } from "./s3.js";

/** The CLI entry point, for tests that drive the process themselves. */
export const CLI_BIN = join(import.meta.dirname, "../../packages/cli/bin/chunksync.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * AWS shared config with one profile per side (`src`, `dst`), each with its own keys and
 * `endpoint_url`, as a user would configure two storage systems.
 */
export function profileEnv(): Record<string, string> {
  const s3 = localS3();
  const dir = mkdtempSync(join(tmpdir(), "chunksync-profiles-"));
  const config = join(dir, "config");
  const credentials = join(dir, "credentials");
  writeFileSync(
    config,
    ["src", "dst"]
      .map((p) => `[profile ${p}]\nregion = ${s3.region}\nendpoint_url = ${s3.endpoint}\n`)
      .join("\n"),
  );
  writeFileSync(
    credentials,
    (["src", "dst"] as const)
      .map((p) => {
        const u = s3.users[p === "src" ? "source" : "destination"];
        return `[${p}]\naws_access_key_id = ${u.accessKeyId}\naws_secret_access_key = ${u.secretAccessKey}\n`;
      })
      .join("\n"),
  );
  // Each test file's runs keep their digest indexes in a directory of their own, never the user's cache.
  return {
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: credentials,
    XDG_CACHE_HOME: join(dir, "cache"),
  };
}

/** The two profiles of profileEnv, plus `wrongsecret` (a real key, a wrong secret) and `nobody` (an unknown key). */
export function envWithBadProfiles(): Record<string, string> {
  const env = profileEnv();
  const s3 = localS3();
  appendFileSync(
    env.AWS_CONFIG_FILE!,
    ["wrongsecret", "nobody"]
      .map((p) => `\n[profile ${p}]\nregion = ${s3.region}\nendpoint_url = ${s3.endpoint}\n`)
      .join("") + `\n[profile badendpoint]\nregion = ${s3.region}\nendpoint_url = not a url\n`,
  );
  appendFileSync(
    env.AWS_SHARED_CREDENTIALS_FILE!,
    `\n[wrongsecret]\naws_access_key_id = ${s3.users.source.accessKeyId}\naws_secret_access_key = not-the-secret\n` +
      "\n[nobody]\naws_access_key_id = AKIANOSUCHKEY0000000\naws_secret_access_key = whatever\n" +
      `\n[badendpoint]\naws_access_key_id = ${s3.users.source.accessKeyId}\naws_secret_access_key = ${s3.users.source.secretAccessKey}\n`,
  );
  return env;
}

let testCache: string | undefined;

/**
 * The environment without ambient AWS settings, so only the flags and profiles given count,
 * and with a cache directory of this test process's own: digest indexes kept by default never
 * land in the user's cache.
 */
export function cleanEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("AWS_")) out[k] = v;
  }
  testCache ??= mkdtempSync(join(tmpdir(), "chunksync-cache-"));
  out.XDG_CACHE_HOME = testCache;
  return out;
}

/** Runs the real CLI in a child process, as a user would. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI_BIN, ...args],
      {
        env: { ...cleanEnv(), ...env },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** {@link runCli} with standard output or error on a full disk (/dev/full); the other is captured. */
export function runCliOnFullDisk(
  args: string[],
  env: Record<string, string>,
  full: "stdout" | "stderr",
): Promise<CliResult> {
  const fd = openSync("/dev/full", "w");
  const child = spawn(process.execPath, [CLI_BIN, ...args], {
    env: { ...cleanEnv(), ...env },
    stdio: ["ignore", full === "stdout" ? fd : "pipe", full === "stderr" ? fd : "pipe"],
  });
  closeSync(fd);
  const captured: Buffer[] = [];
  (full === "stdout" ? child.stderr : child.stdout)?.on("data", (b: Buffer) => captured.push(b));
  return new Promise((resolve) => {
    child.on("close", (code) => {
      const text = Buffer.concat(captured).toString();
      resolve({
        code: code ?? 1,
        stdout: full === "stdout" ? "" : text,
        stderr: full === "stderr" ? "" : text,
      });
    });
  });
}

/** The profile flags that make SRC and DST two storage systems. */
export const SIDES = ["--src-profile", "src", "--dst-profile", "dst"];
