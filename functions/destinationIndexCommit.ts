import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the `destinationIndexCommit` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationIndexCommit");
