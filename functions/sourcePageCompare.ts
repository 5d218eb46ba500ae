import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourcePageCompare` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourcePageCompare");
