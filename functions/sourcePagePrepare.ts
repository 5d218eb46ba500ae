import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourcePagePrepare` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourcePagePrepare");
