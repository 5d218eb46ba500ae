// Runs a CommonJS script with V8's compiled code kept between runs (vm.Script's cachedData): Node 20
// has no compile cache of its own (module.enableCompileCache is Node >= 22.1), and compiling the
// CLI bundle was 40% of a small run's start.
//
// The cache is trusted only for the very file it was made from: V8 itself checks its own version
// and flags but of the source only its length, so each cache file names the script's identity
// (path, inode, size, modification and change times, Node's version and architecture) and carries
// a SHA-256 of its payload. A cache that is missing, made from another file, damaged or rejected
// by V8 is not used, and one is written when the run ends, holding the functions that run
// compiled too. A file changed within the file system's timestamp granularity of an earlier
// version keeps its times (git's "racy" files), so no cache is made of a file changed in the last
// seconds. Writes go to a temporary file renamed into place: two runs at once leave one whole cache.
const { isAscii } = require("node:buffer");
const { createHash } = require("node:crypto");
const { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } = require("node:fs");
const { createRequire } = require("node:module");
const { basename, dirname, join } = require("node:path");
const vm = require("node:vm");

const MAGIC = "chunksync-script-cache 1\n";
const DIGEST = 64; // hex SHA-256

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** The cache's payload, or why there is none to use. */
function readCache(cacheFile, id) {
  let bytes;
  try {
    bytes = readFileSync(cacheFile);
  } catch {
    return { state: "absent" };
  }
  const header = `${MAGIC}${id}\n`;
  if (bytes.toString("utf8", 0, header.length) !== header) return { state: "stale" };
  const payload = bytes.subarray(header.length + DIGEST + 1);
  const stated = bytes.toString("latin1", header.length, header.length + DIGEST);
  return payload.length > 0 && stated === sha256(payload) ? { state: "used", payload } : { state: "damaged" };
}

function writeCache(cacheFile, id, payload) {
  const temporary = `${cacheFile}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(cacheFile), { recursive: true });
    writeFileSync(temporary, Buffer.concat([Buffer.from(`${MAGIC}${id}\n${sha256(payload)}\n`), payload]));
    renameSync(temporary, cacheFile);
  } catch {
    // A cache is an optimisation: a read-only or full disk costs the next run its compile only.
    rmSync(temporary, { force: true });
  }
}

/**
 * Runs the CommonJS script `file` as Node's own loader would, compiled with the code cache in
 * `cacheDir` when that one was made from this very file.
 * @param {string} file absolute path of the script
 * @param {string} cacheDir directory of the cache file (created when needed)
 * @param {{ settledMs?: number }} [options] how long ago the file must have changed for a cache to be made of it
 * @returns {{ exports: unknown, cache: "used" | "absent" | "stale" | "damaged" | "rejected", saveCache: () => void }}
 *   saveCache writes a cache of what has been compiled so far when none was used (call it at exit)
 */
function runCachedScript(file, cacheDir, { settledMs = 2000 } = {}) {
  // Taken before the source is read: a file rewritten in between gets another identity.
  const stat = statSync(file, { bigint: true });
  const id = JSON.stringify([
    file,
    ...[stat.dev, stat.ino, stat.size, stat.mtimeNs, stat.ctimeNs].map(String),
    process.version,
    process.arch,
  ]);
  const bytes = readFileSync(file);
  // ASCII (the bundle is) as one-byte text: a tenth of the time of decoding it as UTF-8.
  const source = isAscii(bytes) ? bytes.toString("latin1") : bytes.toString("utf8");
  const cacheFile = join(cacheDir, `${basename(file)}-${sha256(file).slice(0, 16)}.bin`);
  const read = readCache(cacheFile, id);
  // The wrapper on the script's first line keeps its line numbers, which stack traces name.
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    read.payload ? { filename: file, cachedData: read.payload } : { filename: file },
  );
  const cache = read.payload && script.cachedDataRejected ? "rejected" : read.state;
  const settled = Date.now() - Number(stat.ctimeNs / 1_000_000n) >= settledMs;
  const saveCache = () => {
    if (cache !== "used" && settled) writeCache(cacheFile, id, script.createCachedData());
  };
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  return { exports: module.exports, cache, saveCache };
}

module.exports = { runCachedScript };
