import type { S3Client } from "@aws-sdk/client-s3";
import {
  loadConfig,
  NODE_USE_DUALSTACK_ENDPOINT_CONFIG_OPTIONS,
  NODE_USE_FIPS_ENDPOINT_CONFIG_OPTIONS,
} from "@smithy/core/config";
import { Retry, StandardRetryStrategy } from "@smithy/core/retry";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, RetryStrategyV2 } from "@smithy/types";
import { staticCredentials } from "./credentials.js";
import { ProfileNotFoundError } from "./errors.js";
import { PlainGets } from "./PlainGets.js";
import { loadSharedConfig } from "./sharedConfig.js";
import type { Pool } from "./undiciPool.js";

/** How to reach one side's storage; every field is optional and falls back to the AWS defaults. */
export interface S3ClientSettings {
  endpoint?: string;
  region?: string;
  /** Shared config/credentials profile; its `endpoint_url` is honoured as the AWS CLI does. */
  profile?: string;
  credentials?: AwsCredentialIdentity;
  /** Attempts per request, first try included (SDK standard retry with backoff and jitter). */
  maxAttempts?: number;
  /** Milliseconds a socket may sit idle mid-request before the attempt fails and is retried. */
  socketTimeoutMs?: number;
  /**
   * Whether GETs over plain HTTP are read from the socket straight into their buffers (see
   * PlainGets; the default); false sends them through undici's Pool, as over HTTPS.
   */
  plainGets?: boolean;
}

/** How requests reach the server, on both paths (the SDK's HTTP handler and undici's Pool). */
export interface TransportSettings {
  connectionTimeoutMs: number;
  /** Milliseconds a socket may sit idle mid-request before the attempt fails and is retried. */
  socketTimeoutMs: number;
  maxSockets: number;
}

/** The SDK's client, and its module (its commands), once loaded. */
export interface Sdk {
  client: S3Client;
  s3: typeof import("@aws-sdk/client-s3");
}

/**
 * Resolved once per profile: the SDK itself does not apply a named profile's `endpoint_url`.
 * A profile in neither shared file fails here, before any request (the SDK would only say,
 * at the first request, that no credentials could be loaded).
 */
async function profileSettings(
  profile: string,
  from: ProfileSource = "flag",
): Promise<{ endpoint?: string; region?: string }> {
  const { configFile, credentialsFile, files } = await loadSharedConfig();
  const section = configFile[profile];
  if (section === undefined) {
    // The default profile need not exist: the SDK's chain then looks elsewhere.
    if (credentialsFile[profile] !== undefined || from === "default") return {};
    const known = new Set([...Object.keys(configFile), ...Object.keys(credentialsFile)]);
    // Sections such as [services x] or [sso-session x] are keyed "services.x": not profiles. A
    // profile's own name may hold a dot ([profile prod.eu]).
    const names = [...known].filter((name) => !/^(services|sso-session)\./.test(name)).sort();
    throw new ProfileNotFoundError(profile, files, names, from === "AWS_PROFILE");
  }
  const out: { endpoint?: string; region?: string } = {};
  const servicesName = section.services;
  const services = servicesName ? configFile[`services.${servicesName}`] : undefined;
  const endpoint = services?.["s3.endpoint_url"] ?? section.endpoint_url;
  if (endpoint) out.endpoint = endpoint;
  if (section.region) out.region = section.region;
  return out;
}

/** How a side's profile was chosen: named by flag, by AWS_PROFILE, or the default one. */
type ProfileSource = "flag" | "AWS_PROFILE" | "default";

/** An endpoint set outside the flags, and what set it (for an error that names it). */
export interface ConfiguredEndpoint {
  url: string;
  /** `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, or `profile "NAME"`. */
  from: string;
}

/**
 * The endpoint configured for S3 as the AWS CLI and SDK take it: AWS_ENDPOINT_URL_S3, else
 * AWS_ENDPOINT_URL, else the profile's (`fromProfile`, of `profile`); none at all with
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true.
 */
function configuredEndpoint(
  fromProfile: string | undefined,
  profile: string,
): ConfiguredEndpoint | undefined {
  const env = process.env;
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.toLowerCase() === "true") return undefined;
  if (env.AWS_ENDPOINT_URL_S3) return { url: env.AWS_ENDPOINT_URL_S3, from: "AWS_ENDPOINT_URL_S3" };
  if (env.AWS_ENDPOINT_URL) return { url: env.AWS_ENDPOINT_URL, from: "AWS_ENDPOINT_URL" };
  return fromProfile ? { url: fromProfile, from: `profile "${profile}"` } : undefined;
}

/**
 * One side's connection to S3: region, endpoint, credentials, retry strategy, transport and
 * the server's clock, shared by the requests sent here (S3Requests: object reads and writes,
 * listings, multipart uploads, copies) and by the AWS SDK's client, which is loaded and built
 * only when a request needs it (deletes, tagging), when the credentials come from a source
 * other than static keys, or when the bucket's endpoint is AWS's own. A run that lists, reads,
 * writes and composes objects on a path-style endpoint with static keys never loads it.
 */
export class S3Connection {
  readonly maxAttempts: number;
  readonly transport: TransportSettings;
  /** The SDK's standard strategy, shared by both paths: their retries draw on one quota. */
  readonly retry: RetryStrategyV2;
  /** The latest Date header the server sent, in ms since the epoch (see serverClock). */
  serverDate: number | undefined;
  #sdk: Promise<Sdk> | undefined;
  #client: S3Client | undefined;
  #pools = new Map<string, Pool>();
  #plainGets = new Map<string, PlainGets>();
  #credentials: AwsCredentialIdentityProvider;
  readonly #plainGetsOn: boolean;
  readonly #cut = new AbortController();

  private constructor(
    readonly region: string,
    /** The endpoint given by flag, variable or profile (see {@link configured}); path-style addressing with it. */
    readonly endpoint: string | undefined,
    /** Static keys found as the SDK would find them; undefined leaves credentials to the SDK. */
    readonly staticCredentials: AwsCredentialIdentity | undefined,
    /** The profile whose credentials the SDK is to load (`fromIni`), when it loads them. */
    readonly profile: string | undefined,
    settings: S3ClientSettings,
  ) {
    this.maxAttempts = settings.maxAttempts ?? 6;
    this.#plainGetsOn = settings.plainGets ?? true;
    this.transport = {
      connectionTimeoutMs: 5_000,
      socketTimeoutMs: settings.socketTimeoutMs ?? 30_000,
      maxSockets: 64,
    };
    // As the SDK's client builds it for retryMode "standard" (resolveRetryConfig).
    this.retry = new StandardRetryStrategy({ maxAttempts: this.maxAttempts, baseDelay: Retry.delay() });
    const keys = staticCredentials;
    this.#credentials = keys ? async () => keys : () => this.#fromProvider();
  }

  /**
   * The SDK's provider's credentials. Its failures are said as credentials not found, whatever
   * failed below it (STS out of reach for a role, a web identity's token file missing): they are
   * not the storage's, and a retry of the request would not mend them.
   */
  async #fromProvider(): Promise<AwsCredentialIdentity> {
    const { client } = await this.sdk();
    try {
      return await client.config.credentials();
    } catch (error) {
      if ((error as Error).name === "CredentialsProviderError") throw error;
      throw Object.assign(new Error(`the credentials could not be obtained: ${(error as Error).message}`), {
        name: "CredentialsProviderError",
        cause: error,
      });
    }
  }

  /**
   * Resolves one side's settings: its profile's endpoint and region, and static keys where there
   * are. The profile is the one named, else AWS_PROFILE's, else the default one, as the SDK reads
   * them; the region the flag's, else a named profile's, else AWS_REGION, else that of the profile
   * AWS_PROFILE names or the default one, else us-east-1. The endpoint configured outside the
   * flags (see {@link configuredEndpoint}) is the AWS CLI's: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL,
   * then the profile's.
   */
  static async open(settings: S3ClientSettings = {}): Promise<S3Connection> {
    const ambient = process.env.AWS_PROFILE || undefined;
    const profile = settings.profile ?? ambient ?? "default";
    const fromProfile = await profileSettings(
      profile,
      settings.profile ? "flag" : ambient ? "AWS_PROFILE" : "default",
    );
    const configured = configuredEndpoint(fromProfile.endpoint, profile);
    // However it was set, an endpoint is addressed path-style, as one given by flag: a host name
    // (http://minio:9000) takes no bucket in front of it.
    const endpoint = settings.endpoint ?? configured?.url;
    // The first region set, in the SDK's order; a named profile's comes before AWS_REGION (empty is none).
    const regions: [string | undefined, string][] = [
      [settings.region, "flag"],
      [settings.profile ? fromProfile.region : undefined, `profile "${profile}"`],
      [process.env.AWS_REGION || undefined, "AWS_REGION"],
      [fromProfile.region, `profile "${profile}"`],
    ];
    const [region, regionFrom] = (regions.find(([value]) => value !== undefined) as
      | [string, string]
      | undefined) ?? ["us-east-1", "default"];
    const keys = settings.credentials ?? (await staticCredentials(settings.profile));
    const connection = new S3Connection(region, endpoint, keys, settings.profile, settings);
    if (configured !== undefined) connection.configured = configured;
    connection.regionFrom = regionFrom;
    return connection;
  }

  /** Where the region came from: `flag`, `AWS_REGION`, `profile "NAME"`, or `default` (us-east-1). */
  regionFrom = "default";

  /** The endpoint set outside the flags, and where: a variable, or a profile's endpoint_url. */
  configured?: ConfiguredEndpoint;

  /**
   * Stops waiting for this side's storage: every request in flight is cut (its socket closed),
   * and no request is sent or tried again from then on (each fails at once with the reason). For the end of a stopped run, whose last requests (aborting its uploads,
   * completing a write) would otherwise wait through every timeout and retry of a server that
   * no longer answers.
   */
  cutOff(reason: Error): void {
    this.#cut.abort(reason);
    // Its sockets closed rather than a signal given to every request: a signal costs each
    // request an abort listener, about 20 µs of CPU a small object's write.
    for (const pool of this.#pools.values()) void pool.destroy(reason).catch(() => {});
    for (const gets of this.#plainGets.values()) gets.cut(reason);
  }

  /** Aborted once {@link cutOff} was called: no request is sent or tried again. */
  get cut(): AbortSignal {
    return this.#cut.signal;
  }

  /** The credentials to sign with: the static keys, or the SDK client's provider (which caches and refreshes). */
  credentials(): Promise<AwsCredentialIdentity> {
    return this.#credentials();
  }

  /** The SDK's client with this connection's settings, built at the first call. */
  sdk(): Promise<Sdk> {
    this.#sdk ??= import("./createS3Client.js").then(({ buildS3Client, s3 }) => {
      const client = buildS3Client(this);
      this.#client = client;
      return { client, s3 };
    });
    return this.#sdk;
  }

  /** The clock correction the SDK's client learned from a skewed request, if it exists yet. */
  clockOffset(): number {
    return this.#client?.config.systemClockOffset ?? 0;
  }

  /**
   * The endpoint requests go to: the connection's own, else AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL
   * or the default profile's endpoint_url as the SDK's client applies them; undefined for AWS's own.
   */
  async endpointUrl(): Promise<string | undefined> {
    if (this.endpoint === undefined) {
      const { resolveEndpointConfig } = await import("@smithy/core/endpoints");
      // Only serviceConfiguredEndpoint is read: it needs no more of a client's config than its service.
      const config = resolveEndpointConfig({ serviceId: "S3" } as never) as {
        serviceConfiguredEndpoint?: () => Promise<string | undefined>;
      };
      return config.serviceConfiguredEndpoint?.();
    }
    const url = new URL(this.endpoint);
    return `${url.protocol}//${url.hostname}${url.port ? `:${url.port}` : ""}${url.pathname}`;
  }

  /** Whether the SDK would use FIPS or dual-stack endpoints (AWS_USE_FIPS_ENDPOINT, use_fips_endpoint, ...). */
  async variantEndpoints(): Promise<boolean> {
    // Read as the SDK's client reads them: with its own (unset) profile, not the side's.
    const [fips, dualStack] = await Promise.all([
      loadConfig(NODE_USE_FIPS_ENDPOINT_CONFIG_OPTIONS, {})(),
      loadConfig(NODE_USE_DUALSTACK_ENDPOINT_CONFIG_OPTIONS, {})(),
    ]);
    return fips || dualStack;
  }

  /** Closes the connection's sockets (both paths'); requests after this fail. */
  destroy(): void {
    for (const pool of this.#pools.values()) void pool.destroy();
    for (const gets of this.#plainGets.values()) gets.destroy();
    this.#client?.destroy();
  }

  /**
   * The plain-HTTP GETs to `url`'s origin (see PlainGets), shared as {@link pool} is; none for
   * an HTTPS origin, whose bodies come through the Pool.
   */
  plainGets(url: Pick<URL, "protocol" | "hostname" | "port" | "origin">): PlainGets | undefined {
    if (url.protocol !== "http:" || !this.#plainGetsOn) return undefined;
    let gets = this.#plainGets.get(url.origin);
    if (gets === undefined) {
      gets = new PlainGets(url.hostname.replace(/^\[|\]$/g, ""), Number(url.port || 80), this.transport);
      this.#plainGets.set(url.origin, gets);
    }
    return gets;
  }

  /**
   * The connections to `origin`, one pool per connection and origin: every store on it shares
   * them. undici loads with the first: a run whose requests are all GETs over plain HTTP (see
   * PlainGets), a no-change run or a `check` from the indexes, never loads it.
   */
  async pool(origin: string): Promise<Pool> {
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      const { Pool } = await import("./undiciPool.js");
      // Another request may have made it meanwhile.
      const made = this.#pools.get(origin);
      if (made !== undefined) return made;
      const t = this.transport;
      pool = new Pool(origin, {
        connections: t.maxSockets,
        connect: { timeout: t.connectionTimeoutMs },
        // Both are idle times (awaiting the response head; between body chunks), as Node's socket timeout is.
        headersTimeout: t.socketTimeoutMs,
        bodyTimeout: t.socketTimeoutMs,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }
}

/** The SDK's S3 client of a side, with the settings S3-compatible servers need (see {@link S3Connection}). */
export async function createS3Client(settings: S3ClientSettings = {}): Promise<S3Client> {
  return (await (await S3Connection.open(settings)).sdk()).client;
}
