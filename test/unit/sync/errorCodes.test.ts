import {
  type ChunksyncError,
  EmptyKeyError,
  InvalidMessageError,
  KeyTooLongError,
  lambdaMemoryBudget,
  MemoryBudgetError,
  ValidationError,
} from "@chunksync/core";
import {
  AccessDeniedError,
  BadDigestError,
  BucketNotFoundError,
  InvalidCredentialsError,
  MissingCredentialsError,
  NotImplementedError,
  ObjectArchivedError,
  ObjectNotFoundError,
  PreconditionFailedError,
  RequestRefusedError,
  StorageUnavailableError,
  ThrottledError,
} from "@chunksync/storage";
import {
  CODE_BY_NAME,
  describeError,
  describeFailure,
  ListingOrderError,
  ObjectChangedError,
  RunAbortedError,
  SourceDeletedError,
  SourceRottedError,
  VerificationFailedError,
} from "@chunksync/sync";
import { WorkItemMissingError } from "@chunksync/workflow";
import { describe, expect, it } from "vitest";

const ctx = { operation: "test", bucket: "b", key: "k" };

/** One instance of every error class whose name fixes its code. */
const instances: ChunksyncError[] = [
  new ValidationError("field", "a value"),
  new InvalidMessageError("answers", "a list"),
  new ObjectNotFoundError(ctx),
  new BucketNotFoundError(ctx),
  new AccessDeniedError(ctx),
  new InvalidCredentialsError(ctx, "InvalidAccessKeyId"),
  new MissingCredentialsError(ctx, "no profile"),
  new KeyTooLongError("k", 1025, 1024),
  new EmptyKeyError(),
  new MemoryBudgetError("k", 525 * 1024 * 1024, lambdaMemoryBudget(512)),
  new PreconditionFailedError(ctx, "412"),
  new ObjectArchivedError(ctx, "GLACIER"),
  new ThrottledError(ctx),
  new StorageUnavailableError(ctx, "reset"),
  new RequestRefusedError(ctx, "InvalidArgument (HTTP 400)"),
  new NotImplementedError(ctx, "NotImplemented (HTTP 501)"),
  new BadDigestError(ctx),
  new ObjectChangedError("source", "k"),
  new ListingOrderError("source", "b", "a"),
  new ObjectChangedError("destination", "k"),
  new SourceDeletedError("k"),
  new SourceRottedError("k"),
  new VerificationFailedError("k", [1]),
  new RunAbortedError(),
  new WorkItemMissingError("k"),
];

describe("one error-to-code mapping for both engines", () => {
  it("gives a failure known only by its name the code the error itself carries", () => {
    for (const error of instances) {
      expect(describeFailure(error.name, error.message)).toEqual(describeError(error));
    }
    expect(Object.keys(CODE_BY_NAME).sort()).toEqual(instances.map((e) => e.name).sort());
  });

  it("tells a changed source from a changed destination by name", () => {
    expect(new ObjectChangedError("source", "k").name).toBe("SourceChangedError");
    expect(new ObjectChangedError("destination", "k").name).toBe("DestinationChangedError");
    expect(describeFailure("SourceChangedError", "m").code).toBe("SOURCE_CHANGED");
  });

  it("reports an error chunksync did not raise as UNEXPECTED, by name as by instance", () => {
    expect(describeError(new TypeError("boom"))).toEqual({ code: "UNEXPECTED", message: "boom" });
    expect(describeFailure("TypeError", "boom")).toEqual({ code: "UNEXPECTED", message: "boom" });
  });
});
