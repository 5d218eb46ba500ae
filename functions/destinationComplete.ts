import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the `destinationComplete` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationComplete");
