import { z } from "zod";
import { fromBase64url } from "./challenge/base64url.js";
import { isWellFormedText } from "./challenge/encodeContext.js";
import {
  type ChallengeExpectation,
  type ChallengeRequest,
  type ChallengeResponse,
  DIRECTIONS,
  type ObjectIdentity,
  PROTOCOL_VERSION,
  VARIANTS,
} from "./challenge/types.js";
import { chunkPlanSchema, formatBytes, MAX_PARTS, MiB } from "./chunkPlan.js";
import { describeIssue } from "./describeIssue.js";
import { DIGEST_ALGORITHMS } from "./digest.js";
import { InvalidMessageError } from "./errors.js";
import { lazySchema } from "./lazySchema.js";

/**
 * Largest message accepted, as UTF-8 JSON. A decode request for 10,000 chunks
 * is about 1 MiB, so 4 MiB leaves room while refusing anything that could
 * exhaust memory before validation.
 */
export const MAX_MESSAGE_BYTES = 4 * MiB;

const VERSION_TEXT = `protocol version ${PROTOCOL_VERSION} (the only version this build supports)`;

/** Whether `value` is a non-empty, well-formed string of at most `maxBytes` UTF-8 bytes (as {@link boundedText} checks). */
function fitsText(value: unknown, maxBytes: number): boolean {
  return (
    typeof value === "string" &&
    value.length >= 1 &&
    value.length <= maxBytes &&
    isWellFormedText(value) &&
    Buffer.byteLength(value, "utf8") <= maxBytes
  );
}

/** A non-empty, well-formed string of at most `maxBytes` UTF-8 bytes. */
function boundedText(maxBytes: number, what: string) {
  const expected = `a non-empty ${what} of at most ${maxBytes} UTF-8 bytes`;
  return (
    z
      .string({ error: expected })
      .min(1, { error: expected })
      // Characters bound bytes from below, so this cheap test runs first.
      .max(maxBytes, { error: expected })
      .refine(isWellFormedText, { error: `a ${what} in well-formed Unicode` })
      .refine((s) => Buffer.byteLength(s, "utf8") <= maxBytes, { error: expected })
  );
}

/** Canonical unpadded base64url of exactly `bytes` bytes. */
function base64urlBytes(bytes: number) {
  const expected = `base64url of exactly ${bytes} bytes`;
  return z
    .string({ error: expected })
    .refine((s) => fromBase64url(s, bytes) !== undefined, { error: expected });
}

const chunkIndex = lazySchema(() =>
  z
    .number({ error: "a chunk index" })
    .int({ error: "a whole chunk index" })
    .min(0, { error: "a chunk index from 0" })
    .max(MAX_PARTS - 1, { error: `a chunk index below ${MAX_PARTS}` }),
);

const TOO_MANY = `at most ${MAX_PARTS} entries (the S3 part limit)`;
const version = lazySchema(() => z.literal(PROTOCOL_VERSION, { error: VERSION_TEXT }));

/** Most UTF-8 bytes of each {@link ObjectIdentity} field in a message: S3's limits. */
const IDENTITY_BYTES = { bucket: 255, key: 1024, etag: 256, versionId: 1024 } as const;

/** Zod schema of an {@link ObjectIdentity} in a message; lengths follow S3's limits. */
export const objectIdentitySchema = lazySchema(() =>
  z.strictObject({
    bucket: boundedText(IDENTITY_BYTES.bucket, "bucket name"),
    key: boundedText(IDENTITY_BYTES.key, "object key"),
    etag: boundedText(IDENTITY_BYTES.etag, "ETag"),
    versionId: boundedText(IDENTITY_BYTES.versionId, "version id").optional(),
  }),
);

/**
 * A plain copy of `identity` when {@link objectIdentitySchema} would accept it as it is (no other
 * field, every field within its limits), else undefined: the schema then says what is wrong.
 */
export function fittingIdentity(identity: unknown): ObjectIdentity | undefined {
  if (typeof identity !== "object" || identity === null || Array.isArray(identity)) return undefined;
  for (const field of Object.keys(identity)) if (!Object.hasOwn(IDENTITY_BYTES, field)) return undefined;
  const { bucket, key, etag, versionId } = identity as Record<string, unknown>;
  if (!fitsText(bucket, IDENTITY_BYTES.bucket) || !fitsText(key, IDENTITY_BYTES.key)) return undefined;
  if (!fitsText(etag, IDENTITY_BYTES.etag)) return undefined;
  const fitting = { bucket, key, etag } as ObjectIdentity;
  if (versionId === undefined) return fitting;
  return fitsText(versionId, IDENTITY_BYTES.versionId)
    ? { ...fitting, versionId: versionId as string }
    : undefined;
}

/** Whether `etag` is one a {@link ChallengeResponse} may carry. */
export function fittingEtag(etag: unknown): boolean {
  return fitsText(etag, IDENTITY_BYTES.etag);
}

function strictlyIncreasing(
  items: readonly unknown[],
  indexOf: (item: unknown) => unknown,
  path: string,
  ctx: z.RefinementCtx,
): void {
  let previous = -1;
  items.forEach((item, position) => {
    const index = indexOf(item);
    if (typeof index !== "number") return;
    if (index <= previous) {
      ctx.addIssue({
        code: "custom",
        path: [path, position],
        message: "indices sorted ascending without repeats",
      });
    }
    previous = index;
  });
}

const indexField = (item: unknown): unknown =>
  typeof item === "object" && item !== null ? (item as { index?: unknown }).index : undefined;

/** Zod schema of a {@link ChallengeRequest}, including the cross-field rules (sorted indices, variant payload). */
export const challengeRequestSchema = lazySchema(
  () =>
    z
      .strictObject({
        v: version(),
        id: base64urlBytes(16),
        variant: z.enum(VARIANTS, { error: `one of ${VARIANTS.join(", ")}` }),
        algorithm: z.enum(DIGEST_ALGORITHMS, { error: `one of ${DIGEST_ALGORITHMS.join(", ")}` }),
        direction: z.enum(DIRECTIONS, { error: `one of ${DIRECTIONS.join(", ")}` }),
        source: objectIdentitySchema(),
        destination: objectIdentitySchema(),
        plan: chunkPlanSchema(),
        indices: z
          .array(chunkIndex(), { error: "an array of chunk indices" })
          .max(MAX_PARTS, { error: TOO_MANY }),
        nonce: base64urlBytes(32).optional(),
        sealed: z
          .array(z.strictObject({ index: chunkIndex(), iv: base64urlBytes(16), ct: base64urlBytes(32) }), {
            error: "an array of sealed chunk nonces",
          })
          .max(MAX_PARTS, { error: TOO_MANY })
          .optional(),
      })
      .superRefine((request, ctx) => {
        // Zod runs refinements even after some field failed, so nothing here trusts a type.
        const indices: readonly unknown[] = Array.isArray(request.indices) ? request.indices : [];
        strictlyIncreasing(indices, (index) => index, "indices", ctx);
        const count =
          typeof request.plan === "object" && request.plan !== null ? request.plan.count : undefined;
        indices.forEach((index, position) => {
          if (typeof index === "number" && typeof count === "number" && index >= count) {
            ctx.addIssue({
              code: "custom",
              path: ["indices", position],
              message: "an index below plan.count",
            });
          }
        });
        if (request.variant === "encode") {
          if (request.nonce === undefined) {
            ctx.addIssue({
              code: "custom",
              path: ["nonce"],
              message: "a nonce (the encode variant needs one)",
            });
          }
          if (request.sealed !== undefined) {
            ctx.addIssue({
              code: "custom",
              path: ["sealed"],
              message: "no sealed nonces in the encode variant",
            });
          }
        } else if (request.variant === "decode") {
          if (request.nonce !== undefined) {
            ctx.addIssue({
              code: "custom",
              path: ["nonce"],
              message: "no nonce in the decode variant (it stays secret)",
            });
          }
          const sealed: readonly unknown[] | undefined = Array.isArray(request.sealed)
            ? request.sealed
            : undefined;
          if (sealed === undefined) {
            ctx.addIssue({
              code: "custom",
              path: ["sealed"],
              message: "sealed nonces (the decode variant needs them)",
            });
          } else if (sealed.length !== indices.length) {
            ctx.addIssue({
              code: "custom",
              path: ["sealed"],
              message: "one sealed nonce per challenged index",
            });
          } else {
            sealed.forEach((entry, position) => {
              if (indexField(entry) !== indices[position]) {
                ctx.addIssue({
                  code: "custom",
                  path: ["sealed", position, "index"],
                  message: "the challenged index at the same position",
                });
              }
            });
          }
        }
      }) satisfies z.ZodType<ChallengeRequest>,
);

/** Zod schema of a {@link ChallengeResponse}: each answer carries exactly one of `value` and `missing`. */
export const challengeResponseSchema = lazySchema(
  () =>
    z
      .strictObject({
        v: version(),
        requestId: base64urlBytes(16),
        destination: z.strictObject({
          etag: boundedText(IDENTITY_BYTES.etag, "ETag"),
          size: z
            .number({ error: "a size in bytes" })
            .int({ error: "a whole number of bytes" })
            .min(0, { error: "a non-negative size" }),
        }),
        answers: z
          .array(
            z.strictObject({
              index: chunkIndex(),
              value: base64urlBytes(32).optional(),
              missing: z.literal(true, { error: "true or absent" }).optional(),
            }),
            { error: "an array of answers" },
          )
          .max(MAX_PARTS, { error: TOO_MANY }),
      })
      .superRefine((response, ctx) => {
        const answers: readonly unknown[] = Array.isArray(response.answers) ? response.answers : [];
        strictlyIncreasing(answers, indexField, "answers", ctx);
        answers.forEach((answer, position) => {
          if (typeof answer !== "object" || answer === null) return;
          const { value, missing } = answer as { value?: unknown; missing?: unknown };
          if ((value === undefined) === (missing === undefined)) {
            ctx.addIssue({
              code: "custom",
              path: ["answers", position],
              message: "exactly one of value and missing",
            });
          }
        });
      }) satisfies z.ZodType<ChallengeResponse>,
);

/** Zod schema of a {@link ChallengeExpectation} as the source side stores it. */
export const challengeExpectationSchema = lazySchema(
  () =>
    z
      .strictObject({
        v: version(),
        requestId: base64urlBytes(16),
        variant: z.enum(VARIANTS, { error: `one of ${VARIANTS.join(", ")}` }),
        values: z
          .array(z.strictObject({ index: chunkIndex(), value: base64urlBytes(32) }), {
            error: "an array of values",
          })
          .max(MAX_PARTS, { error: TOO_MANY }),
      })
      .superRefine((expectation, ctx) => {
        const values: readonly unknown[] = Array.isArray(expectation.values) ? expectation.values : [];
        strictlyIncreasing(values, indexField, "values", ctx);
      }) satisfies z.ZodType<ChallengeExpectation>,
);

/**
 * Turns an object or JSON text into plain JSON data within the size limit.
 * Going through JSON text even for objects strips prototypes, getters and
 * proxies, and measures the size the message would have on the wire.
 */
function toJsonValue(input: unknown, root: string): unknown {
  let text: unknown;
  if (typeof input === "string") {
    text = input;
  } else {
    try {
      text = JSON.stringify(input);
    } catch {
      throw new InvalidMessageError(root, "a JSON-serializable message");
    }
    if (typeof text !== "string") throw new InvalidMessageError(root, "a JSON object");
  }
  const json = text as string;
  // UTF-8 never has fewer bytes than UTF-16 code units, so the length test alone rejects most oversize input.
  if (json.length > MAX_MESSAGE_BYTES || Buffer.byteLength(json, "utf8") > MAX_MESSAGE_BYTES) {
    throw new InvalidMessageError(root, `at most ${formatBytes(MAX_MESSAGE_BYTES)} of JSON`);
  }
  try {
    return JSON.parse(json);
  } catch {
    throw new InvalidMessageError(root, "valid JSON");
  }
}

function parseMessage<T>(schema: z.ZodType<T>, input: unknown, root: string): T {
  const data = toJsonValue(input, root);
  // Checked first so a message from a newer peer gets the one error that explains it.
  if (typeof data === "object" && data !== null && !Array.isArray(data) && "v" in data) {
    if ((data as { v: unknown }).v !== PROTOCOL_VERSION) throw new InvalidMessageError("v", VERSION_TEXT);
  }
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new InvalidMessageError(root, "a valid message");
  const { field, expected } = describeIssue(issue, root);
  throw new InvalidMessageError(field, expected);
}

/**
 * Requests {@link createChallenge} built in this process and checked as {@link challengeRequestSchema}
 * would, deeply frozen: checking one again (the destination side of the same process answering it)
 * would find the same. A request from anywhere else (another process, a work area, a copy) is not here.
 */
const checkedRequests = new WeakSet<ChallengeRequest>();

/** Freezes `request` (checked as {@link challengeRequestSchema} would) so that it stays as checked, and remembers it. */
export function keepCheckedRequest(request: ChallengeRequest): ChallengeRequest {
  for (const identity of [request.source, request.destination]) Object.freeze(identity);
  Object.freeze(request.plan);
  Object.freeze(request.indices);
  for (const entry of request.sealed ?? []) Object.freeze(entry);
  if (request.sealed) Object.freeze(request.sealed);
  checkedRequests.add(Object.freeze(request));
  return request;
}

/**
 * Parses and checks a challenge request received from the source (an object
 * or JSON text). Checks structure, bounds and cross-field rules. A request this
 * process built and checked (frozen, so unchanged since) is returned as it is.
 *
 * @throws InvalidMessageError naming the first offending field
 */
export function parseChallengeRequest(input: unknown): ChallengeRequest {
  if (checkedRequests.has(input as ChallengeRequest)) return input as ChallengeRequest;
  return parseMessage(challengeRequestSchema(), input, "challengeRequest");
}

/**
 * Parses and checks a challenge response received from the destination.
 *
 * @throws InvalidMessageError naming the first offending field
 */
export function parseChallengeResponse(input: unknown): ChallengeResponse {
  return parseMessage(challengeResponseSchema(), input, "challengeResponse");
}

/**
 * Parses and checks a stored challenge expectation.
 *
 * @throws InvalidMessageError naming the first offending field
 */
export function parseChallengeExpectation(input: unknown): ChallengeExpectation {
  return parseMessage(challengeExpectationSchema(), input, "challengeExpectation");
}
