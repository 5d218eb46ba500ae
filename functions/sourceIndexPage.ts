import { sourceHandler } from "./lib/handlers.js";

/** Source region, source side: the `sourceIndexPage` step (see @chunksync/workflow). */
export const handler = sourceHandler("sourceIndexPage");
