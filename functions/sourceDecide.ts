import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourceDecide` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourceDecide");
