import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `listSource` step (see @chunksync/workflow). */
export const handler = sourceHandler("listSource");
