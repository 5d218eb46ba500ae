import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the audit's `destinationAudit` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationAudit");
