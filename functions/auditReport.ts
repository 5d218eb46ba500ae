import { auditSourceHandler } from "./lib/handlers.js";

/** Source region, source side: the audit's `auditReport` step (see @chunksync/workflow). */
export const handler = auditSourceHandler("auditReport");
