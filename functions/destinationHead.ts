import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the `destinationHead` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationHead");
