/**
 * The AWS SDK's S3 client of a connection: loaded only when a request needs it (see S3Connection).
 */
import * as s3 from "@aws-sdk/client-s3";
import { fromIni, fromNodeProviderChain } from "@aws-sdk/credential-providers";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { Logger } from "@smithy/types";
import type { S3Connection } from "./S3Connection.js";
import { noteServerDate } from "./serverClock.js";

export { s3 };

/** Notes the Date header of every response the client receives, errors included, as the connection's server clock. */
function noteServerDates(client: s3.S3Client, connection: S3Connection): void {
  const noteResponse = (response: unknown) =>
    noteServerDate(connection, (response as { headers?: Record<string, string> } | undefined)?.headers?.date);
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        const out = await next(args);
        noteResponse(out.response);
        return out;
      } catch (error) {
        noteResponse((error as { $response?: unknown }).$response);
        throw error;
      }
    },
    { step: "deserialize", name: "chunksyncServerClock" },
  );
}

/**
 * The SDK's own log lines: its HTTP handler writes to `console` unless given a logger (a
 * socket-queue notice when more requests wait than sockets exist, which a run's concurrency
 * does by design). Failures reach the caller as errors; nothing else belongs on a terminal.
 */
const silent: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/**
 * Builds the S3 client of a connection, with the settings S3-compatible servers need
 * (path-style addressing, checksums only when the API requires them), the connection's
 * credentials and its retry strategy.
 */
export function buildS3Client(connection: S3Connection): s3.S3Client {
  const { endpoint, transport, staticCredentials, profile } = connection;
  const client = new s3.S3Client({
    region: connection.region,
    // No client logger: the SDK's default NoOpLogger is the one it recognises and skips. Any
    // other logger, even one that drops every line, makes it redact each request's input and
    // output for the log first (a walk over the operation's schema on every request).
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    // Static keys are the ones the SDK would find itself; any other source is its own: the
    // default chain given the silent logger, whose "multiple credential sources" block (both
    // AWS_PROFILE and keys in the environment) the CLI says in one line of its own.
    credentials:
      staticCredentials ?? (profile ? fromIni({ profile }) : fromNodeProviderChain({ logger: silent })),
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: connection.maxAttempts,
    retryMode: "standard",
    retryStrategy: connection.retry,
    // Every request of the store is sent without options: the chain is built once per command.
    cacheMiddleware: true,
    requestHandler: new NodeHttpHandler({
      logger: silent,
      connectionTimeout: transport.connectionTimeoutMs,
      // An idle socket fails the attempt. (`requestTimeout` is a whole-request budget here that
      // only logs a warning unless told to throw, so a stalled request would otherwise hang.)
      socketTimeout: transport.socketTimeoutMs,
      httpAgent: { keepAlive: true, maxSockets: transport.maxSockets },
      httpsAgent: { keepAlive: true, maxSockets: transport.maxSockets },
    }),
  });
  // SigV4 need not hash a body whose integrity is checked otherwise: the server validates the
  // Content-MD5 every put and part carries (the adapter sets it), and the challenge verifies
  // written objects end to end. Over plain http the SDK would otherwise read a streamed body
  // once just to sign it, and hash every Buffer body (SHA-256) on top of its MD5.
  noteServerDates(client, connection);
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
