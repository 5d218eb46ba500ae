import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourceRecord` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourceRecord");
