import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the `destinationIndexLookup` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationIndexLookup");
