import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { S3Connection, S3ObjectStore } from "@chunksync/storage";
import { afterAll, beforeAll, expect, it } from "vitest";

/** A server that takes every request and never answers: only an abort ends a request to it. */
let server: Server;
let endpoint: string;
const held: Array<() => void> = [];

beforeAll(async () => {
  server = createServer((_request, response) => held.push(() => response.destroy()));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const release of held) release();
  await new Promise((resolve) => server.close(resolve));
});

/** A store on the server that never answers, trying each request once. */
async function storeOnHeldServer(): Promise<S3ObjectStore> {
  const connection = await S3Connection.open({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "a", secretAccessKey: "b" },
    maxAttempts: 1,
    // Far beyond the test's own timeout: only the signal can end the request in time.
    socketTimeoutMs: 600_000,
  });
  return new S3ObjectStore({ connection, bucket: "b" });
}

it("a request in flight is aborted by its run's signal, though it is sent without options", async () => {
  const store = await storeOnHeldServer();
  const controller = new AbortController();
  const pending = store.head("k", controller.signal);
  // Abort once the server holds the request, so the abort hits it mid-flight.
  while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  controller.abort(new Error("stop"));
  await expect(pending).rejects.toThrow();
  // Another request of the same client, without a signal, is not aborted by the last one's.
  const other = store.head("k2");
  while (held.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
  held[1]!();
  await expect(other).rejects.not.toThrow(/stop|abort/i);
}, 60_000);

it("a part copy in flight is aborted by its signal, and so is a copy of a whole object", async () => {
  const store = await storeOnHeldServer();
  const source = store.ref("src", '"e"');
  for (const send of [
    (signal: AbortSignal) =>
      store.resumeUpload("k", "u").copyPart(1, source, { offset: 0, length: 1 }, signal),
    (signal: AbortSignal) => store.copyObject(source, "k", { metadata: {} }, { ifNoneMatch: "*" }, signal),
  ]) {
    const before = held.length;
    const controller = new AbortController();
    const pending = send(controller.signal);
    while (held.length === before) await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort(new Error("stop"));
    await expect(pending).rejects.toThrow(/stop/);
  }
}, 60_000);
