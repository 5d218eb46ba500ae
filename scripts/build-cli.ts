/**
 * Bundles the CLI into one script, packages/cli/dist/chunksync.cjs. A bundle starts in a fraction
 * of the time loading the TypeScript sources through a loader takes, which is most of a small
 * run. It is a CommonJS script, not an ES module, because Node 20 keeps compiled code between
 * runs only for a script (vm.Script's cachedData, used by bin/chunksync.js): compiling was 40% of
 * a small run's start. Code only some commands need (the workflow engine and its state machine
 * runner, audit and scrub, the AWS SDK's rarer credential sources) is reached through import(),
 * which the bundle turns into a deferred initialisation: `sync` and `check` do not run it, and V8
 * compiles a function only when it is first called.
 * `npm ci` (prepare), the test setup and the demo build it.
 *   npm run build
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build, type Plugin } from "esbuild";

const DIST = fileURLToPath(new URL("../packages/cli/dist/", import.meta.url));
export const CLI_BUNDLE = join(DIST, "chunksync.cjs");

/**
 * zod exports its error messages in 40 languages as `z.locales` (a third of its code) and
 * configures English itself; chunksync never switches language, so only English is bundled.
 */
const zodEnglishOnly: Plugin = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      args.importer.includes("/node_modules/zod/")
        ? { path: "locales", namespace: "zod-english-only", pluginData: args.resolveDir }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-english-only" }, (args) => ({
      contents: 'export { default as en } from "../locales/en.js";',
      resolveDir: args.pluginData as string,
      loader: "js",
    }));
  },
};

/**
 * Every S3 response body is parsed by `@aws-sdk/xml-builder`'s XML parser, which builds each
 * name and text a character at a time; the bundle takes the same parser written to scan
 * (packages/storage/src/parseXml.ts, held to the SDK's output by its unit test) in its place.
 */
const fasterSdkXmlParser: Plugin = {
  name: "faster-sdk-xml-parser",
  setup(b) {
    b.onResolve({ filter: /^\.\/xml-parser$/ }, (args) =>
      args.importer.includes("/node_modules/@aws-sdk/xml-builder/")
        ? { path: fileURLToPath(new URL("../packages/storage/src/parseXml.ts", import.meta.url)) }
        : undefined,
    );
  },
};

/**
 * `@node-rs/crc32` is a native addon: loading it (a shared library) cost every run a few
 * milliseconds of its start, for the crc32c algorithm that few runs choose. The bundle takes a
 * stand-in that loads it at the first call instead (it stays external: resolved at run time).
 */
const lazyNativeCrc: Plugin = {
  name: "lazy-native-crc",
  setup(b) {
    b.onResolve({ filter: /^@node-rs\/crc32$/ }, (args) =>
      args.namespace === "lazy-native-crc"
        ? { path: args.path, external: true }
        : { path: args.path, namespace: "lazy-native-crc" },
    );
    b.onLoad({ filter: /.*/, namespace: "lazy-native-crc" }, () => ({
      contents: `let native;
export function crc32c(data, initial) {
  native ??= require("@node-rs/crc32");
  return native.crc32c(data, initial);
}`,
      loader: "js",
    }));
  },
};

/**
 * Modules of Node's own that a dependency loads when the bundle loads but a run rarely uses,
 * each replaced for that dependency by a stand-in that loads it at its first use. A no-change
 * sync spent about a twentieth of its CPU loading them (`node:http2` alone, with `node:tls`,
 * about 8 ms). Each stand-in covers what its importer uses (checked by reading them, undici 7
 * and commander 14); `stand-ins` in the names of the loaded modules would show a new use.
 */
const LAZY_STAND_INS: { importer: RegExp; request: RegExp; contents: string }[] = [
  {
    // undici's HTTP/2 client: only for a server that offers h2 over TLS (allowH2, off here).
    importer: /\/node_modules\/undici\/lib\/dispatcher\/client\.js$/,
    request: /^\.\/client-h2\.js$/,
    contents: 'module.exports = (client, socket) => require("./client-h2.js")(client, socket);',
  },
  {
    // undici only calls assert(value, message) on its invariants: Node's assert loads when one fails.
    importer: /\/node_modules\/undici\/lib\//,
    request: /^node:assert$/,
    contents: `let assert;
module.exports = function ok(value, message) {
  if (!value) (assert ??= require("node:assert")).apply(undefined, arguments);
};`,
  },
  {
    // commander spawns a process only for a subcommand kept in its own executable (none here).
    importer: /\/node_modules\/commander\/lib\/command\.js$/,
    request: /^node:child_process$/,
    contents: 'module.exports = { spawn: (...args) => require("node:child_process").spawn(...args) };',
  },
  {
    // string-width builds an Intl.Segmenter and Unicode property regexes when it loads (about
    // 40 ms, a fifth of `chunksync --version`); a table measures with it only a cell that is not
    // plain ASCII (a key), so it loads then.
    importer: /\/packages\/cli\/src\/format\.ts$/,
    request: /^string-width$/,
    contents: `let width;
module.exports = function stringWidth(text, options) {
  return (width ??= require("string-width").default)(text, options);
};`,
  },
];

const lazyStandIns: Plugin = {
  name: "lazy-stand-ins",
  setup(b) {
    for (const [at, { importer, request }] of LAZY_STAND_INS.entries()) {
      b.onResolve({ filter: request }, (args) =>
        importer.test(args.importer)
          ? { path: `${at}`, namespace: "stand-ins", pluginData: args.resolveDir }
          : undefined,
      );
    }
    b.onLoad({ filter: /.*/, namespace: "stand-ins" }, (args) => ({
      contents: LAZY_STAND_INS[Number(args.path)]!.contents,
      resolveDir: args.pluginData as string,
      loader: "js",
    }));
  },
};

/**
 * `@smithy/core/retry`'s index loads the SDK's retry middleware, and through it the protocol and
 * serde helpers, down to a stream class (`ChecksumStream`) whose definition loads Node's web
 * streams: about 6 ms of a no-change sync's start, for the retry strategy and the error
 * classifiers that S3Requests and S3Connection use. Our packages take those from their own files,
 * and the Retry-After parser takes its two helpers from theirs. The SDK's client, when it loads,
 * finds the same files through the indexes: one module each, one retry strategy class.
 */
const SMITHY = fileURLToPath(new URL("../node_modules/@smithy/core/dist-es/submodules/", import.meta.url));
const slimSmithyImports: Plugin = {
  name: "slim-smithy-imports",
  setup(b) {
    const slim: { importer: RegExp; request: string; contents: string }[] = [
      {
        importer: /\/packages\/[^/]+\/src\//,
        request: "@smithy/core/retry",
        contents: `export { Retry } from "./retry/util-retry/retries-2026-config.js";
export { StandardRetryStrategy } from "./retry/util-retry/StandardRetryStrategy.js";
export { isServerError, isThrottlingError, isTransientError } from "./retry/service-error-classification/service-error-classification.js";
export { getRetryAfterHint } from "./retry/middleware-retry/parseRetryAfterHeader.js";`,
      },
      {
        importer: /\/retry\/middleware-retry\/parseRetryAfterHeader\.js$/,
        request: "@smithy/core/protocols",
        contents: 'export { HttpResponse } from "./transport/httpResponse.js";',
      },
      {
        importer: /\/retry\/middleware-retry\/parseRetryAfterHeader\.js$/,
        request: "@smithy/core/serde",
        contents: 'export { parseRfc7231DateTime } from "./serde/date-utils.js";',
      },
    ];
    b.onResolve({ filter: /^@smithy\/core\/(retry|protocols|serde)$/ }, (args) => {
      const at = slim.findIndex((s) => s.request === args.path && s.importer.test(args.importer));
      return at === -1 ? undefined : { path: String(at), namespace: "slim-smithy" };
    });
    b.onLoad({ filter: /.*/, namespace: "slim-smithy" }, (args) => ({
      contents: slim[Number(args.path)]!.contents,
      resolveDir: SMITHY,
      loader: "js",
    }));
  },
};

export async function buildCli(): Promise<void> {
  // The split ES module build this replaces.
  rmSync(join(DIST, "chunks"), { recursive: true, force: true });
  rmSync(join(DIST, "chunksync.mjs"), { force: true });
  const result = await build({
    entryPoints: [fileURLToPath(new URL("../packages/cli/src/main.ts", import.meta.url))],
    outfile: CLI_BUNDLE,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    // import() of a bundled module becomes a deferred initialisation, and of one of Node's
    // built-ins a require(): a script compiled by vm.Script has no loader for import().
    supported: { "dynamic-import": false },
    // The AWS SDK's ES module builds: unused commands and serializers are left out, where its
    // CommonJS builds bring the whole client (a third of the start-up compile).
    mainFields: ["module", "main"],
    plugins: [zodEnglishOnly, fasterSdkXmlParser, lazyNativeCrc, lazyStandIns, slimSmithyImports],
    // Not minified, so an unexpected error's stack still names our functions and classes keep
    // the names errors are matched by; a source map would add 25 MB.
    // Node 20 defines the globals `Buffer` and `process` as getters: a function call at every use,
    // per object and per chunk in a run (1.5% of a `check` of 10,000 objects). Bound once here;
    // "use strict" leads, as the directive only counts as the script's first statement.
    banner: {
      js: '"use strict"; const { Buffer } = require("node:buffer"); const process = require("node:process");',
    },
    metafile: true,
    logLevel: "warning",
  });
  checkErrorNames(Object.keys(result.metafile.outputs));
  asciiOnly(CLI_BUNDLE);
}

/**
 * esbuild writes code in ASCII (its default charset escapes the rest), but keeps comments as they
 * are: one dependency's comment with a dash of three bytes made Node read the whole bundle as
 * UTF-8 into a two-byte string, ten times the time of reading it as one-byte text. Characters
 * outside ASCII can only be in comments, so they are replaced there.
 */
function asciiOnly(path: string): void {
  const text = readFileSync(path, "utf8");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is the point
  if (/[^\x00-\x7f]/.test(text)) writeFileSync(path, text.replace(/[^\x00-\x7f]/g, "?"));
}

/**
 * Errors take their `name` from their class (`new.target.name`), and names are matched (a Step
 * Functions Catch, the codes by name): a class of ours the bundler renamed to keep two of one name
 * apart in the bundle (`ValidationError2`) would raise errors under the wrong name, so it fails the
 * build. A dependency's class of the same name (ajv's ValidationError) may be renamed: the module
 * comment esbuild writes before each source file says whose a class is.
 */
function checkErrorNames(outputs: string[]): void {
  const ours = new Set<string>();
  const packages = fileURLToPath(new URL("../packages/", import.meta.url));
  for (const file of readdirSync(packages, { recursive: true, encoding: "utf8" })) {
    if (!/^[^/]+\/src\/.*\.ts$/.test(file)) continue;
    for (const m of readFileSync(join(packages, file), "utf8").matchAll(/\bclass (\w+Error) extends\b/g))
      ours.add(m[1]!);
  }
  for (const path of outputs) {
    let module = "";
    for (const m of readFileSync(path, "utf8").matchAll(/^\/\/ (\S+)$|\bvar (\w+Error)\d+ = class\b/gm)) {
      if (m[1] !== undefined) module = m[1];
      else if (ours.has(m[2]!) && module.startsWith("packages/"))
        throw new Error(
          `the bundle renamed the error class ${m[2]} of ${module} (${basename(path)}): its errors would carry another name`,
        );
    }
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildCli();
}
