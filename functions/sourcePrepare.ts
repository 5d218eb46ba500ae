import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourcePrepare` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourcePrepare");
