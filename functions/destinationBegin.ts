import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the `destinationBegin` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationBegin");
