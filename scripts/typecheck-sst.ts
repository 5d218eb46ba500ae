/**
 * Type-checks sst.config.ts offline: installs SST's platform (npm only) when it is not
 * there yet, then runs tsc with tsconfig.sst.json. Errors inside SST's own platform
 * sources (.sst/platform, compiled by tsc because they ship as .ts) are not ours and are
 * reported as a count; any error in our files fails the check.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const env = { ...process.env, SST_SKIP_DEPENDENCY_CHECK: "1", SST_NO_BUN: "1", SST_TELEMETRY_DISABLED: "1" };

if (!existsSync(join(root, ".sst/platform/config.d.ts"))) {
  const install = spawnSync("npx", ["sst", "install", "--stage", "ci"], { cwd: root, env, stdio: "inherit" });
  if (install.status !== 0) process.exit(install.status ?? 1);
}
const tsc = spawnSync("npx", ["tsc", "-p", "tsconfig.sst.json"], { cwd: root, env, encoding: "utf8" });
const lines = `${tsc.stdout}${tsc.stderr}`.split("\n").filter((l) => /error TS\d+/.test(l));
const ours = lines.filter((l) => !l.startsWith(".sst/"));
for (const l of ours) console.error(l);
if (lines.length > ours.length)
  console.log(`sst.config.ts: ignored ${lines.length - ours.length} error(s) inside .sst/platform`);
if (ours.length > 0 || (tsc.status !== 0 && lines.length === 0)) {
  if (lines.length === 0) console.error(tsc.stdout, tsc.stderr);
  process.exit(1);
}
console.log("sst.config.ts type-checks");
