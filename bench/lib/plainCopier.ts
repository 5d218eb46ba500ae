/**
 * The least a Node program does to copy a bucket between two S3 users: list the source, then per
 * object one GET streamed into one PUT (Content-MD5 from the source's ETag where that is an MD5),
 * 8 objects at a time over keep-alive sockets, signed by hand with an unsigned payload. No check,
 * no index, no library but Node's: a floor under what any Node copier can take on this machine,
 * timed beside rclone by `bench/copiesPaired.ts --plain`. With PLAIN_HASH=1 it also takes the
 * SHA-256 of every byte it sends, as the destination's side of issue 13 must (a digest of what it
 * wrote, without reading it back): the least a Node copier that keeps one does; with
 * PLAIN_HASH=worker the same hashes are taken on a worker thread, each piece posted to it as it
 * arrives (copied), so the thread that moves the bytes never waits for them.
 *
 * Bundled and run by `node` alone (see `plainTool` in copiesPaired.ts); its settings come from the
 * environment: PLAIN_ENDPOINT, PLAIN_REGION, PLAIN_SRC (bucket), PLAIN_SRC_KEY,
 * PLAIN_SRC_SECRET, PLAIN_DST, PLAIN_DST_KEY, PLAIN_DST_SECRET, PLAIN_HASH.
 */
import { createHash, createHmac } from "node:crypto";
import { Agent, type IncomingMessage, request } from "node:http";
import { Worker } from "node:worker_threads";

interface User {
  key: string;
  secret: string;
}

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const endpoint = new URL(env("PLAIN_ENDPOINT"));
// Plain HTTP only, as the local server speaks it: a floor under what a client does over it.
if (endpoint.protocol !== "http:")
  throw new Error(`PLAIN_ENDPOINT ${endpoint.href}: expected an http:// endpoint`);
const region = process.env.PLAIN_REGION ?? "us-east-1";
const agent = new Agent({ keepAlive: true, maxSockets: 32 });
const EMPTY_SHA256 = createHash("sha256").update("").digest("hex");

const encodeKey = (key: string) =>
  key
    .split("/")
    .map((s) =>
      encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    )
    .join("/");

/** SigV4 headers for one request: path style, payload unsigned unless it is empty. */
function signed(
  user: User,
  method: string,
  path: string,
  query: string,
  headers: Record<string, string>,
  payload: string,
): Record<string, string> {
  const amzDate = new Date().toISOString().replace(/[:-]|\.\d{3}/g, "");
  const day = amzDate.slice(0, 8);
  const all: Record<string, string> = {
    ...headers,
    host: endpoint.host,
    "x-amz-content-sha256": payload,
    "x-amz-date": amzDate,
  };
  const names = Object.keys(all)
    .map((n) => n.toLowerCase())
    .sort();
  const lower = Object.fromEntries(Object.entries(all).map(([n, v]) => [n.toLowerCase(), v]));
  const canonical = [
    method,
    path,
    query,
    ...names.map((n) => `${n}:${String(lower[n]).trim()}`),
    "",
    names.join(";"),
    payload,
  ].join("\n");
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = [
    "AWS4-HMAC-SHA256",
    amzDate,
    scope,
    createHash("sha256").update(canonical).digest("hex"),
  ].join("\n");
  let k: Buffer = createHmac("sha256", `AWS4${user.secret}`).update(day).digest();
  for (const part of [region, "s3", "aws4_request"]) k = createHmac("sha256", k).update(part).digest();
  const signature = createHmac("sha256", k).update(toSign).digest("hex");
  return {
    ...all,
    authorization: `AWS4-HMAC-SHA256 Credential=${user.key}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`,
  };
}

function send(
  user: User,
  method: string,
  path: string,
  query: string,
  headers: Record<string, string>,
  body?: IncomingMessage,
): Promise<IncomingMessage> {
  const payload = body === undefined ? EMPTY_SHA256 : "UNSIGNED-PAYLOAD";
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: endpoint.hostname,
        port: endpoint.port,
        method,
        path: query ? `${path}?${query}` : path,
        headers: signed(user, method, path, query, headers, payload),
      },
      (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          const parts: Buffer[] = [];
          res.on("data", (d: Buffer) => parts.push(d));
          res.on("end", () =>
            reject(new Error(`${method} ${path}: ${res.statusCode} ${Buffer.concat(parts).toString()}`)),
          );
          return;
        }
        resolve(res);
      },
    );
    req.on("error", reject);
    if (body === undefined) req.end();
    else {
      body.on("error", reject);
      body.pipe(req);
    }
  });
}

async function text(res: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const d of res) parts.push(d as Buffer);
  return Buffer.concat(parts).toString();
}

/** Every key and ETag of `bucket`, a page at a time. */
async function* listed(user: User, bucket: string): AsyncGenerator<{ key: string; etag: string }> {
  let token: string | undefined;
  do {
    const query = `list-type=2${token ? `&continuation-token=${encodeURIComponent(token)}` : ""}`;
    const xml = await text(await send(user, "GET", `/${bucket}`, query, {}));
    for (const m of xml.matchAll(/<Contents>.*?<Key>(.*?)<\/Key>.*?<ETag>(.*?)<\/ETag>.*?<\/Contents>/gs))
      yield { key: m[1] as string, etag: (m[2] as string).replace(/&quot;|"/g, "") };
    token = /<NextContinuationToken>(.*?)<\/NextContinuationToken>/.exec(xml)?.[1];
  } while (token);
}

async function copy(
  source: User,
  destination: User,
  src: string,
  dst: string,
  o: { key: string; etag: string },
) {
  const got = await send(source, "GET", `/${src}/${encodeKey(o.key)}`, "", {});
  const headers: Record<string, string> = { "content-length": String(got.headers["content-length"]) };
  if (/^[0-9a-f]{32}$/.test(o.etag)) headers["content-md5"] = Buffer.from(o.etag, "hex").toString("base64");
  const digest = hashing === "1" ? createHash("sha256") : undefined;
  if (digest) got.on("data", (piece: Buffer) => digest.update(piece));
  const id = ++objects;
  if (hasher) got.on("data", (piece: Buffer) => hasher.postMessage({ id, piece }));
  await text(await send(destination, "PUT", `/${dst}/${encodeKey(o.key)}`, "", headers, got));
  digest?.digest();
  // Copied once the worker has hashed every piece, as the inline hash is done by now.
  if (hasher)
    await new Promise<void>((resolve) => {
      hashed.set(id, resolve);
      hasher.postMessage({ id });
    });
}

const hashing = process.env.PLAIN_HASH;
let objects = 0;
/** The worker that hashes every object's pieces by their object's number (PLAIN_HASH=worker). */
const hasher =
  hashing === "worker"
    ? new Worker(
        `const { createHash } = require("node:crypto");
         const { parentPort } = require("node:worker_threads");
         const open = new Map();
         parentPort.on("message", ({ id, piece }) => {
           if (piece === undefined) {
             open.get(id)?.digest();
             open.delete(id);
             parentPort.postMessage(id);
             return;
           }
           let h = open.get(id);
           if (!h) open.set(id, (h = createHash("sha256")));
           h.update(piece);
         });`,
        { eval: true },
      )
    : undefined;
/** Each object's copy, waiting for the worker to say it hashed the object's last piece. */
const hashed = new Map<number, () => void>();
hasher?.on("message", (id: number) => {
  hashed.get(id)?.();
  hashed.delete(id);
});

async function main(): Promise<void> {
  const source = { key: env("PLAIN_SRC_KEY"), secret: env("PLAIN_SRC_SECRET") };
  const destination = { key: env("PLAIN_DST_KEY"), secret: env("PLAIN_DST_SECRET") };
  const src = env("PLAIN_SRC");
  const dst = env("PLAIN_DST");
  const running = new Set<Promise<void>>();
  for await (const o of listed(source, src)) {
    const p: Promise<void> = copy(source, destination, src, dst, o).finally(() => running.delete(p));
    running.add(p);
    if (running.size >= 8) await Promise.race(running);
  }
  await Promise.all(running);
  agent.destroy();
  await hasher?.terminate();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
