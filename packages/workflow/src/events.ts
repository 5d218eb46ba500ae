import { ValidationError } from "@chunksync/core/errors";
import { MAX_KEY_BYTES } from "@chunksync/core/objectKey";
import { z } from "zod";

/**
 * The events every step takes, as zod schemas. Each Lambda handler and the
 * in-process runner parse with these, so a malformed event fails with a
 * ValidationError naming the field (which a Catch can match), never a TypeError.
 */

const runId = z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/, "a run id of 1-80 letters, digits, '_', '.', '-'");
/**
 * A key relative to the prefixes, in every event and record that carries one. Empty for the
 * source prefix's own folder marker (`pre/` under `s3://b/pre`): an object of the run like any
 * other, which maps to the destination prefix's marker. It is the end of a source key, so it is
 * held to S3's limit on a key, which counts UTF-8 bytes, not characters (1,024 CJK characters
 * are 3,072 bytes); whether the destination prefix leaves room for it is the write's own check.
 */
export const relativeKey = z
  .string()
  .refine(
    (key) => Buffer.byteLength(key, "utf8") <= MAX_KEY_BYTES,
    `a key of at most ${MAX_KEY_BYTES} bytes of UTF-8`,
  );
const index = z.number().int("a whole number").min(0, "a number from 0");
/** A Step Functions error as a Catch records it. */
const caught = z.object({ Error: z.string(), Cause: z.string().optional() });

export const ListPageEvent = z.strictObject({
  runId,
  page: index,
  /** The last relative key of the previous page; the listing continues after it. */
  after: relativeKey.nullable().optional(),
});

/** Which attempt of an object a step serves: an object restarts when its source changes under the run. */
const attempt = z.number().int("a whole number").min(1, "a number from 1").max(100, "a number to 100");

/**
 * An object of the source's listing, which each side inspects (PlanSource, HeadDestination): its
 * size and ETag as listed, and its storage class where that is an archive class.
 */
export const ListedItem = z.strictObject({
  key: relativeKey,
  size: index,
  etag: z.string().min(1, "an ETag"),
  storageClass: z.string().min(1, "a storage class").optional(),
  /** As the listing states them: the head prepareSource takes is given the listing's LastModified (see `asListed`). */
  lastModified: z.number().int().min(0).optional(),
  versionId: z.string().min(1, "a version ID").optional(),
});

/** An object's first steps, with the page whose listing steps found what they kept of it (see `PageFound`). */
export const PrepareEvent = z.strictObject({
  runId,
  page: index,
  item: ListedItem,
  attempt: attempt.optional(),
});

/** An object is named by its key relative to the side's prefix; each side adds its own prefix. */
export const ObjectEvent = z.strictObject({ runId, key: relativeKey, attempt: attempt.optional() });

export const BatchEvent = z.strictObject({
  runId,
  key: relativeKey,
  batch: index,
  phase: z.enum(["challenge", "verify"], { error: "challenge or verify" }),
});

/** One round of an object's block exchange (0: the source starts it). */
export const BlockEvent = z.strictObject({
  runId,
  key: relativeKey,
  round: index.max(100, "a number to 100"),
});

export const WriteBatchEvent = z.strictObject({ runId, key: relativeKey, batch: index });

export const DecideEvent = ObjectEvent.extend({
  /** The attempt only decides: a destination another writer replaced, challenged again. */
  recheck: z.boolean().optional(),
});

export const RecordEvent = z.strictObject({
  runId,
  key: relativeKey,
  /** Outputs of the object's earlier steps; every `bytes` object in it is summed. */
  steps: z.unknown().optional(),
  attempt: attempt.optional(),
  error: caught.optional(),
  /** The source object's size as the run listed it: a failed object's report gives it. */
  size: index.optional(),
});

export const PageEvent = z.strictObject({
  runId,
  page: index,
  /**
   * The run stopped during this page: its index pieces keep the entries of the objects that
   * settled and what stood for the rest, and no destination-only object is acted on.
   */
  settled: z.literal(true).optional(),
});

/** A listing page and its items (as ListSourcePage listed them), for the steps that decide a page at a time. */
export const PageItemsEvent = z.strictObject({ runId, page: index, items: z.array(ListedItem) });

export const ReportEvent = z.strictObject({
  runId,
  /** When the execution began (`$$.Execution.StartTime`), for the run's report. */
  startedAt: z.iso.datetime({ offset: true }).optional(),
});

/** A side's index commit: at the run's end, or of what a run that stopped before it settled. */
export const CommitIndexEvent = ReportEvent.extend({
  /** The run stopped before its end: keep the pages it finished, and the stored entries after them. */
  settled: z.literal(true).optional(),
});

/** Destination-side steps the relay may call: nothing else can be reached through it. */
export const DESTINATION_TARGETS = [
  "destinationHead",
  "destinationAnswer",
  "destinationAnswerBlocks",
  "destinationBegin",
  "destinationCompose",
  "destinationComplete",
  "destinationAbort",
  "destinationExtras",
  "destinationPageLookup",
  "destinationPageAnswer",
  "destinationPageCopy",
  "destinationIndexCommit",
  "destinationAuditHead",
  "destinationAudit",
  "destinationAuditExtras",
] as const;
export type DestinationTarget = (typeof DESTINATION_TARGETS)[number];

export const RelayEvent = z.strictObject({
  target: z.enum(DESTINATION_TARGETS, { error: `one of ${DESTINATION_TARGETS.join(", ")}` }),
  payload: z.unknown(),
});

/**
 * Parses `event` with `schema`.
 *
 * @throws ValidationError naming the first offending field (such as `item.size`)
 */
export function parseEvent<T>(schema: z.ZodType<T>, event: unknown, root = "event"): T {
  const result = schema.safeParse(event);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.map(String).join(".") ?? "";
  const field = path === "" ? root : path;
  let expected = issue?.message ?? "a valid event";
  if (issue?.code === "invalid_type") expected = `a ${issue.expected}`;
  if (issue?.code === "unrecognized_keys") expected = `no field ${issue.keys.join(", ")}`;
  throw new ValidationError(field, expected);
}
