import { spawn } from "node:child_process";

/** What one external command did: exit code, output and wall time (process.hrtime). */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

export interface CommandOptions {
  env?: Record<string, string>;
  /** Reject on a non-zero exit code unless this is set. */
  allowFailure?: boolean;
  timeoutMs?: number;
}

/** Runs `command` without a shell and times it from spawn to exit with process.hrtime. */
export function runCommand(
  command: string,
  args: string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, {
      env: options.env ?? (process.env as Record<string, string>),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 900_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const result: CommandResult = {
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
      };
      if (result.code !== 0 && !options.allowFailure) {
        reject(
          new Error(
            `${command} ${args.join(" ")} exited with ${result.code}${signal ? ` (${signal})` : ""}:\n${tail(result.stderr || result.stdout)}`,
          ),
        );
      } else resolve(result);
    });
  });
}

/** The last lines of a long output, for error messages. */
export function tail(text: string, lines = 15): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** Whether an executable named `name` is on PATH (or is an existing absolute path). */
export async function onPath(name: string): Promise<boolean> {
  const result = await runCommand("sh", ["-c", `command -v ${name}`], { allowFailure: true });
  return result.code === 0;
}
