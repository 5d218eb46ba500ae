import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { waitForListBuckets } from "./probe.js";
import { errorMessage, freePort, onPath, run } from "./process.js";
import { Supervisor } from "./supervisor.js";
import type { LocalS3, S3User } from "./types.js";
import { FIXED_USERS, regionFromEnv } from "./users.js";

const ROOT: S3User = { accessKeyId: "chunksync-root", secretAccessKey: "chunksync-root-secret" };
const MINIO_IMAGE = "minio/minio:latest";
const MC_IMAGE = "minio/mc:latest";
const SIDES = ["source", "destination"] as const;

/**
 * MinIO has no bucket owners: a user allowed `s3:*` sees every bucket. Isolation is emulated by
 * name: the source user is denied `dst-*` buckets, the destination user `src-*` ones. Tests that
 * check isolation name their buckets accordingly; other buckets are shared. (Same as docker-compose.yml.)
 */
const DENIED_PREFIX = { source: "dst-", destination: "src-" } as const;

function policy(side: "source" | "destination"): string {
  const denied = DENIED_PREFIX[side];
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Action: ["s3:*"], Resource: ["arn:aws:s3:::*"] },
      {
        Effect: "Deny",
        Action: ["s3:*"],
        Resource: [`arn:aws:s3:::${denied}*`, `arn:aws:s3:::${denied}*/*`],
      },
    ],
  });
}

/** `mc` commands (without `mc`) that create both users on the server aliased `local`. */
function mcSetup(policyFile: (side: "source" | "destination") => string): string[][] {
  return SIDES.flatMap((side) => {
    const { accessKeyId, secretAccessKey } = FIXED_USERS[side];
    const name = `chunksync-${side}`;
    return [
      ["admin", "user", "add", "local", accessKeyId, secretAccessKey],
      ["admin", "policy", "create", "local", name, policyFile(side)],
      ["admin", "policy", "attach", "local", name, "--user", accessKeyId],
    ];
  });
}

/** `mc` reads the alias `local` from this variable, so no config file is written. */
const mcHost = (hostPort: string) => `http://${ROOT.accessKeyId}:${ROOT.secretAccessKey}@${hostPort}`;

/** MinIO from a `minio` binary on PATH, with users made by the MinIO client (`mc`, `mcli` on some distros). */
export async function startMinio(): Promise<LocalS3> {
  if (!(await onPath("minio"))) throw new Error("no `minio` binary on PATH");
  const mc = await findMinioClient();
  if (mc === undefined) {
    throw new Error(
      "`minio` is on PATH but the MinIO client `mc` is not: the tests need two users (a source and a " +
        "destination identity that cannot read each other's buckets), and MinIO creates users only " +
        "through its admin API, which `mc admin user add` speaks",
    );
  }
  const supervisor = await Supervisor.create("chunksync-minio-");
  const { dir } = supervisor;
  try {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const region = regionFromEnv();
    const env = {
      ...process.env,
      MINIO_ROOT_USER: ROOT.accessKeyId,
      MINIO_ROOT_PASSWORD: ROOT.secretAccessKey,
      MINIO_BROWSER: "off",
    };
    supervisor.spawn("minio", "minio", ["server", join(dir, "data"), "--address", `127.0.0.1:${port}`], env);
    const check = () => supervisor.assertRunning();
    await waitForListBuckets(endpoint, region, ROOT, { timeoutMs: 30_000, check });

    await mkdir(join(dir, "policies"));
    for (const side of SIDES) await writeFile(join(dir, "policies", `${side}.json`), policy(side));
    const mcEnv = { ...process.env, MC_HOST_local: mcHost(`127.0.0.1:${port}`) };
    for (const args of mcSetup((side) => join(dir, "policies", `${side}.json`))) {
      await run(mc, ["--config-dir", join(dir, "mc"), ...args], { env: mcEnv });
    }
    await waitForListBuckets(endpoint, region, FIXED_USERS.source, { timeoutMs: 10_000, check });
    const users = structuredClone(FIXED_USERS);
    return { kind: "minio", endpoint, region, users, stop: () => supervisor.stop() };
  } catch (error) {
    const logs = await supervisor.logTails();
    await supervisor.stop({ keepDir: true, graceMs: 500 });
    throw new Error(`${errorMessage(error)}\n${logs}\n(logs kept in ${dir}/log)`, { cause: error });
  }
}

/** `mc` is Midnight Commander on Debian; the MinIO client names MinIO in its version. */
async function findMinioClient(): Promise<string | undefined> {
  for (const name of ["mc", "mcli"]) {
    if (!(await onPath(name))) continue;
    const version = await run(name, ["--version"], { timeoutMs: 10_000 }).catch(() => "");
    if (/minio/i.test(version)) return name;
  }
  return undefined;
}

/** MinIO in a container when a Docker engine answers `docker info`; a `minio/mc` container creates the users. */
export async function startDockerMinio(options: { log?: (line: string) => void } = {}): Promise<LocalS3> {
  if (!(await onPath("docker"))) throw new Error("no `docker` on PATH");
  try {
    await run("docker", ["info", "--format", "{{.ServerVersion}}"], { timeoutMs: 15_000 });
  } catch (error) {
    throw new Error(`\`docker info\` failed (no Docker engine?): ${errorMessage(error)}`);
  }
  const name = `chunksync-minio-${randomBytes(4).toString("hex")}`;
  const supervisor = await Supervisor.create("chunksync-docker-minio-");
  await supervisor.runOnAbruptExit(`docker rm -f ${name}`);
  const removeContainer = () => run("docker", ["rm", "-f", name], { timeoutMs: 30_000 }).catch(() => "");
  try {
    options.log?.(`starting ${MINIO_IMAGE} as container ${name} (the first run pulls the image)`);
    const rootEnv = [
      "-e",
      `MINIO_ROOT_USER=${ROOT.accessKeyId}`,
      "-e",
      `MINIO_ROOT_PASSWORD=${ROOT.secretAccessKey}`,
    ];
    const minio = [MINIO_IMAGE, "server", "/data"];
    await run(
      "docker",
      ["run", "-d", "--rm", "--name", name, "-p", "127.0.0.1::9000", ...rootEnv, ...minio],
      {
        timeoutMs: 600_000,
      },
    );
    // "127.0.0.1:49153", one line per published address.
    const published = (await run("docker", ["port", name, "9000/tcp"])).trim().split("\n")[0] ?? "";
    const port = Number(published.slice(published.lastIndexOf(":") + 1));
    if (!Number.isInteger(port) || port <= 0)
      throw new Error(`unexpected \`docker port\` output: ${published}`);
    const endpoint = `http://127.0.0.1:${port}`;
    const region = regionFromEnv();
    await waitForListBuckets(endpoint, region, ROOT, { timeoutMs: 60_000 });

    // The mc container shares MinIO's network namespace; the policies reach it as variables.
    const writePolicies = 'echo "$SOURCE" > /tmp/source.json && echo "$DESTINATION" > /tmp/destination.json';
    const commands = mcSetup((side) => `/tmp/${side}.json`).map((args) => `mc ${args.join(" ")}`);
    const mcEnv = ["-e", `MC_HOST_local=${mcHost("127.0.0.1:9000")}`];
    const policies = ["-e", `SOURCE=${policy("source")}`, "-e", `DESTINATION=${policy("destination")}`];
    const script = [writePolicies, ...commands].join(" && ");
    await run(
      "docker",
      ["run", "--rm", "--network", `container:${name}`, ...mcEnv, ...policies].concat([
        "--entrypoint",
        "sh",
        MC_IMAGE,
        "-c",
        script,
      ]),
      { timeoutMs: 600_000 },
    );
    await waitForListBuckets(endpoint, region, FIXED_USERS.source, { timeoutMs: 10_000 });
    const users = structuredClone(FIXED_USERS);
    const stop = async () => {
      await removeContainer();
      await supervisor.stop();
    };
    return { kind: "docker-minio", endpoint, region, users, stop };
  } catch (error) {
    const logs = await run("docker", ["logs", "--tail", "20", name]).catch(() => "(no container logs)");
    await removeContainer();
    await supervisor.stop();
    throw new Error(`${errorMessage(error)}\n--- docker logs ${name} ---\n${logs}`, { cause: error });
  }
}
