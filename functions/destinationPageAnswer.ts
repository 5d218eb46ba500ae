import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the `destinationPageAnswer` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationPageAnswer");
