import net from "node:net";
import { type BodySink, land, overlong } from "./bodySink.js";
import { NOT_S3, notS3Answer } from "./errors.js";

/** A response's status and headers (names lower case); `body` settles once the whole body has landed. */
export interface PlainAnswer {
  status: number;
  headers: Record<string, string>;
  /** The body as text where the status is not 2xx (an S3 error document); empty otherwise. */
  text: string;
  /** Settles with the number of body bytes that landed. */
  body: Promise<number>;
}

/** How a connection is made and how long it may sit idle mid-request (see TransportSettings). */
export interface PlainGetsSettings {
  connectionTimeoutMs: number;
  socketTimeoutMs: number;
  maxSockets: number;
}

/** A connection's failure, with the code `isBrokenConnection` knows (ECONNRESET, ETIMEDOUT, ...). */
function broken(message: string, code: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

function aborted(): Error {
  return Object.assign(new Error("This operation was aborted"), { name: "AbortError", code: "ABORT_ERR" });
}

/** What every HTTP/1 response's status line begins with. */
const HTTP_VERSION = "HTTP/";

/** Room for a response's head, and the reads of a body that does not land in an `into`. */
const SCRATCH_BYTES = 256 * 1024;
/** An error document is held whole, as text: at most this much. */
const MAX_ERROR_TEXT = 1024 * 1024;

/** Where a chunked body's decoder stands (RFC 9112, 7.1): in a size line, a chunk's data, its CRLF, or the trailer. */
interface Dechunking {
  state: "size" | "data" | "crlf" | "trailer";
  line: string;
  left: number;
}

/** One response being received: its head, then its body, framed by its length, by chunks, or by the connection's close. */
interface Exchange {
  sink: BodySink;
  signal: AbortSignal | undefined;
  onAbort: () => void;
  head: { resolve(answer: PlainAnswer): void; reject(error: Error): void };
  body?: { resolve(landed: number): void; reject(error: Error): void };
  status: number;
  headers: Record<string, string>;
  framing: "head" | "length" | "chunked" | "close";
  /** Body bytes still due, where framed by its length. */
  remaining: number;
  landed: number;
  chunked: Dechunking;
  /** An error document's bytes. */
  text: Buffer[];
  textBytes: number;
  keepAlive: boolean;
  /** The room (see `BodySink.room`) the socket's next read lands in, where the sink has rooms. */
  reading?: Buffer;
  /** Bytes that wait for the sink's room, the socket paused until they landed; and what else waits for them. */
  waiting?: Promise<void>;
  /** Body bytes read while earlier ones waited for room, handled once those landed (a chunked body's rest). */
  pending?: Buffer;
  /** The body ended while bytes waited for room: complete once they landed. */
  ended?: boolean;
}

/** One keep-alive connection; reads go into the buffer its current exchange wants (see `onread`). */
class Connection {
  readonly socket: net.Socket;
  readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  /** Bytes of a head received so far, at the start of `scratch`. */
  headBytes = 0;
  exchange: Exchange | undefined;
  used = false;
  /** Whether any byte of the current exchange's answer came: a reused connection that failed before may be tried again. */
  responded = false;

  constructor(
    host: string,
    port: number,
    private readonly pool: PlainGets,
  ) {
    this.socket = net.connect({
      host,
      port,
      noDelay: true,
      keepAlive: true,
      onread: {
        buffer: () => this.#nextBuffer(),
        callback: (n: number) => {
          this.#received(n);
          return true;
        },
      },
    });
    this.socket.on("error", (error) => this.#fail(error));
    this.socket.on("timeout", () =>
      this.socket.destroy(broken("the connection sat idle past its timeout", "ETIMEDOUT")),
    );
    this.socket.on("end", () => this.#ended());
    this.socket.on("close", () => {
      this.#ended();
      this.#fail(broken("the server closed the connection", "ECONNRESET"));
      this.pool.forget(this);
    });
  }

  /** Where the next read lands: straight into the sink's buffer while a 2xx body of known length is due. */
  #nextBuffer(): Buffer {
    const x = this.exchange;
    if (x) x.reading = undefined;
    if (x?.framing === "length" && x.remaining > 0) {
      if (x.status < 300 && x.sink.into) return x.sink.into.subarray(x.landed, x.landed + x.remaining);
      const room = x.status < 300 && x.waiting === undefined ? x.sink.room?.(x.landed) : undefined;
      if (Buffer.isBuffer(room) && room.length > 0) {
        x.reading = room.subarray(0, Math.min(room.length, x.remaining));
        return x.reading;
      }
      return this.scratch.subarray(0, Math.min(SCRATCH_BYTES, x.remaining));
    }
    if (x?.framing === "head") {
      if (this.headBytes === SCRATCH_BYTES) {
        this.socket.destroy(broken("the response's head is larger than 256 KiB", "ECONNRESET"));
        return this.scratch;
      }
      return this.scratch.subarray(this.headBytes);
    }
    return this.scratch;
  }

  #received(n: number): void {
    const x = this.exchange;
    if (x === undefined) {
      // Bytes nobody asked for: the connection no longer frames responses as expected.
      this.socket.destroy();
      return;
    }
    this.responded = true;
    if (x.framing === "head") {
      this.headBytes += n;
      this.#parseHead(x, n);
      return;
    }
    const into = x.framing === "length" && x.status < 300 ? x.sink.into : undefined;
    const read = into ? into.subarray(x.landed, x.landed + n) : (x.reading ?? this.scratch).subarray(0, n);
    x.reading = undefined;
    this.#body(x, read);
  }

  #parseHead(x: Exchange, n: number): void {
    // A service that speaks no HTTP on the port (an SSH banner) is said at once: its first
    // line, ended by one CRLF, would otherwise wait out the idle timeout of every attempt.
    const seen = Math.min(this.headBytes, HTTP_VERSION.length);
    if (this.scratch.toString("latin1", 0, seen) !== HTTP_VERSION.slice(0, seen)) {
      const first = this.scratch.toString("latin1", 0, Math.min(this.headBytes, 200)).split(/\r?\n/)[0] ?? "";
      const what = notS3Answer("the endpoint answered in something other than HTTP", first);
      this.socket.destroy(Object.assign(new Error(what), { name: NOT_S3 }));
      return;
    }
    const from = Math.max(0, this.headBytes - n - 3);
    const end = this.scratch.subarray(0, this.headBytes).indexOf("\r\n\r\n", from, "latin1");
    if (end < 0) return;
    const lines = this.scratch.toString("latin1", 0, end).split("\r\n");
    const status = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? "");
    if (status === null) {
      this.socket.destroy(broken(`the server answered with no HTTP status line (${lines[0]})`, "ECONNRESET"));
      return;
    }
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const rest = Buffer.from(this.scratch.subarray(end + 4, this.headBytes));
    this.headBytes = 0;
    const code = Number(status[2]);
    if (code < 200) {
      // An interim answer (100 Continue): the final head follows.
      rest.copy(this.scratch);
      if (rest.length > 0) this.#received(rest.length);
      return;
    }
    const connection = (headers.connection ?? "").toLowerCase();
    x.keepAlive = status[1] === "1" ? !connection.includes("close") : connection.includes("keep-alive");
    x.status = code;
    x.headers = headers;
    const length = headers["content-length"];
    if (/chunked/i.test(headers["transfer-encoding"] ?? "")) x.framing = "chunked";
    else if (length !== undefined && /^\d+$/.test(length)) {
      x.framing = "length";
      x.remaining = Number(length);
    } else {
      x.framing = "close";
      x.keepAlive = false;
    }
    const into = code < 300 ? x.sink.into : undefined;
    if (into && x.framing === "length" && x.remaining > into.length) {
      this.socket.destroy(overlong(x.remaining, into.length));
      return;
    }
    // A 2xx answer is handed over at once, its body to follow; an error once its document came.
    if (code < 300) this.#answer(x, "");
    if (rest.length > 0) this.#body(x, rest);
    else if (x.framing === "length" && x.remaining === 0) this.#complete(x);
  }

  /** Hands the head over, with the error document's text for a status that is not 2xx. */
  #answer(x: Exchange, text: string): void {
    let resolve!: (landed: number) => void;
    let reject!: (error: Error) => void;
    const body = new Promise<number>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A caller that stops awaiting after the head must not leave a rejection unhandled.
    body.catch(() => {});
    x.body = { resolve, reject };
    x.head.resolve({ status: x.status, headers: x.headers, text, body });
  }

  /** Bytes of the body as they came off the socket, taken as the answer's framing says. */
  #body(x: Exchange, bytes: Buffer): void {
    if (x.framing === "chunked") {
      this.#dechunk(x, bytes);
      return;
    }
    if (x.framing === "length" && bytes.length > x.remaining) {
      this.socket.destroy(broken("the server sent more than the body it announced", "ECONNRESET"));
      return;
    }
    if (!this.#deliver(x, bytes)) return;
    if (x.framing === "length") {
      x.remaining -= bytes.length;
      if (x.remaining === 0) this.#complete(x);
    }
  }

  /**
   * Pauses the socket until bytes waiting for the sink's room (`landing`) have landed: no read
   * meanwhile (the bytes may lie in `scratch`), nor any idle timeout, which is the consumer's
   * time, not the server's. A chunked body's rest read with them is handled then.
   */
  #wait(x: Exchange, landing: Promise<void>): void {
    this.socket.pause();
    this.socket.setTimeout(0);
    x.waiting = landing.then(
      () => {
        x.waiting = undefined;
        if (this.exchange !== x) return;
        const rest = x.pending;
        x.pending = undefined;
        if (rest !== undefined) this.#body(x, rest);
        if (this.exchange !== x || x.waiting !== undefined) return;
        if (x.ended) this.#complete(x);
        else {
          this.socket.setTimeout(this.pool.settings.socketTimeoutMs);
          this.socket.resume();
        }
      },
      (error: Error) => {
        x.waiting = undefined;
        this.socket.destroy(error);
      },
    );
  }

  /** A chunked body decoded as it comes, each chunk's data delivered at once: never held whole. */
  #dechunk(x: Exchange, bytes: Buffer): void {
    const c = x.chunked;
    let at = 0;
    while (at < bytes.length && this.exchange === x) {
      if (c.state === "data") {
        const take = Math.min(c.left, bytes.length - at);
        if (!this.#deliver(x, bytes.subarray(at, at + take))) return;
        at += take;
        c.left -= take;
        if (c.left === 0) c.state = "crlf";
        if (x.waiting !== undefined) {
          // The rest goes on once these bytes landed.
          if (at < bytes.length) x.pending = bytes.subarray(at);
          return;
        }
      } else if (c.state === "crlf") {
        const byte = bytes[at++];
        if (byte === 0x0a) c.state = "size";
        else if (byte !== 0x0d) {
          this.#malformed();
          return;
        }
      } else {
        const eol = bytes.indexOf(0x0a, at);
        c.line += bytes.toString("latin1", at, eol < 0 ? bytes.length : eol);
        if (c.line.length > 8192) {
          this.#malformed();
          return;
        }
        if (eol < 0) return;
        at = eol + 1;
        const line = c.line.replace(/\r$/, "");
        c.line = "";
        if (c.state === "trailer") {
          if (line !== "") continue;
          // Bytes after the body's end: the connection no longer frames answers as expected.
          if (at < bytes.length) x.keepAlive = false;
          this.#complete(x);
          return;
        }
        const size = /^[0-9a-fA-F]+/.exec(line)?.[0];
        if (size === undefined) {
          this.#malformed();
          return;
        }
        c.left = Number.parseInt(size, 16);
        c.state = c.left === 0 ? "trailer" : "data";
      }
    }
  }

  #malformed(): void {
    this.socket.destroy(broken("the server sent a malformed chunked body", "ECONNRESET"));
  }

  /**
   * Bytes of the body: a 2xx body's into the sink (copied into `into` unless they were read
   * there), an error document's kept as its text. False where the connection was given up.
   */
  #deliver(x: Exchange, bytes: Buffer): boolean {
    if (x.status >= 300) {
      x.text.push(Buffer.from(bytes));
      x.textBytes += bytes.length;
      if (x.textBytes <= MAX_ERROR_TEXT) return true;
      this.socket.destroy(broken("the server's error document is larger than 1 MiB", "ECONNRESET"));
      return false;
    }
    let landing: Promise<void> | undefined;
    try {
      landing = land(x.sink, x.landed, bytes);
    } catch (error) {
      this.socket.destroy(error as Error);
      return false;
    }
    x.landed += bytes.length;
    if (landing !== undefined) this.#wait(x, landing);
    return true;
  }

  /** The server closed its end: a body framed by that close is complete. */
  #ended(): void {
    const x = this.exchange;
    if (x?.framing === "close") this.#complete(x);
  }

  #complete(x: Exchange): void {
    if (x.waiting !== undefined) {
      // The last bytes wait for room: the body is whole once they landed.
      x.ended = true;
      return;
    }
    this.exchange = undefined;
    x.signal?.removeEventListener("abort", x.onAbort);
    this.socket.setTimeout(0);
    if (x.body === undefined) this.#answer(x, Buffer.concat(x.text).toString("utf8"));
    x.body?.resolve(x.landed);
    if (x.keepAlive) {
      // Paused while its last bytes waited for room, if they did.
      this.socket.resume();
      this.pool.release(this);
    } else this.socket.destroy();
  }

  #fail(error: Error): void {
    const x = this.exchange;
    if (x === undefined) return;
    this.exchange = undefined;
    x.signal?.removeEventListener("abort", x.onAbort);
    if (x.body) x.body.reject(error);
    else x.head.reject(error);
    this.socket.destroy();
  }

  /** Sends one GET on this idle connection. */
  send(request: string, sink: BodySink, signal: AbortSignal | undefined): Promise<PlainAnswer> {
    return new Promise<PlainAnswer>((resolve, reject) => {
      const x: Exchange = {
        sink,
        signal,
        onAbort: () => this.socket.destroy(aborted()),
        head: { resolve, reject },
        status: 0,
        headers: {},
        framing: "head",
        remaining: 0,
        landed: 0,
        chunked: { state: "size", line: "", left: 0 },
        text: [],
        textBytes: 0,
        keepAlive: false,
      };
      this.responded = false;
      if (this.socket.destroyed) {
        reject(broken("the server closed the connection", "ECONNRESET"));
        return;
      }
      this.exchange = x;
      this.headBytes = 0;
      signal?.addEventListener("abort", x.onAbort, { once: true });
      this.socket.ref();
      this.socket.setTimeout(this.pool.settings.socketTimeoutMs);
      this.socket.write(request);
    });
  }
}

/**
 * GETs over plain HTTP/1.1 whose bodies are read from the socket straight into the caller's
 * buffer (`net.Socket`'s `onread`), with no parser copying each piece and no stream around it.
 * On the local server a ranged GET of 8 MiB cost the client about 0.35 ms of CPU per MiB this
 * way against 1.2-1.5 ms through undici's Pool (its WebAssembly parser copies every piece in
 * and out, and each piece becomes a new Buffer of a Readable). Keep-alive connections to one
 * origin, at most `maxSockets` at once; a GET whose reused connection fails before any byte of
 * its answer came is sent once more on a new connection (the server may close an idle one
 * just as a request goes out).
 */
export class PlainGets {
  #idle: Connection[] = [];
  #open = 0;
  #waiting: Array<{ take(connection: Connection | undefined): void }> = [];
  /** Why no connection is handed out any more: the pool was closed, or cut (see {@link cut}). */
  #closed: string | undefined;
  /** Every connection open, idle or in an exchange (see {@link cut}). */
  readonly #all = new Set<Connection>();

  constructor(
    readonly host: string,
    readonly port: number,
    readonly settings: PlainGetsSettings,
  ) {}

  /**
   * Sends a GET of `path` with `headers` (signed, host included) and resolves with the answer's
   * head; a 2xx body lands in `sink` and `body` settles when it has all come.
   */
  async get(
    path: string,
    headers: Record<string, string>,
    sink: BodySink,
    signal?: AbortSignal,
  ): Promise<PlainAnswer> {
    let request = `GET ${path} HTTP/1.1\r\n`;
    for (const [name, value] of Object.entries(headers)) request += `${name}: ${value}\r\n`;
    request += "\r\n";
    for (;;) {
      signal?.throwIfAborted();
      const connection = await this.#acquire(signal);
      if (signal?.aborted) {
        // Stopped while waiting for a connection: it goes back unused.
        this.release(connection);
        signal.throwIfAborted();
      }
      const reused = connection.used;
      connection.used = true;
      try {
        return await connection.send(request, sink, signal);
      } catch (error) {
        if (!reused || connection.responded || signal?.aborted) throw error;
      }
    }
  }

  async #acquire(signal: AbortSignal | undefined): Promise<Connection> {
    if (this.#closed !== undefined) throw broken(this.#closed, "ECONNRESET");
    const idle = this.#idle.pop();
    if (idle !== undefined) return idle;
    if (this.#open < this.settings.maxSockets) return this.#connect(signal);
    const handed = await new Promise<Connection | undefined>((resolve, reject) => {
      const waiter = {
        take: (connection: Connection | undefined) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(connection);
        },
      };
      const onAbort = () => {
        this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
        reject(aborted());
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(waiter);
    });
    return handed ?? this.#connect(signal);
  }

  async #connect(signal: AbortSignal | undefined): Promise<Connection> {
    this.#open++;
    const connection = new Connection(this.host, this.port, this);
    this.#all.add(connection);
    const socket = connection.socket;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          socket.destroy(
            broken(`no connection to ${this.host}:${this.port} within its timeout`, "ETIMEDOUT"),
          ),
        this.settings.connectionTimeoutMs,
      );
      const onAbort = () => socket.destroy(aborted());
      signal?.addEventListener("abort", onAbort, { once: true });
      const settle = (error?: Error) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        socket.off("connect", connected);
        socket.off("error", settle);
        if (error) reject(error);
        else resolve();
      };
      const connected = () => settle();
      socket.once("connect", connected);
      socket.once("error", settle);
    });
    return connection;
  }

  /** A connection whose exchange ended cleanly: to the next waiter, else idle. */
  release(connection: Connection): void {
    // An idle connection does not keep the process alive (a GET sent on it refs it again).
    connection.socket.unref();
    const waiter = this.#waiting.shift();
    if (waiter !== undefined) waiter.take(connection);
    else this.#idle.push(connection);
  }

  /** A closed connection: its place goes to the next waiter, who opens a new one. */
  forget(connection: Connection): void {
    this.#all.delete(connection);
    const at = this.#idle.indexOf(connection);
    if (at >= 0) this.#idle.splice(at, 1);
    this.#open--;
    this.#waiting.shift()?.take(undefined);
  }

  destroy(): void {
    this.#closed ??= "the connection pool was closed";
    for (const connection of this.#idle) connection.socket.destroy();
    this.#idle = [];
  }

  /** Closes every connection, those in an exchange too, which then fails with `reason`. */
  cut(reason: Error): void {
    this.#closed = reason.message;
    for (const connection of this.#all) connection.socket.destroy(reason);
    this.#idle = [];
  }
}
