/**
 * What sst.config.ts needs at deploy time, and nothing that pulls in an SDK client:
 * the config schema, the definition, the IAM documents and the function lists.
 */

export { directoryPrefix } from "@chunksync/core/overlap";
export { AUDIT_SOURCE_FUNCTIONS, buildAuditDefinition } from "./audit/auditDefinition.js";
export { indexLocationOf, parseConfig } from "./config.js";
export { buildDefinition, SOURCE_FUNCTIONS } from "./definition.js";
export { DESTINATION_TARGETS } from "./events.js";
export {
  destinationPolicy,
  relayPolicy,
  schedulerPolicy,
  sourcePolicy,
  startRunPolicy,
  stateMachinePolicy,
} from "./iam.js";

/**
 * The Lambda runtime of every function: Node.js 20 reached end of life in April 2026 and
 * Lambda deprecated nodejs20.x. The one place the runtime is named.
 */
export const LAMBDA_RUNTIME = "nodejs22.x";
