import { ChunksyncError } from "@chunksync/core";
import type { FailureDescription } from "@chunksync/sync";
import { z } from "zod";
import { WorkItemMissingError } from "./errors.js";
import { parseEvent, relativeKey } from "./events.js";
import { compareKeys, workKeys } from "./layout.js";
import type { WorkArea } from "./WorkArea.js";

/**
 * Keys per record of a page's destination-only keys: a page's destination range may hold
 * millions, and each step holds one record at a time.
 */
export const CANDIDATES_PER_RECORD = 1000;

const keys = z.array(relativeKey).max(CANDIDATES_PER_RECORD);

/** Destination-only keys of a page's range, in listing order; the records end at one without `more`. */
const CandidatesRecordSchema = z.strictObject({ keys, more: z.boolean() });

/**
 * What the source's HEADs found of one record's keys: those it holds, and those it could not be
 * asked for, with the failure the direct engine would report for them.
 */
const OnSourceRecordSchema = z.strictObject({
  held: keys,
  failed: z
    .array(
      z.strictObject({
        key: relativeKey,
        error: z.strictObject({ code: z.string().min(1), message: z.string() }),
      }),
    )
    .max(CANDIDATES_PER_RECORD),
});
export type OnSourceRecord = z.infer<typeof OnSourceRecordSchema>;

/** Writes a page's destination-only keys as its lookup lists them, a record at a time. */
export class CandidateWriter {
  #keys: string[] = [];
  #record = 0;
  /** Keys added so far. */
  count = 0;

  constructor(
    readonly work: WorkArea,
    readonly runId: string,
    readonly page: number,
  ) {}

  async add(key: string): Promise<void> {
    if (this.#keys.length === CANDIDATES_PER_RECORD) await this.#put(true);
    this.#keys.push(key);
    this.count++;
  }

  /** Writes the last record (an empty one for a range with no such key): its readers stop there. */
  end(): Promise<void> {
    return this.#put(false);
  }

  async #put(more: boolean): Promise<void> {
    const record = { keys: this.#keys, more } satisfies z.infer<typeof CandidatesRecordSchema>;
    await this.work.put(workKeys.candidates(this.runId, this.page, this.#record++), record);
    this.#keys = [];
  }
}

/** Reads `key`, which an earlier step wrote, as `schema` (named `what` where it fails). */
async function needRecord<T>(work: WorkArea, key: string, schema: z.ZodType<T>, what: string): Promise<T> {
  const stored = await work.get<unknown>(key);
  if (stored === undefined) throw new WorkItemMissingError(key);
  return parseEvent(schema, stored, what);
}

/** The records {@link CandidateWriter} wrote of page `page`, in order, each with its number. */
export async function* candidateRecords(
  work: WorkArea,
  runId: string,
  page: number,
): AsyncGenerator<{ record: number; keys: string[] }> {
  for (let record = 0; ; record++) {
    const at = workKeys.candidates(runId, page, record);
    const { keys, more } = await needRecord(work, at, CandidatesRecordSchema, "destination-only keys");
    yield { record, keys };
    if (!more) return;
  }
}

/** One record of keys, and what the source's HEADs found of them once one of them is asked. */
interface Answering {
  record: number;
  keys: Set<string>;
  last: string | undefined;
  found?: { held: Set<string>; failed: Map<string, FailureDescription> };
}

/**
 * Answers whether the source may hold each destination-only key of a page, asked in listing
 * order, from the page's records and what the source found of them: one record in memory at a
 * time. A key the page's lookup did not list (written to the destination since) was never asked
 * of the source, so it is answered as held: no delete goes without the source's answer.
 */
export class SourceAnswers {
  readonly #records: AsyncGenerator<{ record: number; keys: string[] }>;
  #current: Answering | undefined;

  constructor(
    readonly work: WorkArea,
    readonly runId: string,
    readonly page: number,
  ) {
    // Nothing is read before the first key is asked: a run without `delete` asks none.
    this.#records = candidateRecords(work, runId, page);
  }

  /**
   * Whether the source may hold `key`: it held it when asked, or it was never asked.
   *
   * @throws ChunksyncError with the code and message of the failure of the source's HEAD of `key`
   */
  async mayHold(key: string): Promise<boolean> {
    const current = await this.#reach(key);
    if (current === undefined || !current.keys.has(key)) return true;
    current.found ??= await this.#found(current.record);
    const failure = current.found.failed.get(key);
    if (failure) throw new ChunksyncError(failure.code, failure.message);
    return current.found.held.has(key);
  }

  /** The record that holds `key` if any does: keys are asked in listing order, as the records hold them. */
  async #reach(key: string): Promise<Answering | undefined> {
    for (;;) {
      const current = this.#current;
      // An empty record is the only one of its page.
      if (current && (current.last === undefined || compareKeys(current.last, key) >= 0)) return current;
      const next = await this.#records.next();
      if (next.done) return current;
      const { record, keys } = next.value;
      this.#current = { record, keys: new Set(keys), last: keys.at(-1) };
    }
  }

  async #found(record: number): Promise<NonNullable<Answering["found"]>> {
    const at = workKeys.onSource(this.runId, this.page, record);
    const { held, failed } = await needRecord(this.work, at, OnSourceRecordSchema, "keys on the source");
    return { held: new Set(held), failed: new Map(failed.map((f) => [f.key, f.error])) };
  }
}
