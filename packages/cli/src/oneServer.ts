import { lookup } from "node:dns/promises";
import { BlockList } from "node:net";
import { networkInterfaces } from "node:os";
import { prefixesOverlap, type SideLocation, sidesOverlap } from "@chunksync/core";

/** An endpoint's port, stated or its scheme's. */
function portOf(url: URL): string {
  return url.port || (url.protocol === "https:" ? "443" : "80");
}

type Address = { address: string; family: number };

/**
 * Every address `host` resolves to; none where it does not resolve (the run's first request then
 * says why). A name's trailing dot (`localhost.`, the same host fully qualified) is dropped: a
 * resolver that does not take it would leave two names of one server apart.
 */
async function addressesOf(host: string): Promise<Address[]> {
  try {
    return await lookup(host.replace(/^\[|\]$/g, "").replace(/(?<=.)\.$/, ""), { all: true });
  } catch {
    return [];
  }
}

/** `addresses` as a list to check others against: IPv4 ones also match their IPv4-mapped IPv6 forms. */
function listOf(addresses: Address[]): BlockList {
  const list = new BlockList();
  for (const { address, family } of addresses) list.addAddress(address, family === 6 ? "ipv6" : "ipv4");
  return list;
}

/**
 * This machine's addresses: loopback, the unspecified ones (`0.0.0.0` and `::` reach a server
 * listening on every interface) and each interface's own. Two endpoints that both reach this
 * machine on one port reach one server: a port is served once per machine, bar servers bound
 * to different addresses of it, which are rare enough to be refused with the rest.
 */
function thisMachine(): BlockList {
  const list = listOf(
    Object.values(networkInterfaces())
      .flat()
      .filter((i) => i !== undefined)
      .map((i) => ({ address: i.address.replace(/%.*$/, ""), family: i.family === "IPv6" ? 6 : 4 })),
  );
  list.addSubnet("127.0.0.0", 8, "ipv4");
  list.addAddress("0.0.0.0", "ipv4");
  list.addAddress("::", "ipv6");
  list.addAddress("::1", "ipv6");
  return list;
}

const holds = (list: BlockList, { address, family }: Address) =>
  list.check(address, family === 6 ? "ipv6" : "ipv4");

/**
 * Whether two endpoints (as `storageOf` states them) may be one server under two names: a host
 * name and its address (`localhost`, `127.0.0.1`), an IPv4 address and its IPv6-mapped form,
 * or two addresses of this machine (`0.0.0.0` and `127.0.0.1`, or its own interface's address).
 * The same port and path, and an address in common or both on this machine.
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
  const named = listOf(ours);
  if (theirs.some((address) => holds(named, address))) return true;
  const local = thisMachine();
  return ours.some((address) => holds(local, address)) && theirs.some((address) => holds(local, address));
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
