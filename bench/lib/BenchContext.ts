import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { type ObjectHead, S3Connection, S3ObjectStore } from "@chunksync/storage";
import type { LocalS3 } from "../../scripts/local-s3/index.js";
import { type CommandOptions, type CommandResult, runCommand } from "./exec.js";
import { AWS_CLI, baseEnv } from "./tools.js";
import { RgwUsage } from "./usage.js";

export const CLI = join(import.meta.dirname, "../../packages/cli/bin/chunksync.js");

export type Side = "source" | "destination";

/** The JSON summary `chunksync sync|check --json` prints. */
export interface ChunksyncSummary {
  objects: Record<string, number>;
  bytes: {
    sourceRead: number;
    destinationRead: number;
    transferred: number;
    copiedServerSide: number;
    /** Bytes the destination side uploaded, the old bytes of assembled parts included. */
    uploaded?: number;
  };
  durationMs: number;
  /** Each side's index report (absent under --no-index): objects answered from it, and read. */
  index?: Partial<Record<Side, { fromIndex: number; read: number }>>;
}

/**
 * Everything the sections share: the S3 server and its two users, a client per user, the
 * profiles and remotes each tool is configured with, and the server's own byte counters.
 */
export class BenchContext {
  readonly clients: Record<Side, S3Client>;
  readonly usage: RgwUsage | undefined;
  readonly runId = Date.now().toString(36);
  readonly #dir = mkdtempSync(join(tmpdir(), "chunksync-bench-"));
  readonly #buckets = new Set<string>();

  constructor(
    readonly s3: LocalS3,
    readonly quick: boolean,
    readonly log: (line: string) => void,
  ) {
    const client = (side: Side) =>
      new S3Client({
        region: s3.region,
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: s3.users[side],
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
      });
    this.clients = { source: client("source"), destination: client("destination") };
    this.usage = s3.cephConf && s3.userIds ? new RgwUsage(s3.cephConf, Object.values(s3.userIds)) : undefined;
    writeFileSync(
      join(this.#dir, "config"),
      ["src", "dst"]
        .map((p) => `[profile ${p}]\nregion = ${s3.region}\nendpoint_url = ${s3.endpoint}\n`)
        .join("\n"),
    );
    writeFileSync(
      join(this.#dir, "credentials"),
      (["src", "dst"] as const)
        .map((p) => {
          const u = s3.users[p === "src" ? "source" : "destination"];
          return `[${p}]\naws_access_key_id = ${u.accessKeyId}\naws_secret_access_key = ${u.secretAccessKey}\n`;
        })
        .join("\n"),
    );
  }

  /** A bucket name unique to this run. */
  bucketName(label: string): string {
    return `bench-${label}-${this.runId}`;
  }

  /** Creates `name` as `side`'s user; `versioned`: with versioning enabled. */
  async createBucket(side: Side, name: string, versioned = false): Promise<string> {
    await this.clients[side].send(new CreateBucketCommand({ Bucket: name }));
    this.#buckets.add(name);
    if (versioned) await this.enableVersioning(side, name);
    return name;
  }

  /** Makes `side`'s bucket `name` keep versions. */
  async enableVersioning(side: Side, name: string): Promise<void> {
    await this.clients[side].send(
      new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: "Enabled" } }),
    );
  }

  /** Lets `grantee` do anything in `bucket` (owned by the other user): one identity for `aws s3 sync`. */
  async grantBucket(owner: Side, bucket: string, grantee: Side): Promise<void> {
    const uid = this.s3.userIds?.[grantee] ?? this.s3.users[grantee].accessKeyId;
    const policy = {
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { AWS: [`arn:aws:iam:::user/${uid}`] },
          Action: ["s3:*"],
          Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
        },
      ],
    };
    await this.clients[owner].send(
      new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }),
    );
  }

  /**
   * Deletes buckets with their objects at once and frees their memory: the RGW memstore keeps
   * every object in RAM, and deleted data otherwise waits for garbage collection.
   */
  async dropBuckets(names: string[]): Promise<void> {
    for (const name of names) {
      this.#buckets.delete(name);
      if (this.s3.cephConf) {
        await runCommand(
          "radosgw-admin",
          ["-c", this.s3.cephConf, "bucket", "rm", `--bucket=${name}`, "--purge-objects"],
          {
            allowFailure: true,
          },
        );
      }
    }
    if (this.s3.cephConf)
      await runCommand("radosgw-admin", ["-c", this.s3.cephConf, "gc", "process", "--include-all"], {
        allowFailure: true,
      });
  }

  async dropAll(): Promise<void> {
    await this.dropBuckets([...this.#buckets]);
    rmSync(this.#dir, { recursive: true, force: true });
  }

  /** sha256 of a full GET of the object, or undefined when it is missing or unreadable. */
  async sha256OfObject(side: Side, bucket: string, key: string): Promise<string | undefined> {
    try {
      const r = await this.clients[side].send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const hash = createHash("sha256");
      for await (const piece of r.Body as AsyncIterable<Uint8Array>) hash.update(piece);
      return hash.digest("hex");
    } catch {
      return undefined;
    }
  }

  /** ETag and Last-Modified of an object: changes whenever a tool rewrites it. */
  async version(side: Side, bucket: string, key: string): Promise<string | undefined> {
    try {
      const h = await this.clients[side].send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return `${h.ETag} ${h.LastModified?.toISOString()}`;
    } catch {
      return undefined;
    }
  }

  /** Environment of `chunksync` with a `src` and a `dst` profile, one per user, as a user would set up. */
  chunksyncEnv(): Record<string, string> {
    return {
      ...baseEnv(),
      AWS_CONFIG_FILE: join(this.#dir, "config"),
      AWS_SHARED_CREDENTIALS_FILE: join(this.#dir, "credentials"),
      // Digest indexes kept by default go with the bench's other files, not into the user's cache.
      XDG_CACHE_HOME: join(this.#dir, "cache"),
    };
  }

  /**
   * The source user's storage port on `bucket` and the head of its `key`, for benches that read
   * through the port itself (destroy the connection when done).
   */
  async sourceObject(
    bucket: string,
    key: string,
  ): Promise<{ connection: S3Connection; store: S3ObjectStore; head: ObjectHead }> {
    const connection = await S3Connection.open({
      endpoint: this.s3.endpoint,
      region: this.s3.region,
      credentials: this.s3.users.source,
    });
    const store = new S3ObjectStore({ connection, bucket });
    const head = await store.head(key);
    if (!head) throw new Error(`${key} not found in ${bucket}`);
    return { connection, store, head };
  }

  /** Runs `chunksync <args>` with the two profiles. */
  chunksync(args: string[], options: CommandOptions = {}): Promise<CommandResult> {
    return runCommand(process.execPath, [CLI, ...args], { env: this.chunksyncEnv(), ...options });
  }

  /** rclone remotes `src:` and `dst:`, each with its own user, configured through the environment. */
  rcloneEnv(): Record<string, string> {
    const env = baseEnv();
    for (const [remote, side] of [
      ["SRC", "source"],
      ["DST", "destination"],
    ] as const) {
      const p = `RCLONE_CONFIG_${remote}_`;
      env[`${p}TYPE`] = "s3";
      env[`${p}PROVIDER`] = "Ceph";
      env[`${p}ENDPOINT`] = this.s3.endpoint;
      env[`${p}REGION`] = this.s3.region;
      env[`${p}ACCESS_KEY_ID`] = this.s3.users[side].accessKeyId;
      env[`${p}SECRET_ACCESS_KEY`] = this.s3.users[side].secretAccessKey;
    }
    return env;
  }

  rclone(args: string[], options: CommandOptions = {}): Promise<CommandResult> {
    return runCommand("rclone", args, { env: this.rcloneEnv(), ...options });
  }

  /** `aws` (Debian's v2) as `side`'s user; it signs every request of a run with that one identity. */
  aws(side: Side, args: string[], options: CommandOptions = {}): Promise<CommandResult> {
    const env = {
      ...baseEnv(),
      AWS_ACCESS_KEY_ID: this.s3.users[side].accessKeyId,
      AWS_SECRET_ACCESS_KEY: this.s3.users[side].secretAccessKey,
      AWS_DEFAULT_REGION: this.s3.region,
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    };
    return runCommand(AWS_CLI, ["--endpoint-url", this.s3.endpoint, ...args], { env, ...options });
  }
}

/** LastModified has whole-second precision: an index entry stands once its version's second has passed. */
export function letEntriesStand(): Promise<void> {
  return new Promise((r) => setTimeout(r, 1100));
}

/** `chunksync <command>` from `src` to `dst` between the two profiles, in quiet mode. */
export function pairArgs(command: "sync" | "check", src: string, dst: string): string[] {
  return [command, `s3://${src}`, `s3://${dst}`, "--src-profile", "src", "--dst-profile", "dst", "--quiet"];
}

/** Parses the one JSON line `chunksync --json` prints. */
export function parseSummary(stdout: string): ChunksyncSummary | undefined {
  const line = stdout
    .trim()
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("{"));
  if (!line) return undefined;
  try {
    return JSON.parse(line) as ChunksyncSummary;
  } catch {
    return undefined;
  }
}
