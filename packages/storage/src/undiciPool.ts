/**
 * undici's Pool with its request API, without undici's index module: that also builds fetch,
 * WebSocket, EventSource, its caches and cookies when it loads, and one of those reads a global
 * that makes Node load its own bundled copy of undici too. Every run paid for them at start
 * (about 90 ms of CPU for the index against 34 ms for these three modules, without a code cache)
 * and S3Requests uses only a Pool. The index adds the request API to Dispatcher the same way.
 */
/// <reference path="./undiciModules.d.ts" />
import type { Pool as UndiciPool } from "undici";
import api from "undici/lib/api/index.js";
import Dispatcher from "undici/lib/dispatcher/dispatcher.js";
import PoolModule from "undici/lib/dispatcher/pool.js";

Object.assign((Dispatcher as { prototype: object }).prototype, api);

export const Pool = PoolModule as unknown as typeof UndiciPool;
export type Pool = UndiciPool;
