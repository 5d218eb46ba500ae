import { onPath, runCommand } from "./exec.js";

/** The peer tools and measuring tools, with the Debian package that provides each. */
const TOOLS: { binary: string; pkg: string }[] = [
  { binary: "rclone", pkg: "rclone" },
  // Debian's awscli is v2; a pip-installed v1 may come first on PATH, so the path is explicit.
  { binary: "/usr/bin/aws", pkg: "awscli" },
  { binary: "hyperfine", pkg: "hyperfine" },
  { binary: "/usr/bin/time", pkg: "time" },
  // The reference for the fewest bytes a delta can move between two local files.
  { binary: "rsync", pkg: "rsync" },
];

export const AWS_CLI = "/usr/bin/aws";

/** Installs the missing tools with apt-get (as root), or says exactly what to install. */
export async function ensureTools(log: (line: string) => void): Promise<void> {
  const missing: string[] = [];
  for (const { binary, pkg } of TOOLS) if (!(await onPath(binary))) missing.push(pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0)
    throw new Error(`missing ${missing.join(", ")}; run as root: apt-get install -y ${missing.join(" ")}`);
  log(`installing ${missing.join(", ")} with apt-get`);
  const env = { ...(process.env as Record<string, string>), DEBIAN_FRONTEND: "noninteractive" };
  await runCommand("apt-get", ["update"], { env, timeoutMs: 300_000 });
  await runCommand("apt-get", ["install", "-y", "--no-install-recommends", ...missing], {
    env,
    timeoutMs: 600_000,
  });
}

/** One line per tool version, for the results header. */
export async function toolVersions(): Promise<string[]> {
  const first = async (cmd: string, args: string[]) => {
    const r = await runCommand(cmd, args, { allowFailure: true, env: baseEnv() });
    return (r.stdout || r.stderr).trim().split("\n")[0] ?? "?";
  };
  return [
    `node ${process.version}`,
    await first("rclone", ["version"]),
    await first(AWS_CLI, ["--version"]),
    await first("hyperfine", ["--version"]),
    await first("radosgw", ["--version"]),
    await first("rsync", ["--version"]),
  ];
}

/**
 * The environment without ambient AWS settings, so only the profiles and keys given count.
 * AWS_CA_BUNDLE in particular makes rclone (LoadCustomCABundleError) and the aws CLI fail here.
 */
export function baseEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("AWS_") && !k.startsWith("RCLONE_")) out[k] = v;
  }
  return out;
}
