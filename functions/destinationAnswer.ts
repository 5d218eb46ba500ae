import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the `destinationAnswer` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationAnswer");
