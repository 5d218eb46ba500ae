import {
  AUDIT_SOURCE_STEPS,
  type AuditSourceFunction,
  DESTINATION_STEPS,
  type DestinationTarget,
  parseEvent,
  SOURCE_STEPS,
  type SourceFunction,
} from "@chunksync/workflow";
import type { Handler } from "aws-lambda";
import { auditSourceContext, destinationContext, sourceContext } from "./sides.js";

/**
 * A source-side Lambda handler for `name`: the event is validated before anything else
 * (a malformed one fails with ValidationError naming the field), then the step runs.
 */
export function sourceHandler(name: SourceFunction): Handler<unknown, unknown> {
  const step = SOURCE_STEPS[name];
  return async (event) => {
    parseEvent(step.schema, event);
    return step.run(await sourceContext(), event);
  };
}

/** A destination-side Lambda handler for `name` (invoked by the relay in the source region). */
export function destinationHandler(name: DestinationTarget): Handler<unknown, unknown> {
  const step = DESTINATION_STEPS[name];
  return async (event) => {
    parseEvent(step.schema, event);
    return step.run(await destinationContext(), event);
  };
}

/** A source-side Lambda handler for the audit's step `name`. */
export function auditSourceHandler(name: AuditSourceFunction): Handler<unknown, unknown> {
  const step = AUDIT_SOURCE_STEPS[name];
  return async (event) => {
    parseEvent(step.schema, event);
    return step.run(await auditSourceContext(), event);
  };
}
