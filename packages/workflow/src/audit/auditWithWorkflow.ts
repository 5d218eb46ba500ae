import { randomBytes } from "node:crypto";
import { directoryPrefix } from "@chunksync/core";
import { type AuditOptions, type AuditReport, RunAbortedError } from "@chunksync/sync";
import { executeLocally, localArns } from "../runLocally.js";
import { MemoryWorkArea, type WorkArea } from "../WorkArea.js";
import { AUDIT_TASK_STATES, type AuditSourceFunction, buildAuditDefinition } from "./auditDefinition.js";
import {
  AUDIT_DESTINATION_STEPS,
  AUDIT_SOURCE_STEPS,
  type AuditDestinationContext,
  type AuditDestinationTarget,
  type AuditSourceContext,
  auditKeys,
} from "./auditSteps.js";

/** Options of an in-process run of the audit definition. */
export interface LocalAuditOptions {
  source: AuditSourceContext;
  destination: AuditDestinationContext;
  runId?: string;
  maxConcurrency?: number;
  signal?: AbortSignal;
}

/**
 * Runs the audit definition in this process with aws-local-stepfunctions: source Tasks call the
 * audit's source steps, relay Tasks its destination steps. Returns the report the run left in
 * the work area.
 */
export async function runAuditLocally(options: LocalAuditOptions): Promise<AuditReport> {
  const runId = options.runId ?? `audit-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
  const functions = localArns([...Object.keys(AUDIT_SOURCE_STEPS), "relay"] as (
    | AuditSourceFunction
    | "relay"
  )[]);
  const definition = buildAuditDefinition({ functions, maxConcurrency: options.maxConcurrency ?? 4 });
  const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const [state, fn] of Object.entries(AUDIT_TASK_STATES)) {
    handlers[state] = async (input: unknown) => {
      if (options.signal?.aborted) throw new RunAbortedError(options.signal.reason);
      if (fn in AUDIT_SOURCE_STEPS)
        return AUDIT_SOURCE_STEPS[fn as AuditSourceFunction].run(options.source, input);
      const { payload } = input as { payload: unknown };
      return AUDIT_DESTINATION_STEPS[fn as AuditDestinationTarget].run(options.destination, payload);
    };
  }
  const retryIntervals = Object.fromEntries(Object.keys(AUDIT_TASK_STATES).map((s) => [s, 20]));
  try {
    await executeLocally(definition, { runId }, handlers, retryIntervals, options.signal);
  } catch (error) {
    if (!options.signal?.aborted) throw error;
  }
  const stopped = options.signal?.aborted === true;
  // A stop reports what was judged until then: the report step over the results recorded, run
  // without the run's signal, which would stop it at once.
  if (stopped)
    await AUDIT_SOURCE_STEPS.auditReport.run(
      { ...options.source, signal: undefined },
      { runId, settled: true },
    );
  const report = await options.source.work.get<AuditReport>(auditKeys.report(runId));
  if (report === undefined) {
    if (stopped) throw new RunAbortedError();
    throw new Error(`audit run ${runId} ended without a report`);
  }
  return report;
}

/** `chunksync audit --engine workflow`: the audit definition run in-process, both sides local. */
export function auditWithWorkflow(options: AuditOptions & { work?: WorkArea }): Promise<AuditReport> {
  const work = options.work ?? new MemoryWorkArea();
  const signal = options.signal ? { signal: options.signal } : {};
  return runAuditLocally({
    maxConcurrency: options.concurrency,
    ...signal,
    source: {
      store: options.source,
      prefix: directoryPrefix(options.sourcePrefix),
      work,
      secret: options.secret,
      concurrency: options.concurrency,
      filters: options.filters,
      pageSize: 500,
      sample: options.sample,
      rangeSize: options.rangeSize,
      ...signal,
    },
    destination: {
      store: options.destination,
      prefix: directoryPrefix(options.destinationPrefix),
      work,
      secret: options.secret,
      concurrency: options.concurrency,
      filters: options.filters,
      ...signal,
    },
  });
}
