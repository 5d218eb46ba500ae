import { S3Client } from "@aws-sdk/client-s3";
import { fromIni } from "@aws-sdk/credential-providers";
import type { HttpRequest } from "@smithy/core/protocols";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { AwsCredentialIdentity, HttpHandlerOptions, Logger } from "@smithy/types";
import { ProfileNotFoundError } from "./errors.js";
import { setTransportSettings, type TransportSettings } from "./S3Requests.js";
import { loadSharedConfig } from "./sharedConfig.js";

/**
 * The signal of the request `withSignal` is sending, until the first middleware takes it: the
 * SDK runs that middleware synchronously inside `send`, so no other request can come between.
 */
let pendingSignal: AbortSignal | undefined;
/**
 * Each request's signal: on its input under a symbol (which the SDK's copies of the input
 * keep, and its serializers ignore), then by its HTTP request.
 */
const SIGNAL = Symbol("chunksync.abortSignal");
const requestSignals = new WeakMap<object, AbortSignal>();

/**
 * Sends a request whose HTTP exchange `signal` aborts. The signal travels beside the SDK's
 * `send`, not as its options: a `send` with options resolves the whole middleware chain anew
 * (about 0.1-0.2 ms of CPU a request), one without reuses the chain the client cached. (An
 * AsyncLocalStorage would carry it too, but on Node 20 it turns on promise hooks, which cost
 * every promise of the process more than the chain saves.) Only a client made by
 * {@link createS3Client} takes the signal.
 */
export function withSignal<T>(signal: AbortSignal | undefined, send: () => Promise<T>): Promise<T> {
  if (signal === undefined) return send();
  pendingSignal = signal;
  try {
    return send();
  } finally {
    pendingSignal = undefined;
  }
}

/** Node's HTTP handler, aborted by the signal {@link withSignal} gave the request. */
class SignalledHttpHandler extends NodeHttpHandler {
  override handle(request: HttpRequest, options: HttpHandlerOptions = {}) {
    const abortSignal = options.abortSignal ?? requestSignals.get(request);
    return super.handle(request, abortSignal ? { ...options, abortSignal } : options);
  }
}

/** Carries the signal `withSignal` set from the request's input to its final HTTP request. */
function carrySignals(client: S3Client): void {
  client.middlewareStack.add(
    (next) => (args) => {
      if (pendingSignal !== undefined) {
        (args.input as { [SIGNAL]?: AbortSignal })[SIGNAL] = pendingSignal;
        pendingSignal = undefined;
      }
      return next(args);
    },
    { step: "initialize", priority: "high", name: "chunksyncTakeSignal" },
  );
  client.middlewareStack.add(
    (next) => (args) => {
      const signal = (args.input as { [SIGNAL]?: AbortSignal })[SIGNAL];
      if (signal) requestSignals.set(args.request as object, signal);
      return next(args);
    },
    { step: "deserialize", priority: "low", name: "chunksyncRequestSignal" },
  );
}

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
}

/**
 * Resolved once per profile: the SDK itself does not apply a named profile's `endpoint_url`.
 * A profile in neither shared file fails here, before any request (the SDK would only say,
 * at the first request, that no credentials could be loaded).
 */
async function profileSettings(profile: string): Promise<{ endpoint?: string; region?: string }> {
  const { configFile, credentialsFile, files } = await loadSharedConfig();
  const section = configFile[profile];
  if (section === undefined) {
    if (credentialsFile[profile] !== undefined) return {};
    const known = new Set([...Object.keys(configFile), ...Object.keys(credentialsFile)]);
    // Sections such as [services x] or [sso-session x] are keyed "services.x": not profiles.
    throw new ProfileNotFoundError(profile, files, [...known].filter((name) => !name.includes(".")).sort());
  }
  const out: { endpoint?: string; region?: string } = {};
  const servicesName = section.services;
  const services = servicesName ? configFile[`services.${servicesName}`] : undefined;
  const endpoint = services?.["s3.endpoint_url"] ?? section.endpoint_url;
  if (endpoint) out.endpoint = endpoint;
  if (section.region) out.region = section.region;
  return out;
}

/**
 * The SDK's own log lines: its HTTP handler writes to `console` unless given a logger (a
 * socket-queue notice when more requests wait than sockets exist, which a run's concurrency
 * does by design). Failures reach the caller as errors; nothing else belongs on a terminal.
 */
const silent: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/**
 * Builds the S3 client of one side, with the settings S3-compatible servers need
 * (path-style addressing, checksums only when the API requires them).
 */
export async function createS3Client(settings: S3ClientSettings = {}): Promise<S3Client> {
  const fromProfile = settings.profile ? await profileSettings(settings.profile) : {};
  const endpoint = settings.endpoint ?? fromProfile.endpoint;
  const region = settings.region ?? fromProfile.region ?? process.env.AWS_REGION ?? "us-east-1";
  const transport: TransportSettings = {
    connectionTimeoutMs: 5_000,
    socketTimeoutMs: settings.socketTimeoutMs ?? 30_000,
    maxSockets: 64,
  };
  const client = new S3Client({
    region,
    // No client logger: the SDK's default NoOpLogger is the one it recognises and skips. Any
    // other logger, even one that drops every line, makes it redact each request's input and
    // output for the log first (a walk over the operation's schema on every request).
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    ...(settings.credentials
      ? { credentials: settings.credentials }
      : settings.profile
        ? { credentials: fromIni({ profile: settings.profile }) }
        : {}),
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: settings.maxAttempts ?? 6,
    retryMode: "standard",
    // Every request of the store is sent without options (see withSignal): the chain is built once per command.
    cacheMiddleware: true,
    requestHandler: new SignalledHttpHandler({
      logger: silent,
      connectionTimeout: transport.connectionTimeoutMs,
      // An idle socket fails the attempt. (`requestTimeout` is a whole-request budget here that
      // only logs a warning unless told to throw, so a stalled request would otherwise hang.)
      socketTimeout: transport.socketTimeoutMs,
      httpAgent: { keepAlive: true, maxSockets: transport.maxSockets },
      httpsAgent: { keepAlive: true, maxSockets: transport.maxSockets },
    }),
  });
  // The object requests S3ObjectStore sends itself (S3Requests) use the same limits.
  setTransportSettings(client, transport);
  // SigV4 need not hash a body whose integrity is checked otherwise: the server validates the
  // Content-MD5 every put and part carries (the adapter sets it), and the challenge verifies
  // written objects end to end. Over plain http the SDK would otherwise read a streamed body
  // once just to sign it, and hash every Buffer body (SHA-256) on top of its MD5.
  carrySignals(client);
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      const headers = request.headers;
      if (headers && request.body && typeof request.body === "object") {
        const streamed = "pipe" in request.body;
        if (streamed || Object.keys(headers).some((name) => name.toLowerCase() === "content-md5"))
          headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
      }
      return next(args);
    },
    { step: "build", name: "chunksyncUnsignedPayload" },
  );
  return client;
}
