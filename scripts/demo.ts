/**
 * The main job on a machine with no cloud account: starts the local S3 (or uses S3_ENDPOINT),
 * fills a source bucket, syncs it into a destination owned by another user, edits a few bytes,
 * and syncs again, showing that only the changed chunk crosses.
 *   npm run demo
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { type LocalS3, startLocalS3 } from "./local-s3.js";

const MiB = 1024 * 1024;
const CLI = join(import.meta.dirname, "../packages/cli/bin/chunksync.js");

function client(s3: LocalS3, user: "source" | "destination"): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: s3.users[user],
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/** Writes an AWS config with one profile per side, as a user would for two storage systems. */
function writeProfiles(s3: LocalS3, dir: string): Record<string, string> {
  const config = join(dir, "config");
  const credentials = join(dir, "credentials");
  writeFileSync(
    config,
    `[profile demo-src]\nregion = ${s3.region}\nendpoint_url = ${s3.endpoint}\n\n` +
      `[profile demo-dst]\nregion = ${s3.region}\nendpoint_url = ${s3.endpoint}\n`,
  );
  writeFileSync(
    credentials,
    `[demo-src]\naws_access_key_id = ${s3.users.source.accessKeyId}\naws_secret_access_key = ${s3.users.source.secretAccessKey}\n\n` +
      `[demo-dst]\naws_access_key_id = ${s3.users.destination.accessKeyId}\naws_secret_access_key = ${s3.users.destination.secretAccessKey}\n`,
  );
  // The digest indexes go with the demo's other files, not into the user's cache.
  return {
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: credentials,
    XDG_CACHE_HOME: join(dir, "cache"),
  };
}

/**
 * S3 states LastModified in whole seconds, and an index entry stands only for a version read
 * after its second passed: the demo lets it pass, so that every run shows the same figures.
 */
function letTheSecondPass(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1100));
}

function chunksync(args: string[], env: Record<string, string>): number {
  console.log(`\n$ chunksync ${args.join(" ")}`);
  const run = spawnSync(process.execPath, [CLI, ...args], {
    stdio: "inherit",
    env: { ...process.env, ...env },
  });
  return run.status ?? 2;
}

/** Deterministic sample content, so that every run of the demo shows the same figures. */
function sample(seed: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i += 4) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out.writeUInt32LE(x, i);
  }
  return out;
}

async function main(): Promise<void> {
  // On Node 20 the SDK warns at every client that its 2027 releases need Node 22; the README says so once.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  console.log("Starting a local S3-compatible server with two users (source, destination)...");
  const s3 = await startLocalS3({ log: (line) => console.log(`  ${line}`) });
  const dir = mkdtempSync(join(tmpdir(), "chunksync-demo-"));
  try {
    console.log(`  ${s3.kind} at ${s3.endpoint}`);
    const env = writeProfiles(s3, dir);
    const src = client(s3, "source");
    const dst = client(s3, "destination");
    const stamp = Date.now().toString(36);
    const srcBucket = `demo-src-${stamp}`;
    const dstBucket = `demo-dst-${stamp}`;
    await src.send(new CreateBucketCommand({ Bucket: srcBucket }));
    await dst.send(new CreateBucketCommand({ Bucket: dstBucket }));

    const objects: [string, Buffer][] = [
      ["videos/launch.mp4", sample(1, 64 * MiB)],
      ["backups/db-2026-11-24.dump", sample(2, 40 * MiB)],
      ["backups/db-2026-11-25.dump", sample(3, 24 * MiB)],
      ["docs/readme.txt", Buffer.from("chunksync demo\n")],
      ["docs/empty.txt", Buffer.alloc(0)],
    ];
    console.log(`\nFilling s3://${srcBucket} (source user) with ${objects.length} objects, 128 MiB in all.`);
    for (const [key, body] of objects)
      await src.send(new PutObjectCommand({ Bucket: srcBucket, Key: key, Body: body }));
    await letTheSecondPass();

    const urls = [
      `s3://${srcBucket}`,
      `s3://${dstBucket}`,
      "--src-profile",
      "demo-src",
      "--dst-profile",
      "demo-dst",
    ];
    console.log("\n1. First sync: the destination is empty, so every object is copied whole.");
    console.log("   Each side keeps a digest index of its objects (in the demo's directory).");
    if (chunksync(["sync", ...urls], env) !== 0) throw new Error("the first sync failed");

    const edited = Buffer.from(objects[0]![1]);
    edited.write("EDITED", 33 * MiB);
    await src.send(new PutObjectCommand({ Bucket: srcBucket, Key: "videos/launch.mp4", Body: edited }));
    await letTheSecondPass();
    console.log("\n2. Six bytes of videos/launch.mp4 (64 MiB) change on the source at offset 33 MiB.");
    console.log(
      "   plan shows what would move at most; the challenge finds the one 8 MiB chunk that differs.",
    );
    console.log("   Only the changed object is read, on the source only: the indexes answer for the rest.");
    chunksync(["plan", ...urls], env);
    console.log(
      "\n3. Second sync: the changed chunk is matched block by block, so only the block around the",
    );
    console.log(
      "   six bytes crosses; the destination builds its part from its own old bytes and copies the rest.",
    );
    if (chunksync(["sync", ...urls], env) !== 0) throw new Error("the second sync failed");
    console.log(
      "\n4. check: exit code 0 means both sides now hold the same bytes; it reads only the re-composed object,",
    );
    console.log("   on the destination (the destination index's note above says why).");
    const code = chunksync(["check", ...urls, "--quiet"], env);
    console.log(`   exit code ${code}`);

    console.log(`
To run the same commands against real buckets, give each side its own profile (or endpoint and
region); credentials come from the profile or the standard AWS chain:

  chunksync sync s3://my-bucket/data s3://my-backup/data \\
    --src-profile prod --dst-profile backup --dst-region eu-west-1
  chunksync sync s3://my-bucket s3://onprem-bucket --dst-endpoint https://minio.example.internal:9000
`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await s3.stop();
  }
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
});
