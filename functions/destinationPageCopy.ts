import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the `destinationPageCopy` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationPageCopy");
