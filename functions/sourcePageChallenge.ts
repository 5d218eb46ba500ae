import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourcePageChallenge` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourcePageChallenge");
