import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";

/** Runs a short command to completion and returns its stdout; rejects with the command and its stderr tail. */
export function run(
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const { timeoutMs = 60_000, env } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: env ?? process.env,
      timeout: timeoutMs,
      killSignal: "SIGKILL",
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", (error) => reject(new Error(`${command}: ${error.message}`, { cause: error })));
    child.on("close", (code, signal) => {
      if (code === 0) return resolve(stdout);
      const how = signal === null ? `exit code ${code}` : `signal ${signal} (timeout ${timeoutMs} ms?)`;
      const output = lastLines(`${stderr}\n${stdout}`, 15);
      reject(
        new Error(`\`${[command, ...args].join(" ")}\` failed with ${how}${output ? `:\n${output}` : ""}`),
      );
    });
  });
}

/** Whether an executable of that name is on PATH (no shell involved). */
export async function onPath(name: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    try {
      await access(join(dir, name), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

/**
 * A TCP port that was free on 127.0.0.1 a moment ago. The kernel picks it at random in the
 * ephemeral range, so concurrent test runs on one machine do not collide in practice.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error("could not read the port of a listening socket"));
      });
    });
  });
}

/** The last lines of a log file, or a note that it is missing. */
export async function tailFile(path: string, lines = 20): Promise<string> {
  try {
    return lastLines(await readFile(path, "utf8"), lines) || "(empty)";
  } catch {
    return "(no log)";
  }
}

export function lastLines(text: string, lines: number): string {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .slice(-lines)
    .join("\n");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
