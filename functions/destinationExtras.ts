import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the `destinationExtras` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationExtras");
