import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import { countResult, type ObjectResult, RunAbortedError, type RunReport } from "@chunksync/sync";
import type { DestinationContext, SourceContext, UploadRecord } from "./context.js";
import { buildDefinition, TAIL_STATES, TASK_STATES } from "./definition.js";
import { StateDataLimitError } from "./errors.js";
import { parseEvent, RelayEvent } from "./events.js";
import { type PageRecord, type Side, workKeys } from "./layout.js";
import { observeTasks, type RunObserver } from "./observeTask.js";
import { unrecordedCopies } from "./pageCopyRecords.js";
import { settledOnPage } from "./pageDecision.js";
import { type DestinationInvoker, relay } from "./relay.js";
import { unrecordedWrite } from "./sourceSteps.js";
import { DESTINATION_STEPS, SOURCE_STEPS, type SourceFunction, type StateMachineFunction } from "./steps.js";
import type { WorkArea } from "./WorkArea.js";
import { installPromiseWithResolvers } from "./withResolvers.js";

/** Options of an in-process run of the workflow. */
export interface LocalRunOptions {
  source: SourceContext;
  destination: DestinationContext;
  /** Defaults to a fresh `local-<time>-<random>` id. */
  runId?: string;
  /** Objects in flight at once (default 4). */
  maxConcurrency?: number;
  /** Chunk batches of one object in flight at once (default 2). */
  batchConcurrency?: number;
  /** Pause before a Retry, instead of the definition's backoff (default 20 ms, so tests stay fast). */
  retryIntervalMs?: number;
  /** Attempts of one object whose source changes under the run (default 3). */
  maxAttempts?: number;
  /** Stops the run: no Task starts after it, and every upload begun is aborted once the Tasks in flight settle. */
  signal?: AbortSignal;
  /** Live counters and per-object results as the run goes (a progress display). */
  observer?: RunObserver;
  /** Wraps every Task: tests inject faults here, keyed by state name. */
  intercept?: (state: string, input: unknown, run: () => Promise<unknown>) => Promise<unknown>;
}

/**
 * Placeholder Lambda ARNs for the functions `names` (the relay included): the local
 * interpreter runs Tasks by state name, but a definition names a resource for each.
 */
export function localArns<F extends string>(names: readonly F[]): Record<F, string> {
  return Object.fromEntries(
    names.map((n) => [n, `arn:aws:lambda:us-east-1:000000000000:function:chunksync-local-${n}`]),
  ) as Record<F, string>;
}

/** What Step Functions passes from state to state at most: 256 KiB of JSON as UTF-8 (StateExitedEventDetails). */
export const STATE_DATA_LIMIT = 256 * 1024;

/** The first state whose output is over {@link STATE_DATA_LIMIT}, reading the run's events to their end. */
async function oversizedState(
  events: AsyncIterable<{ type: string; state?: { name: string; output?: unknown } }>,
): Promise<StateDataLimitError | undefined> {
  for await (const event of events) {
    if (event.type !== "StateExited" || event.state === undefined) continue;
    const bytes = Buffer.byteLength(JSON.stringify(event.state.output) ?? "");
    if (bytes > STATE_DATA_LIMIT) return new StateDataLimitError(event.state.name, bytes, STATE_DATA_LIMIT);
  }
  return undefined;
}

/**
 * Runs `definition` in this process with aws-local-stepfunctions, each Task state by its entry in
 * `handlers`, and stops it when `signal` aborts (without throwing). Resolves to the last state's output.
 *
 * @throws StateDataLimitError when a state's output is over what Step Functions passes (the run stops)
 */
export async function executeLocally(
  definition: object,
  input: object,
  handlers: Record<string, (input: unknown) => Promise<unknown>>,
  retryIntervals: Record<string, number>,
  signal: AbortSignal | undefined,
): Promise<unknown> {
  installPromiseWithResolvers();
  // Every request of every Task in flight listens on the one run signal, as in the direct
  // engine (runSync); that is by design, not a leak, and Node must not warn of one on stderr.
  if (signal) setMaxListeners(0, signal);
  const { StateMachine, ExecutionError } = await import("aws-local-stepfunctions");
  // Not validated again here: each definition is code, and its tests check it with the same
  // validator (asl-validator), which cost every run about a tenth of a second of CPU.
  // biome-ignore lint/suspicious/noExplicitAny: the interpreter types definitions by its own ASL types, which a built object does not carry.
  const machine = new StateMachine(definition as any, { validationOptions: { noValidate: true } });
  const execution = machine.run(input as never, {
    // An abort is the caller's (signal): it is answered by the caller, not thrown from here.
    noThrowOnAbort: true,
    overrides: {
      // Steps return JSON-serializable data; the interpreter's JSONValue type cannot say so of `unknown`.
      taskResourceLocalHandlers: handlers as unknown as Record<string, (input: unknown) => Promise<never>>,
      retryIntervalOverrides: retryIntervals,
    },
  });
  const stop = () => execution.abort();
  // Reading the events also keeps the interpreter from queueing every one of them for the whole run.
  const oversized = oversizedState(execution.eventLogs).then((error) => {
    if (error) stop();
    return error;
  });
  if (signal?.aborted) stop();
  else signal?.addEventListener("abort", stop, { once: true });
  try {
    const output = await execution.result.catch((error: unknown) => {
      // A failed run fails with the error of the step that failed it (a listing refused, or out
      // of order), as the direct engine's run does: the same message and code, not the interpreter's.
      throw error instanceof ExecutionError && error.cause instanceof Error ? error.cause : error;
    });
    const error = await oversized;
    if (error) throw error;
    return output;
  } finally {
    signal?.removeEventListener("abort", stop);
  }
}

/**
 * Runs the same JSONPath definition that is deployed to Step Functions, in-process with
 * aws-local-stepfunctions: source Tasks call the source steps, relay Tasks call the
 * destination steps directly (the in-process {@link DestinationInvoker}).
 */
export async function runWorkflowLocally(options: LocalRunOptions): Promise<RunReport> {
  const startedAt = new Date();
  const runId =
    options.runId ?? `local-${startedAt.getTime().toString(36)}-${randomBytes(4).toString("hex")}`;
  const definition = buildDefinition({
    functions: localArns([...Object.keys(SOURCE_STEPS), "relay"] as StateMachineFunction[]),
    maxConcurrency: options.maxConcurrency ?? 4,
    toleratedFailurePercentage: 0,
    batchConcurrency: options.batchConcurrency ?? 2,
    maxAttempts: options.maxAttempts ?? 3,
  });
  /**
   * Set once the run reached its last steps (every object settled): a stop from then on stops
   * nothing, as a stop during the direct engine's index commit does; the steps run to the end
   * and the run finishes.
   */
  let settled = false;
  const stopping = new AbortController();
  // The steps listen on this run's own signal: a stop that comes once every object settled is
  // not passed on to it, and cuts no step in flight (see everyObjectSettled).
  const own = (signal: AbortSignal | undefined) => (signal ? stopping.signal : undefined);
  const sides = {
    source: { ...options.source, signal: own(options.source.signal) },
    destination: { ...options.destination, signal: own(options.destination.signal) },
  };
  const invoker: DestinationInvoker = {
    invoke: (target, payload) => DESTINATION_STEPS[target].run(sides.destination, payload),
  };
  const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  const retryIntervals: Record<string, number> = {};
  const last = new LastPage();
  // The Tasks' requests listen on the run's signal, as executeLocally's on this one (see there).
  if (options.signal) setMaxListeners(0, options.signal);
  setMaxListeners(0, stopping.signal);
  options.signal?.addEventListener(
    "abort",
    () => {
      // Once the last page's objects have all settled and it has nothing to delete, what is
      // left is the index and the report: the stop stops nothing, as the direct engine's.
      if (!settled && last.everyObjectSettled) settled = true;
      if (!settled) stopping.abort(options.signal?.reason);
    },
    { once: true },
  );
  if (options.signal?.aborted) stopping.abort(options.signal.reason);
  // Tasks still running: an abort or a failure of the run waits for them before it cleans up after them.
  const inFlight = new Set<Promise<unknown>>();
  let failed = false;
  const watch = options.observer && observeTasks(options.observer, options.source.work);
  const tailInvoker: DestinationInvoker = {
    invoke: (target, payload) =>
      DESTINATION_STEPS[target].run({ ...options.destination, signal: undefined }, payload),
  };
  for (const [state, fn] of Object.entries(TASK_STATES)) {
    const tail = TAIL_STATES.has(state);
    const step = (input: unknown): Promise<unknown> =>
      fn in SOURCE_STEPS
        ? SOURCE_STEPS[fn as SourceFunction].run(
            tail ? { ...options.source, signal: undefined } : sides.source,
            input,
          )
        : relay(tail ? tailInvoker : invoker, parseEvent(RelayEvent, input));
    const { intercept } = options;
    const run = (input: unknown) => {
      const done = (async () => {
        if (tail && !stopping.signal.aborted) settled = true;
        // The interpreter may still retry, catch or run a Map's other items after an abort or
        // the run's failure: no step runs then.
        if (stopping.signal.aborted || failed) throw new RunAbortedError(options.signal?.reason);
        const output = await (intercept ? intercept(state, input, () => step(input)) : step(input));
        last.onTask(state, input, output);
        // Only a Task that succeeded is counted, and a display must not fail it (a retry would redo its work).
        if (watch) await watch.onTask(state, input, output).catch(() => {});
        if (state === "FindDestinationOnly") await forgetSettledPage(options, input);
        return output;
      })();
      inFlight.add(done);
      done.then(
        () => inFlight.delete(done),
        () => inFlight.delete(done),
      );
      return done;
    };
    handlers[state] = run;
    retryIntervals[state] = options.retryIntervalMs ?? 20;
  }
  const signal = stopping.signal;
  const { observer } = options;
  /**
   * After a run that did not reach its end: once the Tasks in flight settle, aborts the uploads
   * begun, keeps in each side's index what the run settled (its finished pages, as the direct
   * engine keeps the keys it settled), and reports what the run deleted, as the direct engine
   * reports each deletion as it is made (a failed run's report is incomplete, but names every
   * object it deleted).
   */
  const unfinished = async () => {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    await settleWrites(options, observer, runId);
    // The steps after a stop run without the run's signal, which would stop them at once.
    const source = { ...options.source, signal: undefined };
    const destination = { ...options.destination, signal: undefined };
    // Each side's share of the page the stop cut short, then each side's index (see commitSideIndex).
    const cut = (side: Side) => pageInProgress(options.source.work, side, runId);
    const sourcePage = await cut("source");
    if (sourcePage !== undefined)
      await SOURCE_STEPS.sourceIndexPage.run(source, { runId, page: sourcePage, settled: true });
    const destinationPage = await cut("destination");
    if (destinationPage !== undefined)
      await DESTINATION_STEPS.destinationExtras.run(destination, {
        runId,
        page: destinationPage,
        settled: true,
      });
    const commit = { runId, settled: true };
    await SOURCE_STEPS.sourceIndexCommit.run(source, commit);
    await DESTINATION_STEPS.destinationIndexCommit.run(destination, commit);
    // The destination-only objects a page cut short acted on (kept, deleted), which no Task told.
    await watch?.tellLeftExtras(runId);
  };
  // The last state's output: the report step's totals.
  let totals: Pick<RunReport, "objects" | "bytes" | "planned" | "index"> | undefined;
  try {
    totals = (await executeLocally(definition, { runId }, handlers, retryIntervals, signal)) as typeof totals;
  } catch (error) {
    failed = true;
    // The run's own failure is the one to tell, not one met while cleaning up after it.
    await unfinished().catch(() => {});
    throw error;
  }
  if (signal?.aborted) {
    await unfinished();
    throw new RunAbortedError();
  }
  if (totals?.objects === undefined) throw new Error(`run ${runId} ended without a report`);
  if (observer) {
    // The report's figures are the run's: the live counters end on them.
    Object.assign(observer.stats.objects, totals.objects);
    Object.assign(observer.stats.bytes, totals.bytes);
  }
  return {
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    dryRun: false,
    objects: totals.objects,
    bytes: totals.bytes,
    planned: totals.planned,
    ...(totals.index ? { index: totals.index } : {}),
  };
}

/**
 * What a run has left to do on its last page, from the Tasks that succeeded: once it is listed
 * (no page after it), the objects its Map has still to settle, and whether its lookup found
 * destination-only keys to delete (with `delete`) that its FindDestinationOnly has not settled.
 */
class LastPage {
  /** The last page's objects not settled yet; undefined until the last page is listed. */
  #left: Set<string> | undefined;
  #page: number | undefined;
  #deletes = false;

  get everyObjectSettled(): boolean {
    return this.#left !== undefined && this.#left.size === 0 && !this.#deletes;
  }

  onTask(state: string, input: unknown, output: unknown): void {
    // A destination step's input is the relay's: its own event is the payload.
    const page = (input as { payload?: { page?: number } }).payload?.page;
    switch (state) {
      case "ListSourcePage": {
        const { items, next } = output as { items: { key: string }[]; next: unknown };
        this.#page = next === null ? (input as { page: number }).page : undefined;
        this.#left = next === null ? new Set(items.map((item) => item.key)) : undefined;
        return;
      }
      case "LookUpDestinationPage":
        if (page === this.#page) this.#deletes = (output as { candidates: number }).candidates > 0;
        return;
      case "ComparePage":
      case "RecordCopies":
        for (const key of this.#left ? settledOnPage(input, output) : []) this.#left?.delete(key);
        return;
      case "Record":
      case "RecordFailure":
        this.#left?.delete((input as { key: string }).key);
        return;
      case "FindDestinationOnly":
        if (page === this.#page) this.#deletes = false;
        return;
    }
  }
}

/**
 * Drops the records of a page whose FindDestinationOnly is done (see `workKeys.settledPage`),
 * and its objects' own, from each side's work area, and folds its objects' results (its
 * destination-only ones too) into the page's results record, which the report reads: in-process
 * a settled page keeps only that and its range (on disk, see `SpillOptions`). No step reads the
 * rest again: a stop settles the page in progress only (an upload whose abort failed in a settled
 * page is left, as at a run's end, for the next sync to name).
 */
async function forgetSettledPage(
  options: Pick<LocalRunOptions, "source" | "destination">,
  input: unknown,
): Promise<void> {
  // A destination step's input is the relay's: its own event is the payload.
  const { runId, page } = (input as { payload: { runId: string; page: number } }).payload;
  const works = new Set([options.source.work, options.destination.work]);
  if ([...works].every((work) => work.forget === undefined)) return;
  const keys = workKeys.settledPage(runId, page);
  const range = await options.destination.work.get<PageRecord>(workKeys.page(runId, page));
  for (const key of range?.keys ?? []) keys.push(...workKeys.objectFolders(runId, key));
  for (const work of works) {
    const results = (range?.keys ?? []).map((key) => workKeys.result(runId, key));
    for await (const extra of work.list(workKeys.extras(runId, page))) results.push(extra);
    await work.fold?.(results, workKeys.pageResults(runId, page));
    await work.forget?.(keys);
  }
}

/**
 * The page a stopped run was in when it stopped, for `side`: the first page listed whose share
 * of `side`'s index was not written (pages run one after the other); undefined for none.
 */
async function pageInProgress(work: WorkArea, side: Side, runId: string): Promise<number | undefined> {
  let page = 0;
  while ((await work.get<unknown>(workKeys.page(runId, page))) !== undefined) {
    if ((await work.get<unknown>(workKeys.indexPage(side, runId, page))) === undefined) return page;
    page++;
  }
  return undefined;
}

/**
 * Aborts every upload the run began and did not complete, and reports the objects whose write
 * completed but whose flow or page the stop cut short (see `unrecordedWrite`,
 * `unrecordedCopies`): the direct engine reports those too. Runs once every Task has settled, so no upload is begun after it.
 */
async function settleWrites(
  options: Pick<LocalRunOptions, "source" | "destination">,
  observer: RunObserver | undefined,
  runId: string,
): Promise<void> {
  const { source, destination } = options;
  const tell = async (result: ObjectResult) => {
    if (observer === undefined) return;
    observer.stats.done++;
    countResult(observer.stats.objects, result);
    await observer.onResult?.(result);
  };
  for await (const k of destination.work.list(`${workKeys.run(runId)}/objects/`)) {
    if (!k.endsWith("/upload.json")) continue;
    const record = await destination.work.get<UploadRecord>(k);
    if (record === undefined) continue;
    if (record.etag === undefined) {
      if (record.uploadId !== undefined) await destination.store.abortUpload(record.key, record.uploadId);
      continue;
    }
    if (observer === undefined) continue;
    const key = record.key.slice(destination.prefix.length);
    const result = await unrecordedWrite(source.work, runId, key, record.attempt);
    if (result !== undefined) await tell(result);
  }
  if (observer === undefined) return;
  for await (const result of unrecordedCopies(destination.work, runId, destination.prefix))
    await tell(result);
}
