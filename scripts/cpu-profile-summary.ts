/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`) by self time per function and by time
 * per module, inclusive of what a module's functions call in other modules. Functions in the
 * CLI bundle are given the source module esbuild names in its `// path` comments, so a profile
 * of `packages/cli/dist/chunksync.cjs` reads per package file, not per bundle.
 *   npx tsx scripts/cpu-profile-summary.ts CPU.cpuprofile [--top 30]
 */
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The `// path` comments esbuild puts before each module of a bundle, by the line each starts. */
function bundleModules(url: string): { line: number; module: string }[] {
  let text: string;
  try {
    text = readFileSync(url.startsWith("file:") ? fileURLToPath(url) : url, "utf8");
  } catch {
    return [];
  }
  const starts: { line: number; module: string }[] = [];
  text.split("\n").forEach((line, i) => {
    const m = /^\/\/ ((?:node_modules|packages|\.\.)\/\S+)$/.exec(line);
    if (m) starts.push({ line: i, module: m[1]! });
  });
  return starts;
}

/** A module name for a call frame: the bundled source file, the package in node_modules, or the URL. */
function moduleNamer(): (frame: ProfileNode["callFrame"]) => string {
  const bundles = new Map<string, { line: number; module: string }[]>();
  return (frame) => {
    const { url, lineNumber } = frame;
    if (url === "") return `(${frame.functionName || "native"})`;
    if (/\.[cm]js$/.test(url) && url.includes("/dist/")) {
      let starts = bundles.get(url);
      if (!starts) {
        starts = bundleModules(url);
        bundles.set(url, starts);
      }
      let found = url;
      for (const s of starts) {
        if (s.line > lineNumber) break;
        found = s.module;
      }
      return found.replace(/^node_modules\/((?:@[^/]+\/)?[^/]+)\/.*/, "$1");
    }
    if (url.startsWith("node:")) return url;
    const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    return nm ? nm[1]! : url.replace(/^file:\/\/.*\/packages\//, "packages/");
  };
}

export function summarise(profile: Profile, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const name = moduleNamer();
  const fnName = (node: ProfileNode) =>
    `${node.callFrame.functionName || "(anonymous)"}  ${name(node.callFrame)}:${node.callFrame.lineNumber + 1}`;
  const fnSelf = new Map<string, number>();
  const modSelf = new Map<string, number>();
  const modInclusive = new Map<string, number>();
  const fnInclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const mod = name(node.callFrame);
    const fn = fnName(node);
    fnSelf.set(fn, (fnSelf.get(fn) ?? 0) + us);
    modSelf.set(mod, (modSelf.get(mod) ?? 0) + us);
    // Inclusive: each module and function on the sample's stack counts once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!;
      for (const [key, into] of [
        [name(frame.callFrame), modInclusive],
        [fnName(frame), fnInclusive],
      ] as const) {
        if (seen.has(key)) continue;
        seen.add(key);
        into.set(key, (into.get(key) ?? 0) + us);
      }
    }
  }
  const table = (title: string, rows: Map<string, number>) =>
    [
      `## ${title}`,
      ...[...rows]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(
          ([k, us]) =>
            `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`,
        ),
    ].join("\n");
  return [
    `total ${(total / 1000).toFixed(0)} ms sampled`,
    table("self time by function", fnSelf),
    table("self time by module", modSelf),
    table("inclusive time by module", modInclusive),
    table("inclusive time by function", fnInclusive),
  ].join("\n\n");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, flag, n] = process.argv.slice(2);
  if (!file) {
    console.error("usage: cpu-profile-summary.ts FILE.cpuprofile [--top N]");
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  console.log(summarise(profile, flag === "--top" && n ? Number(n) : 30));
}
