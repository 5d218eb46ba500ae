import { destinationHandler } from "./lib/handlers.js";

/** Destination region, destination side: the `destinationAnswerBlocks` step (see @chunksync/workflow). */
export const handler = destinationHandler("destinationAnswerBlocks");
