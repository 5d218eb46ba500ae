// No step is imported here: sst.config.ts bundles the definition, and the steps pull in the
// native digest addon through the core's index.
import { taskState } from "../definition.js";
import type { DestinationTarget } from "../events.js";

/** The audit's source-side functions (its state machine invokes them directly). */
export const AUDIT_SOURCE_FUNCTIONS = [
  "auditList",
  "auditSource",
  "auditCompare",
  "auditRecord",
  "auditReport",
] as const;
export type AuditSourceFunction = (typeof AUDIT_SOURCE_FUNCTIONS)[number];

type Json = Record<string, unknown>;

/** What the audit definition needs from a deployment (or from the local runner). */
export interface AuditDefinitionOptions {
  /** ARN of every function it invokes: the audit's source steps and the relay. */
  functions: Readonly<Record<AuditSourceFunction | "relay", string>>;
  /** Objects audited at once (child workflows of the Distributed Map). */
  maxConcurrency: number;
}

/** Which function each Task state of the audit runs; the local runner resolves Tasks by these names. */
export const AUDIT_TASK_STATES: Readonly<Record<string, AuditSourceFunction | DestinationTarget>> = {
  AuditListPage: "auditList",
  AuditHead: "destinationAuditHead",
  AuditSource: "auditSource",
  AuditAnswer: "destinationAudit",
  AuditCompare: "auditCompare",
  AuditRecord: "auditRecord",
  AuditRecordFailure: "auditRecord",
  AuditRecordHeldFailure: "auditRecord",
  AuditDestinationOnly: "destinationAuditExtras",
  AuditReport: "auditReport",
};

/**
 * The audit as a state machine (JSONPath ASL), deployed next to the sync's on its own schedule
 * and run in-process by `chunksync audit --engine workflow`: pages of the source are listed
 * and sampled; per object the destination states its version, the source builds the request
 * and keeps its own values, the destination answers from its bytes (through the relay), the
 * source compares; per page the destination counts its objects the source lacks; the report
 * lands in the work area (`shared/audits/<run>/report.json`).
 */
export function buildAuditDefinition(options: AuditDefinitionOptions): Json {
  const { functions } = options;
  const task = (state: string, payload: Json, rest: Json): Json => {
    const fn = AUDIT_TASK_STATES[state];
    if (fn === undefined) throw new Error(`no function for state ${state}`);
    return (AUDIT_SOURCE_FUNCTIONS as readonly string[]).includes(fn)
      ? taskState(functions[fn as AuditSourceFunction], undefined, payload, rest)
      : taskState(functions.relay, fn, payload, rest);
  };
  const keyRef = { "runId.$": "$.runId", "key.$": "$.item.key" };
  const itemRef = { "runId.$": "$.runId", "item.$": "$.item" };
  const fail = [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "AuditRecordFailure" }];
  // Once the destination stated its version, a failure records its size too: the listings'
  // sizes differ whatever became of the ranges, as the direct engine counts them.
  const failHeld = [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "AuditRecordHeldFailure" }];
  const objectFlow: Json = {
    StartAt: "AuditHead",
    States: {
      AuditHead: task("AuditHead", keyRef, { ResultPath: "$.head", Next: "NeedsAudit", Catch: fail }),
      NeedsAudit: {
        Type: "Choice",
        Choices: [
          { Variable: "$.head.exists", BooleanEquals: false, Next: "AuditRecord" },
          { Variable: "$.item.sampled", BooleanEquals: false, Next: "AuditRecord" },
        ],
        Default: "AuditSource",
      },
      AuditSource: task(
        "AuditSource",
        { ...itemRef, "head.$": "$.head" },
        { ResultPath: null, Next: "AuditAnswer", Catch: failHeld },
      ),
      AuditAnswer: task("AuditAnswer", keyRef, { ResultPath: null, Next: "AuditCompare", Catch: failHeld }),
      AuditCompare: task("AuditCompare", itemRef, { ResultPath: null, End: true, Catch: failHeld }),
      AuditRecord: task("AuditRecord", { ...itemRef, "head.$": "$.head" }, { ResultPath: null, End: true }),
      AuditRecordFailure: task(
        "AuditRecordFailure",
        { ...itemRef, "error.$": "$.error" },
        { ResultPath: null, End: true },
      ),
      AuditRecordHeldFailure: task(
        "AuditRecordHeldFailure",
        { ...itemRef, "head.$": "$.head", "error.$": "$.error" },
        { ResultPath: null, End: true },
      ),
    },
  };
  return {
    Comment: "chunksync audit: each side keys a fresh sample of its own bytes; the source compares",
    StartAt: "StartAudit",
    States: {
      StartAudit: {
        Type: "Pass",
        Result: { page: 0, after: null },
        ResultPath: "$.cursor",
        Next: "AuditListPage",
      },
      AuditListPage: task(
        "AuditListPage",
        { "runId.$": "$.runId", "page.$": "$.cursor.page", "after.$": "$.cursor.after" },
        { ResultPath: "$.list", Next: "AuditObjects" },
      ),
      AuditObjects: {
        Type: "Map",
        ItemsPath: "$.list.items",
        ItemSelector: { "runId.$": "$.runId", "item.$": "$$.Map.Item.Value" },
        MaxConcurrency: options.maxConcurrency,
        ItemProcessor: { ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" }, ...objectFlow },
        ResultPath: null,
        Next: "AuditDestinationOnly",
      },
      // The destination's objects in the page's key range that the source lacks: counted, not audited.
      AuditDestinationOnly: task(
        "AuditDestinationOnly",
        { "runId.$": "$.runId", "page.$": "$.cursor.page" },
        { ResultPath: null, Next: "MoreAuditPages" },
      ),
      MoreAuditPages: {
        Type: "Choice",
        Choices: [{ Variable: "$.list.next", IsNull: true, Next: "AuditReport" }],
        Default: "AuditNextPage",
      },
      AuditNextPage: {
        Type: "Pass",
        InputPath: "$.list.next",
        ResultPath: "$.cursor",
        Next: "AuditListPage",
      },
      AuditReport: task(
        "AuditReport",
        // The report's start and duration are the run's, not this last step's.
        { "runId.$": "$.runId", "startedAt.$": "$$.Execution.StartTime" },
        { End: true },
      ),
    },
  };
}
