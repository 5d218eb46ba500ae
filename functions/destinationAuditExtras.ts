import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the audit's `destinationAuditExtras` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationAuditExtras");
