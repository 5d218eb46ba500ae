import { lookup } from "node:dns/promises";
import { prefixesOverlap, type SideLocation, sidesOverlap } from "@chunksync/core";

/** An endpoint's port, stated or its scheme's. */
function portOf(url: URL): string {
  return url.port || (url.protocol === "https:" ? "443" : "80");
}

/** Every address `host` resolves to; none where it does not resolve (the run's first request then says why). */
async function addressesOf(host: string): Promise<string[]> {
  try {
    return (await lookup(host.replace(/^\[|\]$/g, ""), { all: true })).map((a) => a.address);
  } catch {
    return [];
  }
}

/**
 * Whether two endpoints (as `storageOf` states them) may be one server under two names:
 * `http://localhost:9000` and `http://127.0.0.1:9000`, a host name and its address. The same
 * port and an address in common.
 */
export async function oneServer(a: string, b: string): Promise<boolean> {
  let x: URL;
  let y: URL;
  try {
    x = new URL(a);
    y = new URL(b);
  } catch {
    return false;
  }
  if (portOf(x) !== portOf(y) || x.pathname !== y.pathname) return false;
  const [ours, theirs] = await Promise.all([addressesOf(x.hostname), addressesOf(y.hostname)]);
  return ours.some((address) => theirs.includes(address));
}

/**
 * {@link sidesOverlap}, where two names of one server count as one storage too: a destination
 * reached as `localhost` and a source as `127.0.0.1` would otherwise pass, and `--delete` then
 * removed the source's own objects. Resolves names only where the buckets and prefixes already
 * overlap.
 */
export async function mayOverlap(a: SideLocation, b: SideLocation): Promise<boolean> {
  if (sidesOverlap(a, b)) return true;
  if (a.bucket !== b.bucket || !prefixesOverlap(a.prefix, b.prefix)) return false;
  if (a.storage.startsWith("aws:") || b.storage.startsWith("aws:")) return false;
  return oneServer(a.storage, b.storage);
}
