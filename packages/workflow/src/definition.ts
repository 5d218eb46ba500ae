import type { DestinationTarget } from "./events.js";
import type { SourceFunction, StateMachineFunction } from "./steps.js";

/** What the definition needs from a deployment (or from the local runner). */
export interface DefinitionOptions {
  /** ARN of every function the state machine invokes, all in its own region. */
  functions: Readonly<Record<StateMachineFunction, string>>;
  /** Objects in flight at once (child workflows of the Distributed Map). */
  maxConcurrency: number;
  /** Share of objects whose flow may fail outright before the run fails (failures are caught and recorded first). */
  toleratedFailurePercentage: number;
  /** Chunk batches of one object in flight at once. */
  batchConcurrency: number;
  /** Attempts of one object whose source changed under the run, as in the direct engine (default 3). */
  maxAttempts?: number;
}

/**
 * Errors worth retrying: Lambda's own transient failures (those Step Functions' "Handle Lambda
 * service exceptions" names, and its throttling) and the typed throttling errors of our steps.
 */
export const RETRYABLE_LAMBDA_ERRORS = [
  "Lambda.ClientExecutionTimeoutException",
  "Lambda.ServiceException",
  "Lambda.AWSLambdaException",
  "Lambda.SdkClientException",
  "Lambda.TooManyRequestsException",
  // What the relay rethrows when its Invoke of the destination region's function is throttled
  // or meets Lambda's internal error (the SDK's own retries spent).
  "TooManyRequestsException",
  "ServiceException",
] as const;
export const RETRYABLE_STEP_ERRORS = ["ThrottledError", "StorageUnavailableError"] as const;

type Json = Record<string, unknown>;

/**
 * Each Task's TimeoutSeconds: a day, far above the 15 minutes a Lambda may run, which bounds a
 * Task in AWS (where a definition that states none has no timeout of its own). Stated, so that
 * the in-process runner, which follows the States Language's default of 60 s, does not fail a
 * step that runs longer (a batch of parts on a slow link, a page's records in a bucket far
 * away) where AWS would not. Not more: the runner's timer holds at most 2^31 - 1 ms, and fires
 * at once for a longer one.
 */
const TASK_TIMEOUT_SECONDS = 24 * 60 * 60;

/**
 * Each Task's retries, in both definitions: Lambda's transient errors, then our steps' typed
 * throttling errors, each with full jitter and a longest wait.
 */
const RETRY: Json[] = [
  {
    ErrorEquals: [...RETRYABLE_LAMBDA_ERRORS],
    IntervalSeconds: 1,
    BackoffRate: 2,
    MaxAttempts: 6,
    MaxDelaySeconds: 30,
    JitterStrategy: "FULL",
  },
  {
    ErrorEquals: [...RETRYABLE_STEP_ERRORS],
    IntervalSeconds: 2,
    BackoffRate: 2,
    MaxAttempts: 5,
    MaxDelaySeconds: 60,
    JitterStrategy: "FULL",
  },
];

/**
 * A Task state of either definition (the sync's, the audit's): a source-side function invoked
 * directly with `payload`, or, where `target` names a destination step, the relay with it.
 */
export function taskState(resource: string, target: string | undefined, payload: Json, rest: Json): Json {
  return {
    Type: "Task",
    Resource: resource,
    Parameters: target === undefined ? payload : { target, payload },
    TimeoutSeconds: TASK_TIMEOUT_SECONDS,
    Retry: RETRY,
    ...rest,
  };
}

/**
 * The Task states after every page (and so every object) of a run has settled: each side's index
 * swapped in, then the report. A stop that comes once they began stops nothing (see runLocally).
 */
export const TAIL_STATES: ReadonlySet<string> = new Set([
  "CommitSourceIndex",
  "CommitDestinationIndex",
  "WriteReport",
]);

/** Which function each Task state runs; the local runner resolves Tasks by these state names. */
export const TASK_STATES: Readonly<Record<string, SourceFunction | DestinationTarget>> = {
  ListSourcePage: "listSource",
  LookUpDestinationPage: "destinationPageLookup",
  ChallengePage: "sourcePageChallenge",
  AnswerPage: "destinationPageAnswer",
  ComparePage: "sourcePageCompare",
  PrepareCopies: "sourcePagePrepare",
  CopyPage: "destinationPageCopy",
  RecordCopies: "sourcePageRecord",
  IndexSourcePage: "sourceIndexPage",
  ConfirmDestinationOnly: "sourceConfirmExtras",
  FindDestinationOnly: "destinationExtras",
  CommitSourceIndex: "sourceIndexCommit",
  CommitDestinationIndex: "destinationIndexCommit",
  WriteReport: "sourceReport",
  PlanSource: "sourcePrepare",
  HeadDestination: "destinationHead",
  ChallengeBatch: "sourceChallenge",
  AnswerBatch: "destinationAnswer",
  CompareBatch: "sourceCompare",
  MatchBlocks: "sourceMatchBlocks",
  AnswerBlocks: "destinationAnswerBlocks",
  Decide: "sourceDecide",
  BeginWrite: "destinationBegin",
  SignLinks: "sourcePresign",
  ComposeBatch: "destinationCompose",
  CompleteWrite: "destinationComplete",
  VerifyChallenge: "sourceChallenge",
  VerifyAnswer: "destinationAnswer",
  VerifyCompare: "sourceCompare",
  AbortWrite: "destinationAbort",
  Record: "sourceRecord",
  RecordFailure: "sourceRecord",
};

/** Source-side functions, one Lambda each (the state machine invokes them directly). */
export const SOURCE_FUNCTIONS = [
  "listSource",
  "sourcePageChallenge",
  "sourcePageCompare",
  "sourcePagePrepare",
  "sourcePageRecord",
  "sourcePrepare",
  "sourceChallenge",
  "sourceCompare",
  "sourceMatchBlocks",
  "sourceDecide",
  "sourcePresign",
  "sourceRecord",
  "sourceIndexPage",
  "sourceConfirmExtras",
  "sourceIndexCommit",
  "sourceReport",
] as const;

const SOURCE_FUNCTION_NAMES = new Set<string>(SOURCE_FUNCTIONS);

/**
 * Builds the state machine in JSONPath ASL: the one definition deployed to Step
 * Functions and run in-process. Payloads carry keys, counts and batch numbers; every
 * list (requests, responses, expectations, parts, results) lives in the work area.
 */
export function buildDefinition(options: DefinitionOptions): Json {
  const { functions } = options;

  /** A Task on `fn` with `payload` as its event; destination steps go through the relay. */
  const task = (state: string, payload: Json, rest: Json): Json => {
    const fn = TASK_STATES[state];
    if (fn === undefined) throw new Error(`no function for state ${state}`);
    return SOURCE_FUNCTION_NAMES.has(fn)
      ? taskState(functions[fn as SourceFunction], undefined, payload, rest)
      : taskState(functions.relay, fn, payload, rest);
  };
  const objectRef = { "runId.$": "$.runId", "key.$": "$.item.key" };
  const itemRef = { "runId.$": "$.runId", "page.$": "$.page", "item.$": "$.item", "attempt.$": "$.attempt" };
  // Every attempt's step outputs, so the record sums the bytes the failed attempts moved too.
  const allSteps = { "steps.$": "States.Array($.steps, $.earlier)", "attempt.$": "$.attempt" };
  const batchRef = { "runId.$": "$.runId", "key.$": "$.key", "batch.$": "$.batch" };
  const recordFailure = (resultPath = "$.error") => [
    { ErrorEquals: ["States.ALL"], ResultPath: resultPath, Next: "MayRestart" },
  ];
  const abortOnFailure = [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "AbortWrite" }];
  const blockRef = { ...objectRef, "round.$": "$.steps.blocks.round" };
  /** Folds a block round's step output into `moved` and takes its round number (and `more` fields). */
  const keepBlockRound = (next: string, more: Json = {}): Json => ({
    Type: "Pass",
    Parameters: {
      "round.$": "$.steps.blocks.last.round",
      "moved.$": "States.Array($.steps.blocks.moved, $.steps.blocks.last)",
      ...more,
    },
    ResultPath: "$.steps.blocks",
    Next: next,
  });
  const batchMap = (
    items: string,
    states: Json,
    startAt: string,
    phase: string | undefined,
    rest: Json,
  ): Json => ({
    Type: "Map",
    ItemsPath: items,
    ItemSelector: {
      "runId.$": "$.runId",
      "key.$": "$.item.key",
      "batch.$": "$$.Map.Item.Value",
      ...(phase ? { phase } : {}),
    },
    MaxConcurrency: options.batchConcurrency,
    ItemProcessor: { ProcessorConfig: { Mode: "INLINE" }, StartAt: startAt, States: states },
    ...rest,
  });
  const challengeStates = (prefix: "Challenge" | "Verify") => {
    const names =
      prefix === "Challenge"
        ? ["ChallengeBatch", "AnswerBatch", "CompareBatch", "KeepChallengeBytes"]
        : ["VerifyChallenge", "VerifyAnswer", "VerifyCompare", "KeepVerifyBytes"];
    const [challenge, answer, compare, keep] = names as [string, string, string, string];
    const ref = { ...batchRef, "phase.$": "$.phase" };
    return {
      [challenge]: task(challenge, ref, { ResultPath: "$.challenge", Next: answer }),
      [answer]: task(answer, ref, { ResultPath: "$.answer", Next: compare }),
      [compare]: task(compare, ref, { ResultPath: null, Next: keep }),
      // A batch's output is only its byte counts: the Map collects one per batch (up to 10,000 / batch size).
      [keep]: {
        Type: "Pass",
        Parameters: { "challenge.$": "$.challenge", "answer.$": "$.answer" },
        End: true,
      },
    };
  };

  const pageRef = { "runId.$": "$.runId", "page.$": "$.cursor.page" };
  const pageItems = { ...pageRef, "items.$": "$.list.items" };
  /**
   * A page's work before its Map, where one of the lookup's counts `asked` is above 0: the source's
   * `first` step (its count of what it handed on in `result`), then, where that is above 0,
   * the destination's `second` and the source's `last`, which hands the Map the page's items
   * left; `next` after it, or where there was nothing to do.
   */
  const pagePhase = (
    [gate, first, any, second, last]: [string, string, string, string, string],
    asked: string[],
    result: string,
    next: string,
  ): Json => ({
    [gate]: {
      Type: "Choice",
      Choices: [
        asked.length === 1
          ? { Variable: asked[0], NumericGreaterThan: 0, Next: first }
          : { Or: asked.map((Variable) => ({ Variable, NumericGreaterThan: 0 })), Next: first },
      ],
      Default: next,
    },
    [first]: task(first, pageItems, { ResultPath: result, Next: any }),
    [any]: {
      Type: "Choice",
      Choices: [{ Variable: `${result}.count`, NumericGreaterThan: 0, Next: second }],
      Default: next,
    },
    [second]: task(second, pageRef, { ResultPath: null, Next: last }),
    [last]: task(last, pageItems, { ResultPath: "$.list.items", Next: next }),
  });
  const maxAttempts = options.maxAttempts ?? 3;
  /** The object's next attempt, from its plan; `recheck`: one that only decides (see MayRestart). */
  const nextAttempt = (recheck: "$.recheck" | true): Json => ({
    Type: "Pass",
    Parameters: {
      "runId.$": "$.runId",
      "page.$": "$.page",
      "item.$": "$.item",
      "attempt.$": "States.MathAdd($.attempt, 1)",
      "earlier.$": "States.Array($.steps, $.earlier)",
      ...(recheck === true ? { recheck } : { "recheck.$": recheck }),
    },
    Next: "StartObject",
  });
  const objectFlow: Json = {
    StartAt: "StartObject",
    States: {
      StartObject: { Type: "Pass", Result: {}, ResultPath: "$.steps", Next: "Inspect" },
      Inspect: {
        Type: "Parallel",
        Branches: [
          {
            StartAt: "PlanSource",
            States: {
              PlanSource: task("PlanSource", itemRef, { End: true }),
            },
          },
          {
            StartAt: "HeadDestination",
            States: { HeadDestination: task("HeadDestination", itemRef, { End: true }) },
          },
        ],
        ResultSelector: { "source.$": "$[0]", "destination.$": "$[1]" },
        // Among the steps' outputs: the record sums the bytes HeadDestination read ahead.
        ResultPath: "$.steps.inspect",
        Next: "NeedsChallenge",
        Catch: recordFailure(),
      },
      NeedsChallenge: {
        Type: "Choice",
        Choices: [
          { Variable: "$.steps.inspect.destination.exists", BooleanEquals: false, Next: "Decide" },
          { Variable: "$.steps.inspect.source.archived", BooleanEquals: true, Next: "Decide" },
          { Variable: "$.steps.inspect.source.count", NumericEquals: 0, Next: "Decide" },
        ],
        Default: "ChallengeBatches",
      },
      ChallengeBatches: batchMap(
        "$.steps.inspect.source.batches",
        challengeStates("Challenge"),
        "ChallengeBatch",
        "challenge",
        {
          ResultPath: "$.steps.challenge",
          Next: "StartBlocks",
          Catch: recordFailure(),
        },
      ),
      // The changed chunks' block exchange, a round per answer of the destination (see
      // `exchangeBlocks`); each round's step output is kept in `moved` for the record's sums.
      StartBlocks: {
        Type: "Pass",
        Result: { round: 0, moved: [] },
        ResultPath: "$.steps.blocks",
        Next: "MatchBlocks",
      },
      MatchBlocks: task("MatchBlocks", blockRef, {
        ResultPath: "$.steps.blocks.last",
        Next: "KeepMatchBytes",
        Catch: recordFailure(),
      }),
      KeepMatchBytes: keepBlockRound("AskDestination", { "ask.$": "$.steps.blocks.last.ask" }),
      AskDestination: {
        Type: "Choice",
        Choices: [{ Variable: "$.steps.blocks.ask", BooleanEquals: true, Next: "AnswerBlocks" }],
        Default: "Decide",
      },
      AnswerBlocks: task("AnswerBlocks", blockRef, {
        ResultPath: "$.steps.blocks.last",
        Next: "KeepAnswerBytes",
        Catch: recordFailure(),
      }),
      KeepAnswerBytes: keepBlockRound("MatchBlocks"),
      // A recheck (see MayRestart) decides only: a write it would make is the other writer's change.
      Decide: task(
        "Decide",
        { ...objectRef, "recheck.$": "$.recheck" },
        {
          ResultPath: "$.decision",
          Next: "NeedsWrite",
          Catch: recordFailure(),
        },
      ),
      NeedsWrite: {
        Type: "Choice",
        Choices: [{ Variable: "$.decision.action", StringEquals: "none", Next: "Record" }],
        Default: "BeginWrite",
      },
      BeginWrite: task(
        "BeginWrite",
        { ...objectRef, "attempt.$": "$.attempt" },
        {
          ResultPath: null,
          Next: "WriteParts",
          Catch: abortOnFailure,
        },
      ),
      WriteParts: batchMap(
        "$.decision.writeBatches",
        {
          SignLinks: task("SignLinks", batchRef, { ResultPath: "$.signed", Next: "ComposeBatch" }),
          ComposeBatch: task("ComposeBatch", batchRef, { ResultPath: "$.composed", Next: "KeepWriteBytes" }),
          // A batch's output is only its byte counts (SignLinks reads a copy's chunks for the source's index).
          KeepWriteBytes: {
            Type: "Pass",
            Parameters: { "signed.$": "$.signed", "composed.$": "$.composed" },
            End: true,
          },
        },
        "SignLinks",
        undefined,
        { ResultPath: "$.steps.write", Next: "CompleteWrite", Catch: abortOnFailure },
      ),
      CompleteWrite: task("CompleteWrite", objectRef, {
        ResultPath: null,
        Next: "VerifyBatches",
        Catch: abortOnFailure,
      }),
      VerifyBatches: batchMap(
        "$.decision.verifyBatches",
        challengeStates("Verify"),
        "VerifyChallenge",
        "verify",
        {
          ResultPath: "$.steps.verify",
          Next: "Record",
          Catch: recordFailure(),
        },
      ),
      Record: task(
        "Record",
        { ...objectRef, ...allSteps },
        { ResultSelector: { "state.$": "$.state" }, End: true },
      ),
      AbortWrite: task("AbortWrite", objectRef, {
        ResultPath: null,
        Next: "MayRestart",
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.abortError", Next: "RecordFailure" }],
      }),
      // A source that changed under the run is planned again from its new version, as the
      // direct engine does; a destination another writer replaced is left to that writer, and
      // challenged again once, writing nothing: identical where it holds the source's bytes.
      MayRestart: {
        Type: "Choice",
        Choices: [
          {
            And: [
              { Variable: "$.error.Error", StringEquals: "SourceChangedError" },
              { Variable: "$.attempt", NumericLessThan: maxAttempts },
            ],
            Next: "NextAttempt",
          },
          {
            And: [
              { Variable: "$.error.Error", StringEquals: "DestinationChangedError" },
              { Variable: "$.recheck", BooleanEquals: false },
              { Variable: "$.attempt", NumericLessThan: maxAttempts },
            ],
            Next: "Recheck",
          },
        ],
        Default: "RecordFailure",
      },
      NextAttempt: nextAttempt("$.recheck"),
      Recheck: nextAttempt(true),
      RecordFailure: task(
        "RecordFailure",
        { ...objectRef, ...allSteps, "error.$": "$.error", "size.$": "$.item.size" },
        { ResultSelector: { "state.$": "$.state" }, End: true },
      ),
    },
  };

  return {
    Comment: "chunksync: challenge-verified chunk-level delta sync, source region to destination region",
    StartAt: "StartRun",
    States: {
      StartRun: {
        Type: "Pass",
        Result: { page: 0, after: null },
        ResultPath: "$.cursor",
        Next: "ListSourcePage",
      },
      ListSourcePage: task(
        "ListSourcePage",
        { "runId.$": "$.runId", "page.$": "$.cursor.page", "after.$": "$.cursor.after" },
        { ResultPath: "$.list", Next: "LookUpDestinationPage" },
      ),
      // The destination's listing of the page's keys (its objects are headed by it, as the
      // direct engine heads them), and each side's index, read and written a listing page's
      // key range at a time.
      LookUpDestinationPage: task("LookUpDestinationPage", pageRef, {
        ResultPath: "$.lookup",
        Next: "FromIndexes",
      }),
      // The pairs both indexes answer for are decided a page at a time (see pageDecision.ts),
      // then the page's new small objects, and the small pairs it found changed, are copied a
      // page at a time (see pageCopy.ts); the Map runs what is left of the page.
      ...pagePhase(
        ["FromIndexes", "ChallengePage", "AnyChallenged", "AnswerPage", "ComparePage"],
        ["$.lookup.answerable"],
        "$.challenged",
        "NewObjects",
      ),
      // The page's decision may have found small pairs changed, which its copies rewrite.
      ...pagePhase(
        ["NewObjects", "PrepareCopies", "AnyPrepared", "CopyPage", "RecordCopies"],
        ["$.lookup.absent", "$.lookup.answerable"],
        "$.prepared",
        "SyncObjects",
      ),
      SyncObjects: {
        Type: "Map",
        ItemsPath: "$.list.items",
        ItemSelector: {
          "runId.$": "$.runId",
          "page.$": "$.cursor.page",
          "item.$": "$$.Map.Item.Value",
          attempt: 1,
          earlier: [],
          recheck: false,
        },
        MaxConcurrency: options.maxConcurrency,
        ToleratedFailurePercentage: options.toleratedFailurePercentage,
        ItemProcessor: {
          ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" },
          ...objectFlow,
        },
        // Per-object results are in the work area; the page's Map output is not kept.
        ResultPath: null,
        Next: "IndexSourcePage",
      },
      IndexSourcePage: task("IndexSourcePage", pageRef, { ResultPath: null, Next: "AskSource" }),
      // With `delete`, the source is asked for the keys of the page's range it did not list (the
      // lookup counted them) before any is deleted, as the direct engine HEADs it before a delete.
      AskSource: {
        Type: "Choice",
        Choices: [{ Variable: "$.lookup.candidates", NumericGreaterThan: 0, Next: "ConfirmDestinationOnly" }],
        Default: "FindDestinationOnly",
      },
      ConfirmDestinationOnly: task("ConfirmDestinationOnly", pageRef, {
        ResultPath: null,
        Next: "FindDestinationOnly",
      }),
      FindDestinationOnly: task("FindDestinationOnly", pageRef, { ResultPath: null, Next: "MorePages" }),
      MorePages: {
        Type: "Choice",
        // Written as IsNull true: aws-local-stepfunctions 3.0.0 never matches `IsNull: false`.
        Choices: [{ Variable: "$.list.next", IsNull: true, Next: "CommitSourceIndex" }],
        Default: "NextPage",
      },
      NextPage: { Type: "Pass", InputPath: "$.list.next", ResultPath: "$.cursor", Next: "ListSourcePage" },
      // Each side's new manifest (the swap) only once every page is done: a run that fails
      // or is stopped before leaves each side's old index.
      CommitSourceIndex: task(
        "CommitSourceIndex",
        { "runId.$": "$.runId" },
        { ResultPath: null, Next: "CommitDestinationIndex" },
      ),
      CommitDestinationIndex: task(
        "CommitDestinationIndex",
        { "runId.$": "$.runId" },
        { ResultPath: null, Next: "WriteReport" },
      ),
      WriteReport: task(
        "WriteReport",
        // The report's start and duration are the run's, not this last step's.
        { "runId.$": "$.runId", "startedAt.$": "$$.Execution.StartTime" },
        { End: true },
      ),
    },
  };
}
