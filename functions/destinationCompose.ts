import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the `destinationCompose` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationCompose");
