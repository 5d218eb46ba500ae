import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, createServer as createRawServer, type Socket } from "node:net";
import { isBrokenConnection } from "@chunksync/storage";
import { afterEach, describe, expect, it } from "vitest";
import { PlainGets } from "../../../packages/storage/src/PlainGets.js";

const BODY = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7 + (i >> 9)) & 0xff));

/** A real HTTP/1.1 server on loopback, answering each GET as `answer` says; counts its connections. */
async function serve(answer: (req: IncomingMessage, res: ServerResponse, nth: number) => void) {
  const sockets: Socket[] = [];
  let nth = 0;
  const server: Server = createServer((req, res) => answer(req, res, ++nth));
  server.on("connection", (socket: Socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  servers.push(server);
  return { port, sockets };
}

const servers: Server[] = [];
const pools: PlainGets[] = [];
afterEach(async () => {
  for (const pool of pools.splice(0)) pool.destroy();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

function gets(port: number, settings: Partial<ConstructorParameters<typeof PlainGets>[2]> = {}) {
  const pool = new PlainGets("127.0.0.1", port, {
    connectionTimeoutMs: 2_000,
    socketTimeoutMs: 5_000,
    maxSockets: 4,
    ...settings,
  });
  pools.push(pool);
  return pool;
}

const range = (req: IncomingMessage): [number, number] => {
  const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? "") as RegExpExecArray;
  return [Number(m[1]), Number(m[2]) + 1];
};

/** Answers the Range asked for, with its Content-Length. */
const ranged = (req: IncomingMessage, res: ServerResponse) => {
  const [from, to] = range(req);
  res.writeHead(206, {
    "content-length": to - from,
    "content-range": `bytes ${from}-${to - 1}/${BODY.length}`,
  });
  res.end(BODY.subarray(from, to));
};

describe("PlainGets: GETs read from the socket straight into the caller's buffer", () => {
  it("lands a body in `into`, hands over views of it in order, and reuses one connection", async () => {
    const { port, sockets } = await serve(ranged);
    const pool = gets(port);
    for (let i = 0; i < 5; i++) {
      const from = i * 1000;
      const into = Buffer.alloc(BODY.length);
      let at = 0;
      const answer = await pool.get(
        "/o",
        { host: `127.0.0.1:${port}`, range: `bytes=${from}-${BODY.length - 1}` },
        {
          into,
          piece: (view) => {
            expect(view.buffer).toBe(into.buffer);
            expect(view.byteOffset - into.byteOffset).toBe(at);
            at += view.length;
          },
        },
      );
      expect(answer.status).toBe(206);
      expect(answer.headers["content-range"]).toBe(`bytes ${from}-${BODY.length - 1}/${BODY.length}`);
      expect(await answer.body).toBe(BODY.length - from);
      expect(into.subarray(0, at).equals(BODY.subarray(from))).toBe(true);
    }
    expect(sockets).toHaveLength(1);
  });

  it("hands over pieces of its own buffer where there is no `into`", async () => {
    const { port } = await serve(ranged);
    const pieces: Buffer[] = [];
    const answer = await gets(port).get(
      "/o",
      { host: "h", range: `bytes=0-${BODY.length - 1}` },
      { piece: (view) => pieces.push(Buffer.from(view)) },
    );
    expect(await answer.body).toBe(BODY.length);
    expect(Buffer.concat(pieces).equals(BODY)).toBe(true);
  });

  it("takes a chunked body, and an error document's text, keeping the connection", async () => {
    const { port, sockets } = await serve((_req, res, nth) => {
      if (nth === 1) {
        res.writeHead(200);
        res.write(BODY.subarray(0, 70_000));
        res.end(BODY.subarray(70_000));
        return;
      }
      const xml = "<Error><Code>PreconditionFailed</Code></Error>";
      res.writeHead(412, { "content-type": "application/xml" });
      res.write(xml.slice(0, 10));
      res.end(xml.slice(10));
    });
    const pool = gets(port);
    const into = Buffer.alloc(BODY.length);
    const answer = await pool.get("/o", { host: "h" }, { into });
    expect(answer.headers["transfer-encoding"]).toBe("chunked");
    expect(await answer.body).toBe(BODY.length);
    expect(into.equals(BODY)).toBe(true);
    const refused = await pool.get("/o", { host: "h" }, { into });
    expect(refused.status).toBe(412);
    expect(refused.text).toBe("<Error><Code>PreconditionFailed</Code></Error>");
    expect(sockets).toHaveLength(1);
  });

  it("decodes a chunked body whose size lines and data are split across reads, and a body framed by the close", async () => {
    // A server written by hand: each answer in pieces, apart in time, so they come in separate reads.
    const pieces = [
      [
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1",
        "0\r\n0123456789abcdef\r",
        "\n3;x=y\r\nXYZ\r\n0\r\n\r\n",
      ],
      ["HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil", " the end"],
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
    ];
    let answered = 0;
    const raw = createRawServer((socket) => {
      socket.on("data", async () => {
        const nth = answered++;
        for (const piece of pieces[nth] ?? []) {
          socket.write(piece);
          await new Promise((r) => setTimeout(r, 30));
        }
        if (nth === 1) socket.end();
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
    try {
      const pool = gets((raw.address() as AddressInfo).port, { socketTimeoutMs: 60_000 });
      const received: string[] = [];
      const chunked = await pool.get("/o", { host: "h" }, { piece: (p) => received.push(p.toString()) });
      expect(await chunked.body).toBe(19);
      expect(received.join("")).toBe("0123456789abcdefXYZ");
      const into = Buffer.alloc(100);
      const closed = await pool.get("/o", { host: "h" }, { into });
      expect(await closed.body).toBe(13);
      expect(into.subarray(0, 13).toString()).toBe("until the end");
      const malformed = await pool.get("/o", { host: "h" }, {});
      await expect(malformed.body).rejects.toMatchObject({ code: "ECONNRESET" });
    } finally {
      raw.close();
    }
  });

  it("lands a body in the rooms its sink hands out, its socket paused while none is free: framed by length, by chunks and by the close", async () => {
    const { port, sockets } = await serve((req, res, nth) => {
      if (nth === 1) return ranged(req, res);
      if (nth === 2) {
        res.writeHead(200);
        res.write(BODY.subarray(0, 100_000));
        res.end(BODY.subarray(100_000));
        return;
      }
      res.writeHead(200, { connection: "close" });
      res.end(BODY);
    });
    const pool = gets(port);
    /** Rooms of 16 KiB, two at a time: a room is free again only a turn after the read asked for one that was not. */
    const roomed = () => {
      const size = 16 * 1024;
      const rooms = [Buffer.alloc(size), Buffer.alloc(size)];
      let taken = 0;
      let waited = 0;
      const pending: Buffer[] = [];
      const sink = {
        room: (at: number): Buffer | Promise<Buffer> => {
          const k = Math.floor(at / size);
          const view = rooms[k % 2]!.subarray(at - k * size);
          if (k < taken + 2) return view;
          waited++;
          return new Promise<Buffer>((resolve) =>
            setImmediate(() => {
              taken = k - 1;
              resolve(view);
            }),
          );
        },
        piece: (bytes: Buffer) => {
          pending.push(Buffer.from(bytes));
        },
      };
      return {
        sink,
        body: () => Buffer.concat(pending.splice(0)),
        waited: () => waited,
      };
    };
    for (const [framing, headers] of [
      ["length", { host: "h", range: `bytes=0-${BODY.length - 1}` }],
      ["chunked", { host: "h" }],
      ["close", { host: "h" }],
    ] as const) {
      const r = roomed();
      const answer = await pool.get("/o", headers, r.sink);
      expect(await answer.body, framing).toBe(BODY.length);
      expect(r.body().equals(BODY), framing).toBe(true);
      expect(r.waited(), framing).toBeGreaterThan(0);
    }
    // The connection that waited was whole for the GETs after it.
    expect(sockets).toHaveLength(1);
  });

  it("sends a GET again on a new connection where a reused one was closed before any answer", async () => {
    const { port, sockets } = await serve((req, res, nth) => {
      // The second request on the first connection: the server drops it unanswered.
      if (nth === 2) {
        req.socket.destroy();
        return;
      }
      ranged(req, res);
    });
    const pool = gets(port);
    const read = async () => {
      const into = Buffer.alloc(100);
      await (await pool.get("/o", { host: "h", range: "bytes=0-99" }, { into })).body;
      return into;
    };
    expect((await read()).equals(BODY.subarray(0, 100))).toBe(true);
    expect((await read()).equals(BODY.subarray(0, 100))).toBe(true);
    expect(sockets).toHaveLength(2);
  });

  it("fails a body cut short as a broken connection, and does not reuse that connection", async () => {
    const { port, sockets } = await serve((req, res, nth) => {
      if (nth === 1) {
        res.writeHead(200, { "content-length": BODY.length });
        res.write(BODY.subarray(0, 1000), () => req.socket.destroy());
        return;
      }
      ranged(req, res);
    });
    const pool = gets(port);
    const into = Buffer.alloc(BODY.length);
    const answer = await pool.get("/o", { host: "h" }, { into });
    const error = await answer.body.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBrokenConnection(error)).toBe(true);
    expect(await (await pool.get("/o", { host: "h", range: "bytes=0-9" }, { into })).body).toBe(10);
    expect(sockets).toHaveLength(2);
  });

  it("refuses a body longer than the buffer it is to land in", async () => {
    const { port } = await serve(ranged);
    const error = await gets(port)
      .get("/o", { host: "h", range: "bytes=0-999" }, { into: Buffer.alloc(10) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toMatchObject({ code: "UND_ERR_RES_CONTENT_LENGTH_MISMATCH" });
    expect(isBrokenConnection(error)).toBe(true);
  });

  it("stops a GET when its signal aborts, mid-body", async () => {
    const { port } = await serve((_req, res) => {
      res.writeHead(200, { "content-length": BODY.length });
      res.write(BODY.subarray(0, 1000));
    });
    const controller = new AbortController();
    const answer = await gets(port).get(
      "/o",
      { host: "h" },
      { into: Buffer.alloc(BODY.length), piece: () => controller.abort() },
      controller.signal,
    );
    await expect(answer.body).rejects.toMatchObject({ name: "AbortError" });
  });

  it("stops a GET waiting for a connection when its signal aborts, and leaves the connection to the others", async () => {
    const { port, sockets } = await serve((req, res) => setTimeout(() => ranged(req, res), 50));
    const pool = gets(port, { maxSockets: 1 });
    const read = (signal?: AbortSignal) =>
      pool
        .get("/o", { host: "h", range: "bytes=0-9" }, { into: Buffer.alloc(10) }, signal)
        .then((a) => a.body);
    const controller = new AbortController();
    const first = read();
    const queued = read(controller.signal);
    controller.abort();
    await expect(queued).rejects.toMatchObject({ name: "AbortError" });
    expect(await first).toBe(10);
    expect(await read()).toBe(10);
    expect(sockets).toHaveLength(1);
  });

  it("once cut, fails the GETs in an exchange and those asked after with the reason it was cut for", async () => {
    const { port } = await serve(() => {});
    const pool = gets(port);
    const reason = new Error("stopped waiting for an answer 20 s after the run was stopped");
    const failure = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    const pending = failure(pool.get("/o", { host: "h" }, {}));
    await new Promise((resolve) => setTimeout(resolve, 50));
    pool.cut(reason);
    expect((await pending)?.message).toBe(reason.message);
    const later = await failure(pool.get("/o", { host: "h" }, {}));
    expect(later).toMatchObject({ message: reason.message, code: "ECONNRESET" });
  });

  it("fails a GET whose server goes silent past the idle timeout", async () => {
    const { port } = await serve(() => {});
    const error = await gets(port, { socketTimeoutMs: 200 })
      .get("/o", { host: "h" }, {})
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toMatchObject({ code: "ETIMEDOUT" });
  });

  it("holds at most maxSockets connections, queueing the GETs beyond them", async () => {
    const { port, sockets } = await serve((req, res) => setTimeout(() => ranged(req, res), 20));
    const pool = gets(port, { maxSockets: 3 });
    const results = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const into = Buffer.alloc(1000);
        const from = i * 1000;
        await (await pool.get("/o", { host: "h", range: `bytes=${from}-${from + 999}` }, { into })).body;
        return into.equals(BODY.subarray(from, from + 1000));
      }),
    );
    expect(results.every(Boolean)).toBe(true);
    expect(sockets).toHaveLength(3);
  });
});
