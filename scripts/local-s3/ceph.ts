import { randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { waitForListBuckets } from "./probe.js";
import { errorMessage, freePort, onPath, run } from "./process.js";
import { createRgwUser } from "./rgwUsers.js";
import { Supervisor } from "./supervisor.js";
import type { LocalS3, LocalS3Options } from "./types.js";
import { FIXED_USERS, RGW_USER_IDS, regionFromEnv } from "./users.js";

const BINARIES = ["ceph", "ceph-mon", "ceph-osd", "monmaptool", "radosgw", "radosgw-admin"];
/** No ceph-mgr: RGW, pools and `radosgw-admin usage show` all work without one, and startup is faster. */
const PACKAGES = ["ceph-mon", "ceph-osd", "radosgw"];
const DEFAULT_MEMSTORE_BYTES = 12 * 1024 ** 3;
/** The SSE-KMS key id the test server knows (its "testing" KMS backend), and that key. */
export const TEST_KMS_KEY_ID = "chunksync-test-key";
const TEST_KMS_KEY = Buffer.alloc(32, 7).toString("base64");

/**
 * A throwaway Ceph cluster with a RADOS Gateway: one monitor, one memstore OSD, radosgw, all on
 * 127.0.0.1 with their own ports and a fresh temp dir, so several can run side by side. Installs
 * the Debian packages first when they are missing and we are root.
 */
export async function startCephRgw(options: LocalS3Options = {}): Promise<LocalS3> {
  await ensureInstalled(options.log);
  const supervisor = await Supervisor.create("chunksync-ceph-");
  const { dir } = supervisor;
  const conf = join(dir, "ceph.conf");
  const ceph = (...args: string[]) => run("ceph", ["-c", conf, "--connect-timeout", "30", ...args]);
  try {
    const [monPort, rgwPort] = [await freePort(), await freePort()];
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    const fsid = randomUUID();
    await mkdir(join(dir, "mon", "a"), { recursive: true });
    await mkdir(join(dir, "osd", "0"), { recursive: true });
    await writeFile(
      conf,
      cephConf({
        dir,
        fsid,
        monPort,
        rgwPort,
        memstoreBytes: options.memstoreBytes ?? DEFAULT_MEMSTORE_BYTES,
        store: storeOf(options),
      }),
    );

    const monmap = join(dir, "monmap");
    await run("monmaptool", ["--create", "--addv", "a", `[v2:127.0.0.1:${monPort}]`, "--fsid", fsid, monmap]);
    await run("ceph-mon", ["-c", conf, "--mkfs", "-i", "a", "--monmap", monmap]);
    supervisor.spawn("mon.a", "ceph-mon", ["-c", conf, "-f", "-i", "a"]);

    const osdUuid = randomUUID();
    const osdId = (await ceph("osd", "new", osdUuid)).trim();
    await run("ceph-osd", ["-c", conf, "-i", osdId, "--mkfs", "--osd-uuid", osdUuid]);
    supervisor.spawn(`osd.${osdId}`, "ceph-osd", ["-c", conf, "-f", "-i", osdId]);

    const rgwCaps = ["mon", "allow rw", "osd", "allow rwx"];
    await ceph("auth", "get-or-create", "client.rgw", ...rgwCaps, "-o", join(dir, "keyring"));
    supervisor.spawn("client.rgw", "radosgw", ["-c", conf, "-f", "-n", "client.rgw"]);

    for (const side of ["source", "destination"] as const) {
      await createRgwUser(conf, { uid: RGW_USER_IDS[side], ...FIXED_USERS[side] });
    }
    const region = regionFromEnv();
    await waitForListBuckets(endpoint, region, FIXED_USERS.source, {
      timeoutMs: 60_000,
      check: () => supervisor.assertRunning(),
    });
    return {
      kind: "ceph-rgw",
      endpoint,
      region,
      users: structuredClone(FIXED_USERS),
      cephConf: conf,
      userIds: { ...RGW_USER_IDS },
      stop: () => supervisor.stop(),
    };
  } catch (error) {
    const logs = await supervisor.logTails();
    await supervisor.stop({ keepDir: true, graceMs: 500 });
    throw new Error(`${errorMessage(error)}\n${logs}\n(all logs kept in ${dir}/log)`, {
      cause: error,
    });
  }
}

async function ensureInstalled(log: ((line: string) => void) | undefined): Promise<void> {
  const missing = await missingBinaries();
  if (missing.length === 0) return;
  const install = `apt-get install -y --no-install-recommends ${PACKAGES.join(" ")}`;
  const uid = process.getuid?.();
  if (uid !== 0) {
    throw new Error(
      `${missing.join(", ")} not on PATH, and not root (uid ${uid}), cannot run \`${install}\``,
    );
  }
  if (!(await onPath("apt-get"))) {
    throw new Error(`${missing.join(", ")} not on PATH, and no apt-get to install Ceph`);
  }
  log?.(`installing Ceph (${missing.join(", ")} missing): apt-get update && ${install}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  await run("apt-get", ["update"], { env, timeoutMs: 300_000 });
  await run("apt-get", install.split(" ").slice(1), { env, timeoutMs: 600_000 });
  const stillMissing = await missingBinaries();
  if (stillMissing.length > 0) {
    throw new Error(`\`${install}\` succeeded but ${stillMissing.join(", ")} still not on PATH`);
  }
}

function storeOf(options: LocalS3Options): "memory" | "disk" {
  const store = options.store ?? process.env.LOCAL_S3_STORE ?? "memory";
  if (store !== "memory" && store !== "disk") {
    throw new Error(`LOCAL_S3_STORE: expected memory or disk, got ${JSON.stringify(store)}`);
  }
  return store;
}

/** The OSD's object store settings: memstore in RAM, or BlueStore on a sparse file. */
function objectStoreConf(o: { memstoreBytes: number; store: "memory" | "disk" }): string {
  if (o.store === "disk") {
    return `osd objectstore = bluestore
# A sparse file in the OSD's data dir: disk is used only as objects are written.
bluestore block create = true
bluestore block size = ${256 * 1024 ** 3}
bluestore fsck on mount = false
bluestore fsck on mkfs = false
# Keep the OSD's cache small: the data is on disk so that it does not cost RAM.
osd memory target = ${2 * 1024 ** 3}`;
  }
  return `osd objectstore = memstore
# memstore allocates lazily: this is a ceiling, not a reservation.
memstore device bytes = ${o.memstoreBytes}`;
}

async function missingBinaries(): Promise<string[]> {
  const found = await Promise.all(BINARIES.map((binary) => onPath(binary)));
  return BINARIES.filter((_, i) => !found[i]);
}

function cephConf(o: {
  dir: string;
  fsid: string;
  monPort: number;
  rgwPort: number;
  memstoreBytes: number;
  store: "memory" | "disk";
}): string {
  return `# Throwaway single-node cluster for tests: loopback only, no auth, data in memory (or on disk).
[global]
fsid = ${o.fsid}
mon host = v2:127.0.0.1:${o.monPort}
mon initial members = a
public addr = 127.0.0.1
ms bind msgr1 = false
# Everything lives in this dir, so clusters started side by side never share a file or socket.
run dir = ${o.dir}/run
admin socket = ${o.dir}/run/$name.asok
log file = ${o.dir}/log/$name.log
crash dir = ${o.dir}/crash
mon data = ${o.dir}/mon/$id
osd data = ${o.dir}/osd/$id
rgw data = ${o.dir}/rgw
keyring = ${o.dir}/keyring
auth cluster required = none
auth service required = none
auth client required = none
# Without it radosgw fails to authenticate (-13) even with auth off.
ms mon client mode = crc
# Each map change waits this long before it is committed (default 1 s); RGW's first start makes
# about a dozen (pools, users), so this alone takes startup from about 12 s to about 1.5 s.
paxos propose interval = 0.05
${objectStoreConf(o)}
# On SIGTERM or Ctrl-C the OSD first tells the monitor; don't wait 5 s when the monitor is gone too.
osd mon shutdown timeout = 0.5
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
# Do not shut the monitor down because the disk under /tmp is nearly full.
mon data avail crit = 0

[client.rgw]
# tcp_nodelay: otherwise every small response waits about 44 ms (Nagle + delayed ACK).
rgw frontends = beast endpoint=127.0.0.1:${o.rgwPort} tcp_nodelay=1
rgw dynamic resharding = false
# Per-user byte counts for benchmarks (radosgw-admin usage show), flushed every second.
rgw enable usage log = true
rgw usage log tick interval = 1
rgw usage log flush threshold = 1
# Free deleted objects' data soon (default after 2 h): memstore keeps it in memory.
rgw gc obj min wait = 60
rgw gc processor period = 60
# Server-side encryption over plain http on loopback, so tests can exercise SSE-C and SSE-KMS
# (the "testing" KMS backend takes its keys from this file; never use it outside a test server).
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = ${TEST_KMS_KEY_ID}=${TEST_KMS_KEY}
`;
}
