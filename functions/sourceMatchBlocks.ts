import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourceMatchBlocks` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourceMatchBlocks");
