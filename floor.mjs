// Floor: GET 8 x 64 MiB through undici and PUT each streamed, no hashing. Mode via argv.

import { Transform } from "node:stream";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Pool } from "undici";

const mode = process.argv[2] ?? "plain";
const ep = process.env.S3_ENDPOINT;
const creds = {
  accessKeyId: process.env.S3_DESTINATION_ACCESS_KEY_ID,
  secretAccessKey: process.env.S3_DESTINATION_SECRET_ACCESS_KEY,
};
const c = new S3Client({
  endpoint: ep,
  region: "us-east-1",
  forcePathStyle: true,
  credentials: creds,
  requestChecksumCalculation: "WHEN_REQUIRED",
});
const B = process.env.FLOOR_BUCKET;
if (mode === "fill") {
  await c.send(new CreateBucketCommand({ Bucket: B }));
  for (let i = 0; i < 8; i++)
    await c.send(new PutObjectCommand({ Bucket: B, Key: "o" + i, Body: Buffer.alloc(64 << 20, i + 1) }));
  process.exit(0);
}

import { GetObjectCommand } from "@aws-sdk/client-s3";
// use presigned URLs to avoid signing cost in the loop
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

const pool = new Pool(ep, { connections: 16 });
const t0 = process.cpuUsage();
const w0 = Date.now();
class Agg extends Transform {
  constructor(n) {
    super({ readableHighWaterMark: n });
    this.n = n;
    this.parts = [];
    this.len = 0;
  }
  _transform(ch, _e, cb) {
    this.parts.push(ch);
    this.len += ch.length;
    if (this.len >= this.n) {
      this.push(Buffer.concat(this.parts, this.len));
      this.parts = [];
      this.len = 0;
    }
    cb();
  }
  _flush(cb) {
    if (this.len) this.push(Buffer.concat(this.parts, this.len));
    cb();
  }
}
await Promise.all(
  [...Array(8).keys()].map(async (i) => {
    const g = await getSignedUrl(c, new GetObjectCommand({ Bucket: B, Key: "o" + i }));
    const p = await getSignedUrl(c, new PutObjectCommand({ Bucket: B, Key: "copy" + i }));
    const gu = new URL(g),
      pu = new URL(p);
    const r = await pool.request({ path: gu.pathname + gu.search, method: "GET" });
    let body = r.body;
    if (mode === "agg") body = r.body.pipe(new Agg(1 << 20));
    const w = await pool.request({
      path: pu.pathname + pu.search,
      method: "PUT",
      body,
      headers: { "content-length": String(64 << 20) },
    });
    await w.body.dump();
    if (w.statusCode !== 200) throw new Error("put " + w.statusCode);
  }),
);
const u = process.cpuUsage(t0);
console.log(
  mode,
  "wall",
  Date.now() - w0,
  "ms cpu",
  Math.round((u.user + u.system) / 1000),
  "ms (user",
  Math.round(u.user / 1000),
  "sys",
  Math.round(u.system / 1000),
  ")",
);
process.exit(0);
