import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the `destinationAbort` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationAbort");
