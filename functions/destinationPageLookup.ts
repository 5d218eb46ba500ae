import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the `destinationPageLookup` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationPageLookup");
