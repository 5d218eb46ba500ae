import { networkInterfaces } from "node:os";
import { describe, expect, it } from "vitest";
import { oneServer } from "../../../packages/cli/src/oneServer.js";

describe("oneServer: two endpoints that may be one server", () => {
  const at = (host: string, port = 9000) => `http://${host}:${port}`;

  it.each([
    "localhost",
    "localhost.",
    "127.1",
    "0.0.0.0",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[0:0:0:0:0:ffff:127.0.0.1]",
    "[::1]",
    "[::]",
  ])("127.0.0.1 and %s on one port: one server (this machine)", async (host) => {
    expect(await oneServer(at("127.0.0.1"), at(host))).toBe(true);
  });

  it("this machine's own interface address and its loopback: one server", async () => {
    const own = Object.values(networkInterfaces())
      .flat()
      .find((i) => i !== undefined && i.family === "IPv4" && !i.internal);
    if (own === undefined) return expect(own).toBeUndefined();
    expect(await oneServer(at("127.0.0.1"), at(own.address))).toBe(true);
  });

  it("another port, another path, or a host elsewhere: not one server", async () => {
    expect(await oneServer(at("127.0.0.1"), at("localhost", 9001))).toBe(false);
    expect(await oneServer(at("127.0.0.1"), "http://127.0.0.1:9000/other")).toBe(false);
    expect(await oneServer(at("127.0.0.1"), at("192.0.2.200"))).toBe(false);
    expect(await oneServer(at("198.51.100.1"), at("198.51.100.2"))).toBe(false);
  });

  it("the default ports of the schemes count as stated ones", async () => {
    expect(await oneServer("http://127.0.0.1", at("localhost", 80))).toBe(true);
    expect(await oneServer("https://127.0.0.1", "http://127.0.0.1")).toBe(false);
  });
});
