import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourceCompare` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourceCompare");
