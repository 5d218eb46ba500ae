import {
  buildDefinition,
  MemoryWorkArea,
  RETRYABLE_LAMBDA_ERRORS,
  RETRYABLE_STEP_ERRORS,
  SOURCE_STEPS,
  type StateMachineFunction,
  TASK_STATES,
  workKeys,
} from "@chunksync/workflow";
import aslValidator from "asl-validator";
import { describe, expect, it } from "vitest";
import { writeReport } from "../../../packages/workflow/src/sourceSteps.js";

const functions = Object.fromEntries(
  [...Object.keys(SOURCE_STEPS), "relay"].map((n) => [
    n,
    `arn:aws:lambda:eu-west-1:123456789012:function:cs-${n}`,
  ]),
) as Record<StateMachineFunction, string>;
const definition = buildDefinition({
  functions,
  maxConcurrency: 40,
  toleratedFailurePercentage: 5,
  batchConcurrency: 4,
});

type State = Record<string, unknown> & { Type: string };
/** Every state of the definition, nested ones included, by name. */
function allStates(machine: unknown, out = new Map<string, State>()): Map<string, State> {
  const states = (machine as { States?: Record<string, State> }).States ?? {};
  for (const [name, state] of Object.entries(states)) {
    out.set(name, state);
    for (const branch of (state.Branches as unknown[] | undefined) ?? []) allStates(branch, out);
    if (state.ItemProcessor) allStates(state.ItemProcessor, out);
  }
  return out;
}

describe("the state machine definition", () => {
  const states = allStates(definition);

  it("is valid ASL", () => {
    const result = aslValidator(definition);
    expect(result.errorsText("\n")).toBe("");
    expect(result.isValid).toBe(true);
  });

  it("uses JSONPath only (no JSONata, no variables)", () => {
    const text = JSON.stringify(definition);
    expect(text).not.toContain("JSONata");
    expect(text).not.toContain("{%");
    expect(text).not.toContain('"Assign"');
  });

  it("reads and writes each side's index a page at a time, decides and copies what it can a page at a time, asks the source before a page's deletes, and swaps its manifest only after the last page", () => {
    const path: string[] = [];
    for (let name: string | undefined = "ListSourcePage"; name && path.length < 30; ) {
      path.push(name);
      const state: State | undefined = states.get(name);
      name =
        (state?.Next as string | undefined) ?? (state?.Choices as { Next: string }[] | undefined)?.[0]?.Next;
    }
    expect(path).toEqual([
      "ListSourcePage",
      "LookUpDestinationPage",
      "FromIndexes",
      "ChallengePage",
      "AnyChallenged",
      "AnswerPage",
      "ComparePage",
      "NewObjects",
      "PrepareCopies",
      "AnyPrepared",
      "CopyPage",
      "RecordCopies",
      "SyncObjects",
      "IndexSourcePage",
      "AskSource",
      "ConfirmDestinationOnly",
      "FindDestinationOnly",
      "MorePages",
      "CommitSourceIndex",
      "CommitDestinationIndex",
      "WriteReport",
    ]);
    // Only a page whose lookup found keys to delete asks the source for them.
    expect(states.get("AskSource")).toMatchObject({
      Choices: [{ Variable: "$.lookup.candidates", NumericGreaterThan: 0 }],
      Default: "FindDestinationOnly",
    });
    expect(states.get("LookUpDestinationPage")).toMatchObject({ ResultPath: "$.lookup" });
    // A page's pairs both indexes answer for are decided before its Map, which runs the items left;
    // a page with none goes straight to the Map.
    expect(states.get("FromIndexes")).toMatchObject({
      Choices: [{ Variable: "$.lookup.answerable", NumericGreaterThan: 0 }],
      Default: "NewObjects",
    });
    expect(states.get("AnyChallenged")).toMatchObject({ Default: "NewObjects" });
    expect(states.get("ComparePage")).toMatchObject({ ResultPath: "$.list.items" });
    // So are its new small objects copied, where its lookup found keys the destination lacks, and
    // the small pairs its decision found changed rewritten.
    expect(states.get("NewObjects")).toMatchObject({
      Choices: [
        {
          Or: [
            { Variable: "$.lookup.absent", NumericGreaterThan: 0 },
            { Variable: "$.lookup.answerable", NumericGreaterThan: 0 },
          ],
          Next: "PrepareCopies",
        },
      ],
      Default: "SyncObjects",
    });
    expect(states.get("AnyPrepared")).toMatchObject({
      Choices: [{ Variable: "$.prepared.count", NumericGreaterThan: 0 }],
      Default: "SyncObjects",
    });
    expect(states.get("RecordCopies")).toMatchObject({ ResultPath: "$.list.items" });
    expect(states.get("SyncObjects")).toMatchObject({ ItemsPath: "$.list.items" });
    expect(states.get("MorePages")).toMatchObject({ Default: "NextPage" });
    expect(states.get("NextPage")).toMatchObject({ Next: "ListSourcePage" });
    // Each side's index steps run with that side's functions only.
    expect(TASK_STATES).toMatchObject({
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
    });
    expect(states.get("LookUpDestinationPage")).toMatchObject({ Resource: functions.relay });
    expect(states.get("AnswerPage")).toMatchObject({ Resource: functions.relay });
    expect(states.get("CopyPage")).toMatchObject({ Resource: functions.relay });
    expect(states.get("CommitSourceIndex")).toMatchObject({ Resource: functions.sourceIndexCommit });
  });

  it("maps objects with a Distributed Map of Standard child workflows over the paged listing", () => {
    const map = states.get("SyncObjects")!;
    expect(map).toMatchObject({
      Type: "Map",
      ItemsPath: "$.list.items",
      MaxConcurrency: 40,
      ToleratedFailurePercentage: 5,
      ItemProcessor: { ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" } },
      ResultPath: null,
    });
    expect(states.get("Inspect")?.Type).toBe("Parallel");
    expect(states.get("NeedsWrite")?.Type).toBe("Choice");
  });

  it("retries every Task with full jitter on Lambda's transient errors and the steps' throttling errors", () => {
    const tasks = [...states].filter(([, s]) => s.Type === "Task");
    expect(tasks.map(([n]) => n).sort()).toEqual(Object.keys(TASK_STATES).sort());
    for (const [name, task] of tasks) {
      const retry = task.Retry as { ErrorEquals: string[]; JitterStrategy: string }[];
      const retried = retry.flatMap((r) => r.ErrorEquals);
      for (const e of [...RETRYABLE_LAMBDA_ERRORS, ...RETRYABLE_STEP_ERRORS])
        expect(retried, name).toContain(e);
      expect(retried).toContain("ThrottledError");
      // What Step Functions' "Handle Lambda service exceptions" says to retry, directly and through the relay.
      for (const e of ["ClientExecutionTimeoutException", "ServiceException", "AWSLambdaException"])
        expect(retried, name).toContain(`Lambda.${e}`);
      expect(retried, name).toEqual(expect.arrayContaining(["TooManyRequestsException", "ServiceException"]));
      expect(retry.every((r) => r.JitterStrategy === "FULL")).toBe(true);
    }
  });

  it("lets every Task run as long as a Lambda may (15 minutes), in-process too, where the interpreter's own default is the States Language's 60 s", () => {
    const tasks = [...states].filter(([, s]) => s.Type === "Task");
    expect(tasks.length).toBeGreaterThan(20);
    for (const [name, task] of tasks) {
      expect(task.TimeoutSeconds, name).toBeGreaterThanOrEqual(15 * 60);
      // What a timer of Node's holds: a longer one fires at once.
      expect((task.TimeoutSeconds as number) * 1000, name).toBeLessThan(2 ** 31);
    }
  });

  it("catches any failure of an object's flow, restarts it after a source change and records the rest", () => {
    for (const name of ["Inspect", "ChallengeBatches", "Decide", "VerifyBatches"]) {
      const c = (states.get(name)!.Catch as { ErrorEquals: string[]; Next: string }[])[0];
      expect(c, name).toMatchObject({ ErrorEquals: ["States.ALL"], Next: "MayRestart" });
    }
    expect(states.get("AbortWrite")).toMatchObject({ Next: "MayRestart" });
    expect((states.get("AbortWrite")!.Catch as { Next: string }[])[0]?.Next).toBe("RecordFailure");
    const restart = states.get("MayRestart") as unknown as { Choices: { Next: string }[]; Default: string };
    expect(JSON.stringify(restart.Choices)).toContain('"StringEquals":"SourceChangedError"');
    expect(restart.Choices[0]?.Next).toBe("NextAttempt");
    expect(restart.Default).toBe("RecordFailure");
    for (const name of ["BeginWrite", "WriteParts", "CompleteWrite"]) {
      const c = (states.get(name)!.Catch as { Next: string }[])[0];
      expect(c?.Next, name).toBe("AbortWrite");
    }
  });

  it("invokes destination-side steps only through the relay, source-side steps directly", () => {
    for (const [name, fn] of Object.entries(TASK_STATES)) {
      const task = states.get(name)!;
      if (fn.startsWith("destination")) {
        expect(task.Resource, name).toBe(functions.relay);
        expect((task.Parameters as { target: string }).target).toBe(fn);
      } else {
        expect(task.Resource, name).toBe(functions[fn as StateMachineFunction]);
      }
    }
  });

  it("keeps payloads small: the definition carries no list of requests, parts or digests", () => {
    // Every Map's output goes to a path or is dropped; the object flow returns one field.
    expect(states.get("Record")?.ResultSelector).toEqual({ "state.$": "$.state" });
    // A batch contributes only its byte counts to the object's state, not its key or event.
    for (const keep of ["KeepChallengeBytes", "KeepVerifyBytes", "KeepWriteBytes"]) {
      expect(states.get(keep)).toMatchObject({ Type: "Pass", End: true });
    }
    expect(states.get("KeepWriteBytes")?.Parameters).toEqual({
      "signed.$": "$.signed",
      "composed.$": "$.composed",
    });
    expect(JSON.stringify(definition).length).toBeLessThan(32 * 1024);
  });

  it("times the run's report from the execution's start, not from its last step", async () => {
    expect(states.get("WriteReport")?.Parameters).toEqual({
      "runId.$": "$.runId",
      "startedAt.$": "$$.Execution.StartTime",
    });
    const work = new MemoryWorkArea();
    const startedAt = "2026-01-02T03:04:05.678Z";
    await writeReport(work, { runId: "r", startedAt });
    const lines: { type: string; startedAt?: string; durationMs?: number }[] = [];
    for await (const line of work.getLines<(typeof lines)[number]>(workKeys.report("r"))) lines.push(line);
    const summary = lines.find((l) => l.type === "summary");
    expect(summary?.startedAt).toBe(startedAt);
    // Timed from that start: months, where the step itself took milliseconds.
    expect(summary?.durationMs).toBeGreaterThan(24 * 3600 * 1000);
  });
});
