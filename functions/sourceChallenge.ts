import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourceChallenge` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourceChallenge");
