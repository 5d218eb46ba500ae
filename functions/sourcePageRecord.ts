import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourcePageRecord` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourcePageRecord");
