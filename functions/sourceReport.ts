import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourceReport` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourceReport");
