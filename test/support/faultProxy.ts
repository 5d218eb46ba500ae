import { createHash } from "node:crypto";
import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** What a rule does to a request that matches it. */
export type FaultAction =
  /** Waits `delayMs`, then forwards the request unchanged. */
  | "delay"
  /** Answers 503 SlowDown with S3's XML error body; the server never sees the request. */
  | "slowDown"
  /** Answers 500 InternalError with S3's XML error body. */
  | "internalError"
  /** Answers 403 AccessDenied with S3's XML error body. */
  | "forbidden"
  /**
   * Answers 400 InvalidRequest as AWS S3 answers a write without a Content-MD5 or x-amz-checksum
   * header into a bucket under Object Lock (select it with `when`, on the request's headers).
   */
  | "checksumRequired"
  /**
   * Answers 412 PreconditionFailed as a server that enforces a condition answers one that does
   * not hold (select it with `when`: a copy whose x-amz-copy-source-if-match is stale).
   */
  | "preconditionFailed"
  /**
   * Answers 501 NotImplemented as some S3-compatible servers answer a body sent in signed chunks
   * (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): select it with `when`, on the request's headers.
   */
  | "signedChunksNotImplemented"
  /**
   * Resets the connection mid-body: a request with a body is cut after half of it has
   * arrived (never forwarded); otherwise the response is cut after half of its body. A
   * `hook` runs first, where given (to hold the request until something has happened).
   */
  | "reset"
  /**
   * Forwards, then sends the response headers (full Content-Length) and half the body, and
   * closes; a body of unstated length (chunked: a listing) is cut after half its first piece.
   */
  | "truncate"
  /** Forwards, then resets the connection instead of answering: the server did the work, its answer is lost. */
  | "lose"
  /** Runs `hook` (which may write to the server itself), then forwards the request unchanged. */
  | "hook"
  /** Forwards, then runs `hook` once the server has answered, and only then relays the answer: the server did the work while its client still waits. */
  | "hold"
  /**
   * Forwards the request with one bit of its body inverted (the lowest bit of the byte at half
   * its length), headers untouched: corruption in flight that no length check can see.
   */
  | "flipBit";

/** The parts of a request a rule can select on. */
export interface SeenRequest {
  method: string;
  path: string;
  query: string;
  headers: IncomingMessage["headers"];
  /** 1-based position among every request the proxy received. */
  seq: number;
  /**
   * 1-based count of requests so far with this method, path, query and Range: the SDK's and
   * the engine's retries of one request share it, so a rule can fault only a first attempt.
   */
  attempt: number;
  /** A stable 0/1 split of requests by that identity, to alternate faults across requests. */
  parity: 0 | 1;
  /** `performance.now()` when the request arrived, and when its answer was sent (a bench's trace). */
  arrived: number;
  answered?: number;
}

export interface FaultRule {
  /** Shown in the counters. */
  name: string;
  action: FaultAction;
  method?: string;
  /** Substring of, or pattern over, the decoded path (`/bucket/key`). */
  path?: string | RegExp;
  /** Substring of, or pattern over, the raw query (`uploadId=`, `partNumber=`). */
  query?: string | RegExp;
  /** Only requests with a Range header (ranged GETs). */
  ranged?: boolean;
  /** Only requests with an x-amz-copy-source header (CopyObject, UploadPartCopy). */
  copy?: boolean;
  /** Any other selection. */
  when?: (r: SeenRequest) => boolean;
  /** Fires with this probability, drawn from the proxy's seeded generator. */
  probability?: number;
  /** Fires on every Nth matching request (the Nth, 2Nth, ...). */
  everyNth?: number;
  /** Stops after firing this many times; unlimited when absent ("faults never stop"). */
  times?: number;
  delayMs?: number;
  hook?: (r: SeenRequest) => Promise<void> | void;
}

export interface FaultProxyOptions {
  /** The real S3 endpoint, `http://127.0.0.1:PORT`. */
  upstream: string;
  rules?: FaultRule[];
  /** Seed of the generator behind `probability`: the same seed fires on the same requests. */
  seed?: number;
  /** Called for every request before any rule runs (to count, or to signal a test). */
  onRequest?: (r: SeenRequest) => void;
}

/** Small, seedable PRNG (mulberry32): the fault pattern of a run is reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What each refusing action answers: status, S3 error code and message. */
const REFUSALS = {
  slowDown: [503, "SlowDown", "Please reduce your request rate."],
  internalError: [500, "InternalError", "We encountered an internal error. Please try again."],
  forbidden: [403, "AccessDenied", "Access Denied"],
  preconditionFailed: [
    412,
    "PreconditionFailed",
    "At least one of the pre-conditions you specified did not hold",
  ],
  signedChunksNotImplemented: [501, "NotImplemented", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD not implemented"],
  checksumRequired: [
    400,
    "InvalidRequest",
    "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters",
  ],
} as const;

function matches(pattern: string | RegExp | undefined, text: string): boolean {
  if (pattern === undefined) return true;
  return typeof pattern === "string" ? text.includes(pattern) : pattern.test(text);
}

function s3Error(code: string, message: string, path: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><Resource>${path}</Resource><RequestId>fault-proxy</RequestId></Error>`;
}

/**
 * A fault-injecting HTTP forwarder on loopback, in front of one S3 endpoint. Clients
 * sign requests for the proxy's host, and the proxy forwards the Host header as is, so
 * SigV4 signatures still verify on the server. Rules are checked in order; the first
 * one that matches and fires decides the request's fate.
 */
export class FaultProxy {
  readonly #server: Server;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 128 });
  readonly #upstream: URL;
  readonly #random: () => number;
  readonly #sockets = new Set<Socket>();
  #rules: FaultRule[];
  #seq = 0;
  readonly #attempts = new Map<string, number>();
  /** Matching requests seen per rule name. */
  readonly matched = new Map<string, number>();
  /** Times each rule fired. */
  readonly fired = new Map<string, number>();
  /** Every request, in arrival order. */
  readonly seen: SeenRequest[] = [];
  onRequest: ((r: SeenRequest) => void) | undefined;
  url = "";

  private constructor(options: FaultProxyOptions) {
    this.#upstream = new URL(options.upstream);
    this.#rules = options.rules ?? [];
    this.#random = mulberry32(options.seed ?? 1);
    this.onRequest = options.onRequest;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch(() => {
        req.socket.destroy();
      });
    });
    this.#server.on("connection", (socket) => {
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
    });
  }

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options);
    await new Promise<void>((resolve) => proxy.#server.listen(0, "127.0.0.1", resolve));
    proxy.url = `http://127.0.0.1:${(proxy.#server.address() as AddressInfo).port}`;
    return proxy;
  }

  /** Replaces the rules; counters keep running. */
  setRules(rules: FaultRule[]): void {
    this.#rules = rules;
  }

  firedCount(name: string): number {
    return this.fired.get(name) ?? 0;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#agent.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #pick(seen: SeenRequest): FaultRule | undefined {
    for (const rule of this.#rules) {
      if (rule.method !== undefined && rule.method !== seen.method) continue;
      if (!matches(rule.path, seen.path) || !matches(rule.query, seen.query)) continue;
      if (rule.ranged !== undefined && rule.ranged !== (seen.headers.range !== undefined)) continue;
      const isCopy = seen.headers["x-amz-copy-source"] !== undefined;
      if (rule.copy !== undefined && rule.copy !== isCopy) continue;
      if (rule.when && !rule.when(seen)) continue;
      const n = (this.matched.get(rule.name) ?? 0) + 1;
      this.matched.set(rule.name, n);
      if (rule.times !== undefined && this.firedCount(rule.name) >= rule.times) continue;
      if (rule.everyNth !== undefined && n % rule.everyNth !== 0) continue;
      if (rule.probability !== undefined && this.#random() >= rule.probability) continue;
      this.fired.set(rule.name, this.firedCount(rule.name) + 1);
      return rule;
    }
    return undefined;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? "/";
    const q = raw.indexOf("?");
    const method = req.method ?? "GET";
    const path = safeDecode(q < 0 ? raw : raw.slice(0, q));
    const query = q < 0 ? "" : raw.slice(q + 1);
    const identity = `${method} ${path}?${query} ${req.headers.range ?? ""}`;
    const attempt = (this.#attempts.get(identity) ?? 0) + 1;
    this.#attempts.set(identity, attempt);
    const seen: SeenRequest = {
      method,
      path,
      query,
      headers: req.headers,
      seq: ++this.#seq,
      attempt,
      parity: (createHash("sha256").update(identity).digest()[0]! & 1) as 0 | 1,
      arrived: performance.now(),
    };
    res.on("finish", () => {
      seen.answered = performance.now();
    });
    this.seen.push(seen);
    this.onRequest?.(seen);
    const rule = this.#pick(seen);
    const hasBody =
      Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
    switch (rule?.action) {
      case "delay":
        await new Promise((r) => setTimeout(r, rule.delayMs ?? 100));
        break;
      case "hook":
        await rule.hook?.(seen);
        break;
      case "slowDown":
      case "internalError":
      case "forbidden":
      case "preconditionFailed":
      case "signedChunksNotImplemented":
      case "checksumRequired": {
        const [status, code, message] = REFUSALS[rule.action];
        const body = s3Error(code, message, seen.path);
        // Drain the request body so the connection stays usable, as a real server would.
        req.resume();
        await new Promise((r) => req.on("end", r));
        res.writeHead(status, {
          "content-type": "application/xml",
          "content-length": Buffer.byteLength(body),
        });
        res.end(body);
        return;
      }
      case "reset":
        await rule.hook?.(seen);
        if (hasBody) {
          const length = Number(req.headers["content-length"] ?? 0);
          let got = 0;
          req.on("data", (piece: Buffer) => {
            got += piece.length;
            if (got >= length / 2) req.socket.destroy();
          });
          req.on("end", () => req.socket.destroy());
          return;
        }
        break;
    }
    this.#forward(
      req,
      res,
      seen,
      rule?.action === "reset" || rule?.action === "truncate" || rule?.action === "lose"
        ? rule.action
        : undefined,
      rule?.action === "flipBit" && hasBody,
      rule?.action === "hold" ? rule.hook : undefined,
    );
  }

  #forward(
    req: IncomingMessage,
    res: ServerResponse,
    seen: SeenRequest,
    cut: "reset" | "truncate" | "lose" | undefined,
    flip = false,
    held?: FaultRule["hook"],
  ) {
    const upstream = request(
      {
        host: this.#upstream.hostname,
        port: this.#upstream.port,
        method: seen.method,
        path: req.url,
        headers: req.headers,
        agent: this.#agent,
      },
      (up) => {
        if (held === undefined) this.#relay(res, up, cut);
        else
          Promise.resolve(held(seen)).then(
            () => this.#relay(res, up, cut),
            () => res.socket?.destroy(),
          );
      },
    );
    upstream.on("error", () => res.socket?.destroy());
    if (!flip) {
      req.pipe(upstream);
      return;
    }
    const at = Math.floor(Number(req.headers["content-length"] ?? 0) / 2);
    let passed = 0;
    req.on("data", (piece: Buffer) => {
      if (at >= passed && at < passed + piece.length) {
        const altered = Buffer.from(piece);
        altered[at - passed]! ^= 1;
        piece = altered;
      }
      passed += piece.length;
      upstream.write(piece);
    });
    req.on("end", () => upstream.end());
  }

  /** Relays the server's answer `up` to the client, cut as `cut` says. */
  #relay(res: ServerResponse, up: IncomingMessage, cut: "reset" | "truncate" | "lose" | undefined): void {
    if (cut === "lose") {
      up.resume();
      up.on("end", () => res.socket?.resetAndDestroy());
      return;
    }
    const stated = up.headers["content-length"];
    const length = Number(stated ?? 0);
    res.writeHead(up.statusCode ?? 502, up.headers);
    if (cut === undefined || (stated !== undefined && length === 0)) {
      up.pipe(res);
      return;
    }
    // Half the declared body (of one of unstated length, half its first piece), then the
    // connection goes: reset (RST) or a clean close.
    let sent = 0;
    let half = length / 2;
    up.on("data", (piece: Buffer) => {
      if (stated === undefined && sent === 0) half = Math.max(1, piece.length / 2);
      if (sent >= half) return;
      const take = piece.subarray(0, Math.max(0, Math.ceil(half) - sent));
      sent += take.length;
      res.write(take);
      if (sent >= half) {
        up.destroy();
        if (cut === "reset") res.socket?.resetAndDestroy();
        else res.socket?.end();
      }
    });
  }
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
