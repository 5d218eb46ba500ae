import { ValidationError } from "@chunksync/core";
import { describe, expect, it } from "vitest";
import { handler as destinationAnswer } from "../../../functions/destinationAnswer.js";
import { handler as destinationCompose } from "../../../functions/destinationCompose.js";
import { handler as listSource } from "../../../functions/listSource.js";
import { handler as relay } from "../../../functions/relay.js";
import { handler as sourceChallenge } from "../../../functions/sourceChallenge.js";
import { handler as sourcePrepare } from "../../../functions/sourcePrepare.js";
import { handler as sourceRecord } from "../../../functions/sourceRecord.js";
import { handler as startRun } from "../../../functions/startRun.js";

type AnyHandler = (event: unknown, context: never, callback: never) => unknown;
const call = (h: unknown, event: unknown) => (h as AnyHandler)(event, {} as never, (() => {}) as never);

/** The ValidationError a handler fails with (the test environment has no deployment settings at all). */
async function failure(h: unknown, event: unknown): Promise<ValidationError> {
  try {
    await call(h, event);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error("the handler accepted the event");
}

describe("Lambda handlers refuse malformed events with a ValidationError naming the field", () => {
  it.each([
    ["listSource", { runId: "r1", page: -1 }, "page", listSource],
    ["listSource", { runId: "bad id!", page: 0 }, "runId", listSource],
    ["listSource", null, "event", listSource],
    [
      "sourcePrepare",
      { runId: "r1", page: 0, item: { key: "a", size: "12", etag: "x" } },
      "item.size",
      sourcePrepare,
    ],
    ["sourcePrepare", { runId: "r1", item: { key: "a", size: 12, etag: "x" } }, "page", sourcePrepare],
    // An empty key is the source prefix's own folder marker, an object like any other; a key of
    // over 1,024 characters is no S3 key.
    [
      "sourcePrepare",
      { runId: "r1", page: 0, item: { key: "k".repeat(1025), size: 1, etag: "x" } },
      "item.key",
      sourcePrepare,
    ],
    ["sourceChallenge", { runId: "r1", key: "a", batch: 0, phase: "guess" }, "phase", sourceChallenge],
    ["sourceChallenge", { runId: "r1", key: "a", batch: 1.5, phase: "verify" }, "batch", sourceChallenge],
    ["destinationAnswer", { runId: "r1", batch: 0, phase: "challenge" }, "key", destinationAnswer],
    ["destinationCompose", { runId: "r1", key: "a", batch: 0, extra: 1 }, "event", destinationCompose],
    ["sourceRecord", { runId: "r1", key: "a", error: { Cause: "x" } }, "error.Error", sourceRecord],
    ["relay", { target: "deleteEverything", payload: {} }, "target", relay],
    ["startRun", { scheduledTime: "yesterday" }, "scheduledTime", startRun],
  ])("%s: %j names %s", async (_name, event, field, h) => {
    const error = await failure(h, event);
    expect(error.field).toBe(field);
    expect(error.name).toBe("ValidationError");
  });

  it("fails a well-formed event on missing deployment settings with a ValidationError too", async () => {
    const error = await failure(listSource, { runId: "r1", page: 0, after: null });
    expect(error.field).toBe("env.CHUNKSYNC_CONFIG");
  });
});
