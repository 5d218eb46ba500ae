/**
 * `@chunksync/workflow`: the Step Functions definition as code (JSONPath ASL), the
 * steps it runs on each side, the work area that carries big lists by reference,
 * the in-process runner, and the deployment's config and IAM policies as data.
 *
 * @packageDocumentation
 */

export {
  AUDIT_SOURCE_FUNCTIONS,
  AUDIT_TASK_STATES,
  type AuditDefinitionOptions,
  type AuditSourceFunction,
  buildAuditDefinition,
} from "./audit/auditDefinition.js";
export {
  AUDIT_DESTINATION_STEPS,
  AUDIT_SOURCE_STEPS,
  type AuditDestinationContext,
  type AuditDestinationTarget,
  type AuditSourceContext,
  auditKeys,
} from "./audit/auditSteps.js";
export { auditWithWorkflow, type LocalAuditOptions, runAuditLocally } from "./audit/auditWithWorkflow.js";
export {
  type ChunksyncConfig,
  CONFIG_ALGORITHMS,
  CONFIG_VARIANTS,
  ConfigSchema,
  chunkSizeOf,
  executionNameForWindow,
  indexLocationOf,
  parseConfig,
  validateScheduleExpression,
} from "./config.js";
export {
  type ChunkLinkSigner,
  chunksPerBatch,
  type DestinationContext,
  type LinkReader,
  type RunSettings,
  type SourceContext,
  type StepBytes,
} from "./context.js";
export {
  buildDefinition,
  type DefinitionOptions,
  RETRYABLE_LAMBDA_ERRORS,
  RETRYABLE_STEP_ERRORS,
  TASK_STATES,
} from "./definition.js";
export { RemoteFunctionError, StateDataLimitError, WorkItemMissingError } from "./errors.js";
export * from "./events.js";
export {
  destinationPolicy,
  type PolicyDocument,
  type PolicyStatement,
  relayPolicy,
  type SidePolicyInput,
  schedulerPolicy,
  sourcePolicy,
  startRunPolicy,
  stateMachinePolicy,
} from "./iam.js";
export { InProcessLinks } from "./inProcessLinks.js";
export { compareKeys, objectId, workKeys } from "./layout.js";
export { fetchLinkRange, S3LinkSigner } from "./links.js";
export { cachedPairingSecret, secretRegion, secretsManagerText } from "./pairingSecretLoader.js";
export { type DestinationInvoker, LambdaInvoker, relay } from "./relay.js";
export { type LocalRunOptions, runWorkflowLocally } from "./runLocally.js";
export { type ExecutionStarter, SfnExecutionStarter, startScheduledRun } from "./startRun.js";
export {
  DESTINATION_STEPS,
  SOURCE_STEPS,
  type SourceFunction,
  type StateMachineFunction,
  type Step,
} from "./steps.js";
export { syncWithWorkflow, type WorkflowSyncOptions } from "./syncWithWorkflow.js";
export { MemoryWorkArea, S3WorkArea, type WorkArea } from "./WorkArea.js";
export { installPromiseWithResolvers } from "./withResolvers.js";
