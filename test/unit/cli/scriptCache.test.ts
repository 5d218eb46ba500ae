import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Script } from "node:vm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCachedScript } from "../../../packages/cli/bin/scriptCache.js";

const SCRIPT_CACHE = join(import.meta.dirname, "../../../packages/cli/bin/scriptCache.js");

let dir: string;
let script: string;
let cacheDir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "chunksync-script-cache-"));
  script = join(dir, "script.cjs");
  cacheDir = join(dir, "cache");
  writeScript("one");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A script whose result names `word` and uses the CommonJS wrapper's arguments. */
function writeScript(word: string): void {
  // A new file renamed over the old one, as a build may write it.
  writeFileSync(
    `${script}.new`,
    `module.exports = { word: ${JSON.stringify(word)}, dir: __dirname, sep: require("node:path").sep };\n`,
  );
  renameSync(`${script}.new`, script);
}

const run = (settledMs = 0) => runCachedScript(script, cacheDir, { settledMs });
/** One run in a new process, saving the cache at its end as the CLI does. */
function runInChild(): { cache: string; word: string } {
  const code = `import { runCachedScript } from ${JSON.stringify(SCRIPT_CACHE)};
    const r = runCachedScript(${JSON.stringify(script)}, ${JSON.stringify(cacheDir)}, { settledMs: 0 });
    r.saveCache();
    console.log(JSON.stringify({ cache: r.cache, word: r.exports.word }));`;
  return JSON.parse(
    execFileSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" }),
  );
}
const cacheFile = () => join(cacheDir, readdirSync(cacheDir)[0]!);

describe("runCachedScript", () => {
  it("runs the script as CommonJS, then from the cache it saved", () => {
    const first = run();
    expect(first.exports).toEqual({ word: "one", dir, sep: "/" });
    expect(first.cache).toBe("absent");
    first.saveCache();
    const second = run();
    expect(second.cache).toBe("used");
    expect(second.exports).toEqual({ word: "one", dir, sep: "/" });
  });

  it("does not use a cache made from an earlier version of the file, even of the same length", () => {
    run().saveCache();
    writeScript("two");
    const after = run();
    expect(after.cache).toBe("stale");
    expect(after.exports).toMatchObject({ word: "two" });
    after.saveCache();
    expect(run().cache).toBe("used");
  });

  it("drops a damaged or truncated cache and writes a whole one", () => {
    run().saveCache();
    const whole = readFileSync(cacheFile());
    const damaged = Buffer.from(whole);
    damaged[damaged.length - 10]! ^= 0xff;
    writeFileSync(cacheFile(), damaged);
    const again = run();
    expect(again.cache).toBe("damaged");
    expect(again.exports).toMatchObject({ word: "one" });
    again.saveCache();
    expect(run().cache).toBe("used");
    writeFileSync(cacheFile(), whole.subarray(0, whole.length - 100));
    expect(run().cache).toBe("damaged");
  });

  it("rebuilds a whole cache V8 rejects (compiled from another source)", () => {
    run().saveCache();
    const whole = readFileSync(cacheFile());
    // Magic line, identity line, digest line, then V8's data.
    let headerEnd = -1;
    for (let i = 0; i < 2; i++) headerEnd = whole.indexOf("\n", headerEnd + 1);
    const foreign = new Script("globalThis.unrelated = [1, 2, 3].map((n) => n * 2);").createCachedData();
    const digest = createHash("sha256").update(foreign).digest("hex");
    writeFileSync(
      cacheFile(),
      Buffer.concat([whole.subarray(0, headerEnd + 1), Buffer.from(`${digest}\n`), foreign]),
    );
    // In a process of its own: V8 reuses a script this process compiled before without the data.
    expect(runInChild()).toEqual({ cache: "rejected", word: "one" });
    expect(runInChild()).toEqual({ cache: "used", word: "one" });
  });

  it("makes no cache of a file changed within the last seconds", () => {
    run(60_000).saveCache();
    expect(readdirSync(dir)).not.toContain("cache");
    expect(run().cache).toBe("absent");
  });
});
