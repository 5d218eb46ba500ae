import { FaultProxy } from "../../test/support/faultProxy.js";

/**
 * A proxy before the S3 server at `upstream` that holds every request `latencyMs` before
 * forwarding it, for every tool alike: a remote store's round trip, so that a chain of dependent
 * requests costs what it would there, whatever the local load. It relays the bytes on the same
 * cores, so figures through it compare only with each other. Undefined for no latency, unless
 * `always` (a bench that traces the requests through it).
 */
export async function latencyProxy(
  upstream: string,
  latencyMs: number,
  always = false,
): Promise<FaultProxy | undefined> {
  if (!(latencyMs > 0) && !always) return undefined;
  return FaultProxy.start({
    upstream,
    rules: latencyMs > 0 ? [{ name: "latency", action: "delay", delayMs: latencyMs }] : [],
  });
}
