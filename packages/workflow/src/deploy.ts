/**
 * What sst.config.ts needs at deploy time, and nothing that pulls in an SDK client:
 * the config schema, the definition, the IAM documents and the function lists.
 */

export { directoryPrefix } from "@chunksync/core/overlap";
export { parseConfig } from "./config.js";
export { buildDefinition } from "./definition.js";
export { DESTINATION_TARGETS } from "./events.js";
export {
  destinationPolicy,
  relayPolicy,
  schedulerPolicy,
  sourcePolicy,
  startRunPolicy,
  stateMachinePolicy,
} from "./iam.js";

/** Source-side functions, one Lambda each (the state machine invokes them directly). */
export const SOURCE_FUNCTIONS = [
  "listSource",
  "sourcePrepare",
  "sourceChallenge",
  "sourceCompare",
  "sourceDecide",
  "sourcePresign",
  "sourceRecord",
  "sourceReport",
] as const;
